#!/usr/bin/env python
"""Train and test one model from a YAML config: ``python scripts/train.py --config configs/demo.yaml``.

Overrides use dotted keys (``--trainer.max_epochs 5``); ``--help`` lists them, ``--print_config``
prints the fully resolved config.
"""

import sys

from facedep.experiment.train import main

if __name__ == "__main__":
    sys.exit(main())
