#!/usr/bin/env python
"""Table V for any manifest: ROCKET+LR, ROCKET+Ridge, InceptionTime, LSTM, boosting under one protocol.

``python scripts/compare_models.py --config configs/demo.yaml --folds 5 [--models ...] [overrides]``
"""

import sys

from facedep.experiment.compare import main

if __name__ == "__main__":
    sys.exit(main())
