#!/usr/bin/env python
"""Hyper-parameter search that never sees the outer test subjects (Optuna): ``python scripts/tune.py --config C
--space configs/search/S.yaml --trials N [--storage URL] [--study NAME] [--fold F]``.

Any further argument is a training override (``--trainer.max_epochs 10``). See docs/tuning.md.
"""

import sys

from facedep.tuning.cli import main

if __name__ == "__main__":
    sys.exit(main())
