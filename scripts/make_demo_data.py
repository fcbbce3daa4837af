"""Write synthetic OpenFace 2.x demo data (one CSV per subject/session, manifest.csv, labels.csv).

Example:
    python scripts/make_demo_data.py --out demo_data --subjects 60 --seed 0 --effect-size 1.0
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.synthetic.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
