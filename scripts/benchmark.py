#!/usr/bin/env python
"""Benchmarks: ``python scripts/benchmark.py rocket [--series 2000] [--device cpu|cuda] [--aeon-python PY] [--json out.json]``.

Each subcommand lives in :mod:`facedep.benchmarks`; ``--help`` lists them.
"""

import sys

from facedep.benchmarks import main

if __name__ == "__main__":
    sys.exit(main())
