#!/usr/bin/env python
"""Subject-level k-fold cross-validation with a report: ``python scripts/cross_validate.py --config C --folds 5``.

Any further argument is a training override (``--trainer.max_epochs 10``).
"""

import sys

from facedep.experiment.cross_validate import main

if __name__ == "__main__":
    sys.exit(main())
