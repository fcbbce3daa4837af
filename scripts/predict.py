#!/usr/bin/env python
"""Scores from a trained checkpoint: ``python scripts/predict.py --ckpt CKPT SOURCE [--out DIR]``.

SOURCE is an image, a folder of images, a video file or a webcam index (``0``) for image checkpoints; a
video, an ``.npz`` landmark file or an OpenFace landmark CSV for landmark checkpoints; an AU file for AU-sequence
checkpoints; for multimodal (fusion) checkpoints a manifest CSV (``au_path``/``path``, ``landmarks_path``,
``faces_path``; one row per video) or ``-`` with ``--au FILE --landmarks FILE --faces DIR_OR_VIDEO``.
``--help`` lists the options.
"""

import sys

from facedep.inference.predict import main

if __name__ == "__main__":
    sys.exit(main())
