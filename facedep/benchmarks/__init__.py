"""Benchmarks behind ``scripts/benchmark.py``: one module per subcommand, each with ``add_arguments`` and ``run``.

Example:
    >>> sorted(SUBCOMMANDS)
    ['data', 'extraction', 'images', 'models', 'overhead', 'rocket', 'tuning']
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

SUBCOMMANDS: dict[str, str] = {
    "rocket": "facedep.benchmarks.rocket",
    "overhead": "facedep.benchmarks.overhead",
    "data": "facedep.benchmarks.data",
    "models": "facedep.benchmarks.models",
    "images": "facedep.benchmarks.images",
    "tuning": "facedep.benchmarks.tuning",
    "extraction": "facedep.benchmarks.extraction",
}
"""Subcommand -> module providing ``HELP``, ``add_arguments(parser)`` and ``run(args) -> dict``."""


def build_parser() -> argparse.ArgumentParser:
    """``benchmark.py`` parser with one subparser per entry of :data:`SUBCOMMANDS`.

    Example:
        >>> build_parser().parse_args(["rocket", "--series", "10"]).series
        10
    """
    parser = argparse.ArgumentParser(prog="benchmark.py", description="facedep benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen benchmark; returns the exit status."""
    args = build_parser().parse_args(argv)
    importlib.import_module(SUBCOMMANDS[args.command]).run(args)
    return 0
