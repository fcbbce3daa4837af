#!/usr/bin/env python
"""AU group statistics, time curves, PCA and clustering: ``python scripts/analyze_aus.py --manifest M --out DIR``.

See ``--help``; writes ``DIR/report.md``, ``DIR/results.json`` and PNG figures.
"""

import sys

from facedep.analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
