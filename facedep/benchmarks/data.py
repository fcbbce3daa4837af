"""``benchmark.py data``: parse and cache-load times (and peak memory) of the frame-level AU severity CSV.

A severity-scale CSV (``--rows`` x 35 AU columns + ``label`` + a ``person`` group column) is generated in a
temporary folder with its frame-level manifest. Each measurement then runs in a fresh interpreter (so its
``ru_maxrss`` is its own high-water mark): (a) ``read_au_severity_csv`` (rows/s); (b) a first
``AUFrameDataModule.setup`` with an empty cache (cold: parse + write cache); (c) ``setup`` of a fresh
DataModule on the filled cache (warm). Peak memory is reported as the child's ``ru_maxrss`` and as the part
above its baseline after imports. When the warm load misses the target (< 3 s, < 1 GB peak), the warm load
is profiled (cProfile, top functions by cumulative time) and the profile is reported.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); add_arguments(parser)
    >>> parser.parse_args(["--rows", "10"]).rows
    10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HELP = "AU severity CSV: parse rows/s, AUFrameDataModule setup cold (parse + cache) vs warm (cache), peak memory"
ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 3.0
TARGET_MB = 1024.0
STEPS = ("parse", "cold", "warm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``data`` subcommand."""
    parser.add_argument("--rows", type=int, default=223_647, help="CSV data rows (the Zenodo file has 223,647)")
    parser.add_argument("--subjects", type=int, default=100, help="distinct values of the group column")
    parser.add_argument("--profile", action="store_true", help="profile the warm load even when it meets the target")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=0)


def make_severity_csv(path: Path, rows: int, subjects: int, seed: int = 0) -> Path:
    """Write a severity-style CSV: OpenFace AU ``_r`` (0-5, 2 decimals) and ``_c`` (0/1) columns, label, person."""
    from datamodules.io.au_table import ALL_AU_COLUMNS

    rng = np.random.default_rng(seed)
    person = np.sort(rng.integers(0, max(1, subjects), size=rows))
    label = person % 4
    table = {}
    for c in ALL_AU_COLUMNS:
        if c.endswith("_c"):
            table[c] = rng.integers(0, 2, size=rows).astype(np.float32)
        else:
            table[c] = np.round(rng.uniform(0, 5, size=rows), 2).astype(np.float32)
    frame = pd.DataFrame(table)
    frame["label"] = label
    frame["person"] = np.char.add("p", person.astype(str))
    frame.to_csv(path, index=False, float_format="%.2f")
    return path


def make_manifest(csv: Path, out: Path) -> Path:
    """The frame-level parquet manifest of ``csv`` (grouped by ``person``) via ``make_manifest``."""
    import contextlib
    import io

    from datamodules.make_manifest import main

    with contextlib.redirect_stdout(io.StringIO()):
        if main(["--format", "au-severity-csv", str(csv), "--out", str(out), "--group-column", "person"]) != 0:
            raise RuntimeError(f"make_manifest failed on {csv}")
    return out


def max_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _load(step: str, csv: str, manifest: str, cache: str) -> dict:
    """Run one step in this process (the child); returns counts for the report."""
    if step == "parse":
        from datamodules.io.au_severity import read_au_severity_csv

        x, _, _ = read_au_severity_csv(csv, group_column="person")
        return {"rows": len(x)}
    from datamodules.au_frames import AUFrameDataModule

    dm = AUFrameDataModule(manifest, classes=[0, 1, 2, 3], cache_dir=cache)
    dm.setup("fit")
    return {"frames": sum(len(d) for d in dm.datasets.values()), "cache_hits": dm.cache.hits, "cache_misses": dm.cache.misses}


def child(step: str, csv: str, manifest: str, cache: str, profile: bool = False) -> None:
    """Entry point of the measuring subprocess: prints one JSON line (seconds, peak and baseline MB)."""
    import warnings

    warnings.simplefilter("ignore")
    import datamodules.au_frames  # noqa: F401  (imports are not part of the measurement)
    import datamodules.io.au_severity  # noqa: F401

    baseline = max_rss_mb()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    counts = _load(step, csv, manifest, cache)
    seconds = time.perf_counter() - start
    result = {"step": step, "seconds": seconds, "peak_mb": max_rss_mb(), "baseline_mb": baseline, **counts}
    if profiler is not None:
        profiler.disable()
        result["profile"] = top_functions(profiler)
    print(json.dumps(result))


def top_functions(profiler, limit: int = 15) -> list[dict]:  # noqa: ANN001
    """The ``limit`` functions with the largest cumulative time: name, calls, tottime, cumtime."""
    import pstats

    stats = pstats.Stats(profiler)
    rows = []
    for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).name}:{line}({name})", "calls": calls,
                     "tottime": round(tottime, 4), "cumtime": round(cumtime, 4)})
    return sorted(rows, key=lambda r: r["cumtime"], reverse=True)[:limit]


def measure(step: str, csv: Path, manifest: Path, cache: Path, profile: bool = False) -> dict:
    """Run :func:`child` for ``step`` in a fresh interpreter and return its JSON result."""
    code = ("import sys; from facedep.benchmarks.data import child; "
            "child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == '1')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-c", code, step, str(csv), str(manifest), str(cache), "1" if profile else "0"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child '{step}' failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def meets_target(warm: dict) -> bool:
    """Whether the warm load is under 3 s with a peak under 1 GB.

    Example:
        >>> meets_target({"seconds": 1.0, "peak_mb": 2000.0})
        False
    """
    return warm["seconds"] < TARGET_SECONDS and warm["peak_mb"] < TARGET_MB


def format_table(results: dict) -> str:
    """Plain-text table: step, seconds, rows/s, peak MB, MB above the post-import baseline.

    Example:
        >>> step = {"seconds": 2.0, "peak_mb": 500.0, "baseline_mb": 400.0}
        >>> print(format_table({"rows": 10, "parse": step, "cold": step, "warm": step}).splitlines()[2])
        parse                      2.00          5      500.0      100.0
    """
    lines = [f"{'step':<22} {'seconds':>8} {'rows/s':>10} {'peak MB':>10} {'+MB':>10}", "-" * 64]
    labels = {"parse": "parse", "cold": "setup cold (+cache)", "warm": "setup warm (cache)"}
    for step in STEPS:
        r = results[step]
        lines.append(f"{labels[step]:<22} {r['seconds']:8.2f} "
                     f"{results['rows'] / r['seconds']:10.0f} {r['peak_mb']:10.1f} {r['peak_mb'] - r['baseline_mb']:10.1f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark, print the table (and write ``--json``); returns the results."""
    from facedep.benchmarks.overhead import cpu_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        csv = make_severity_csv(tmp_path / "AU_features.csv", args.rows, args.subjects, args.seed)
        manifest = make_manifest(csv, tmp_path / "frames.parquet")
        cache = tmp_path / "cache"
        steps = {step: measure(step, csv, manifest, cache) for step in STEPS}
        results = {"rows": args.rows, "csv_mb": csv.stat().st_size / 2**20,
                   "machine": {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "python": sys.version.split()[0]},
                   **steps, "cold_over_warm": steps["cold"]["seconds"] / steps["warm"]["seconds"],
                   "target": {"seconds": TARGET_SECONDS, "peak_mb": TARGET_MB, "met": meets_target(steps["warm"])}}
        if args.profile or not results["target"]["met"]:
            results["warm_profile"] = measure("warm", csv, manifest, cache, profile=True)["profile"]
    print(f"AU severity CSV, {args.rows} rows x 35 AUs ({results['csv_mb']:.1f} MB), "
          f"{results['machine']['cpu']} ({results['machine']['cpu_count']} cores); each step in a fresh process")
    print(format_table(results))
    print(f"cold/warm: {results['cold_over_warm']:.1f}x; target warm < {TARGET_SECONDS:.0f} s and peak < "
          f"{TARGET_MB:.0f} MB: {'met' if results['target']['met'] else 'NOT met'}")
    if "warm_profile" in results:
        print("warm load, top functions by cumulative seconds:")
        for row in results["warm_profile"]:
            print(f"  {row['cumtime']:8.3f}  {row['calls']:>8}  {row['function']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results
