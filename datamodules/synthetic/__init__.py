"""Demo data in the real formats (OpenFace CSVs, landmark files, AffectNet and HRM layouts, AU videos),
with planted effects; ``python scripts/make_demo_data.py`` writes them."""
