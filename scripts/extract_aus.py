#!/usr/bin/env python
"""OpenFace 2.x AU CSVs from videos (mesh geometry, an AU detector, or your OpenFace). See ``--help``.

Example:
    python scripts/extract_aus.py /data/videos --out /data/aus --backend mesh --shard 1/4
"""

import sys

from facedep.inference.extract_aus import main

if __name__ == "__main__":
    sys.exit(main())
