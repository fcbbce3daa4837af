"""Build a manifest of face images. See ``python scripts/make_image_manifest.py --help``.

Example:
    python scripts/make_image_manifest.py --format affectnet-folders /data/affectnet \
        --out /data/affectnet/manifest.csv --label-map depression_binary
"""

from __future__ import annotations

import sys

from datamodules.image_manifest import make_image_manifest

if __name__ == "__main__":
    raise SystemExit(make_image_manifest(sys.argv[1:]))
