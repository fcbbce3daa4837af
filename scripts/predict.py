#!/usr/bin/env python
"""Per-frame scores from an image or landmark checkpoint: ``python scripts/predict.py --ckpt CKPT SOURCE [--out DIR]``.

SOURCE is an image, a folder of images, a video file or a webcam index (``0``) for image checkpoints; a
video, an ``.npz`` landmark file or an OpenFace landmark CSV for landmark checkpoints. ``--help`` lists the options.
"""

import sys

from facedep.inference.predict import main

if __name__ == "__main__":
    sys.exit(main())
