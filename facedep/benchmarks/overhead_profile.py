"""Where one training epoch's time goes: cProfile self time grouped by origin (our module, our data, Lightning, torch).

Used by ``benchmark.py overhead --profile``: one epoch of each loop (plain, minimal LightningModule, ours)
runs under :mod:`cProfile` after the timed epochs; each function's self time is attributed to the package
its file lies in, and reported per training step. cProfile slows Python code more than compiled kernels,
so the shares of Python-heavy layers (Lightning's hooks) are upper bounds; the differences between the
loops on the same data are what locate an overhead.

Example:
    >>> origin_of("/x/site-packages/pytorch_lightning/loops/fit_loop.py", "advance")
    'lightning'
    >>> origin_of("~", "<method 'run_backward' of 'torch._C._EngineBase' objects>")
    'torch'
"""

from __future__ import annotations

import cProfile
import pstats
from collections import defaultdict
from collections.abc import Callable

ORIGINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("benchmark loop", ("/facedep/benchmarks/",)),
    ("ours: module", ("/lightning_modules/",)),
    ("ours: data", ("/datamodules/",)),
    ("ours: other", ("/facedep/",)),
    ("lightning", ("/pytorch_lightning/", "/lightning_fabric/", "/lightning_utilities/", "/lightning/")),
    ("torchmetrics", ("/torchmetrics/",)),
    ("torch", ("/torch/",)),
)
"""Origin name and the path fragments that mark it, first match wins (our benchmark code before our package)."""


def origin_of(filename: str, function: str) -> str:
    """The origin of a profiled function: one of :data:`ORIGINS`' names, ``"torch"`` for torch's C
    functions, else ``"python/other"`` (stdlib, numpy, builtins)."""
    path = filename.replace("\\", "/")
    for name, fragments in ORIGINS:
        if any(fragment in path for fragment in fragments):
            return name
    if filename == "~" and ("torch" in function or "_C." in function):
        return "torch"
    return "python/other"


def profile_call(fn: Callable[[], object]) -> pstats.Stats:
    """Run ``fn()`` under cProfile and return its statistics."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    return pstats.Stats(profiler)


def self_time_by_origin(stats: pstats.Stats) -> dict[str, float]:
    """Seconds of self time per origin (they add up to the profiled wall time, minus cProfile's own)."""
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, function), (_cc, _nc, self_time, _cum, _callers) in stats.stats.items():
        totals[origin_of(filename, function)] += self_time
    return dict(totals)


def top_functions(stats: pstats.Stats, origins: set[str], count: int = 8) -> list[dict]:
    """The ``count`` functions of ``origins`` with the most self time: where, calls, self seconds."""
    rows = []
    for (filename, line, function), (_cc, calls, self_time, cumulative, _callers) in stats.stats.items():
        origin = origin_of(filename, function)
        if origin in origins:
            where = f"{filename.rsplit('site-packages/', 1)[-1]}:{line}({function})"
            rows.append({"origin": origin, "function": where, "calls": calls, "self_s": self_time,
                         "cumulative_s": cumulative})
    return sorted(rows, key=lambda r: -r["self_s"])[:count]


def format_breakdown(per_step_ms: dict[str, dict[str, float]]) -> str:
    """Table of milliseconds per step by origin (rows) for each loop (columns).

    Example:
        >>> print(format_breakdown({"plain": {"torch": 1.0}, "ours": {"torch": 1.0, "lightning": 0.5}}))
        origin                   plain      ours
        ----------------------------------------
        lightning                 0.00      0.50
        torch                     1.00      1.00
        total                     1.00      1.50
    """
    loops = list(per_step_ms)
    origins = sorted({origin for row in per_step_ms.values() for origin in row})
    lines = [f"{'origin':<20}" + "".join(f"{loop:>10}" for loop in loops), "-" * (20 + 10 * len(loops))]
    for origin in origins:
        lines.append(f"{origin:<20}" + "".join(f"{per_step_ms[loop].get(origin, 0.0):10.2f}" for loop in loops))
    lines.append(f"{'total':<20}" + "".join(f"{sum(per_step_ms[loop].values()):10.2f}" for loop in loops))
    return "\n".join(lines)
