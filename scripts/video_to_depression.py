#!/usr/bin/env python
"""Videos -> AUs -> depression in one command.

    python scripts/video_to_depression.py --au-detector det.ckpt --classifier seq.ckpt clip.mp4 [...] --out out/ [--faces whole]

Writes ``out/<stem>.aus.csv`` per video and ``out/predictions.csv`` (one row per video); ``--help`` lists the options.
"""

import sys

from facedep.inference.video_pipeline import main

if __name__ == "__main__":
    sys.exit(main())
