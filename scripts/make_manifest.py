"""Build a facedep manifest. See ``python scripts/make_manifest.py --help``.

Example:
    python scripts/make_manifest.py --format daic-woz /data/daic-woz --out /data/daic-woz/manifest.csv
"""

from __future__ import annotations

from datamodules.make_manifest import main

if __name__ == "__main__":
    raise SystemExit(main())
