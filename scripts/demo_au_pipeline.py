#!/usr/bin/env python
"""End-to-end demo: images -> AU detector -> AU CSVs from videos -> depression (a few minutes on 2 cores).

    python scripts/demo_au_pipeline.py [--out runs/au-pipeline-demo] [--video-subjects 32] [--folds 5]

Prints the detector's per-AU F1, the subject-level CV macro-F1 on bridged vs ground-truth AU CSVs and the
one-command prediction on a held-out video; ``--help`` lists the sizes.
"""

import sys

from facedep.experiment.demo_pipeline import main

if __name__ == "__main__":
    sys.exit(main())
