"""Pre-processing of raw videos into per-frame face data (landmarks, crops)."""
