#!/usr/bin/env python
"""Per-AU agreement of our AU CSV with OpenFace's: ``python scripts/agreement.py OURS.csv OPENFACE.csv [--out DIR]``.

Also two folders (paired by file stem). See ``--help`` and docs/au_agreement.md.
"""

import sys

from facedep.evaluation.agreement_cli import main

if __name__ == "__main__":
    sys.exit(main())
