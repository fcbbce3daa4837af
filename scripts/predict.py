#!/usr/bin/env python
"""Per-frame scores from a per-image checkpoint: ``python scripts/predict.py --ckpt CKPT SOURCE [--out DIR]``.

SOURCE is an image, a folder of images, a video file or a webcam index (``0``); ``--help`` lists the options.
"""

import sys

from facedep.predict import main

if __name__ == "__main__":
    sys.exit(main())
