#!/usr/bin/env python
"""OpenFace-like AU CSVs from videos with a trained AU detector (the bridge).

    python scripts/video_to_aus.py --ckpt det.ckpt clip1.mp4 clip2.mp4 --out aus/ [--faces detect|whole] [--stride N]

Writes ``aus/<video stem>.csv`` per video and prints frames, faces found, seconds and fps; ``--help`` lists the options.
"""

import sys

from facedep.inference.au_bridge import main

if __name__ == "__main__":
    sys.exit(main())
