"""Fit a per-AU linear map from mesh features to your own OpenFace outputs. See ``--help``.

Example:
    python scripts/calibrate_aus.py landmarks/ openface/ --out calib.json
"""

from __future__ import annotations

from datamodules.preprocessing.aus.calibrate_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
