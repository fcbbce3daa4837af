"""Build a frame manifest for AU detection. See ``python scripts/make_au_manifest.py --help``.

Example:
    python scripts/make_au_manifest.py --format hrm /data/HRM --aus hrm22 --out /data/HRM/frames.csv
    python scripts/make_au_manifest.py --format openface /data/openface/clip.csv --out frames.csv
"""

from __future__ import annotations

import sys

from datamodules.au_manifest import make_au_manifest

if __name__ == "__main__":
    raise SystemExit(make_au_manifest(sys.argv[1:]))
