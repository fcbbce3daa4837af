"""``benchmark.py tuning``: wall time of one Optuna study run by 1 worker vs by W workers sharing its storage.

Each side is the same ``scripts/tune.py`` command (tiny GRU of ``configs/tests/tiny.yaml``, ``configs/search/tiny.yaml``,
no pruning, so every trial trains all its inner folds) on the same synthetic OpenFace data, with its own SQLite
study; the W workers start together. Rows: 1 worker with all cores; W workers with ``cores / W`` torch threads
each (``--threads``); W workers with torch's default threads (each takes every core: oversubscribed). Each
side's study is checked afterwards: exactly ``--trials`` complete trials, no parameter set twice. The ratio is
the 1-worker wall time over the side's (start-up of each process, about 8 s of imports here, included).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); add_arguments(parser)
    >>> parser.parse_args(["--workers", "4"]).workers
    4
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

HELP = "tuning: wall time of one study with 1 worker vs W workers sharing its SQLite storage"
ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``tuning`` subcommand."""
    parser.add_argument("--workers", type=int, default=2, help="parallel workers of the shared study")
    parser.add_argument("--trials", type=int, default=8, help="trials of each study")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each inner run")
    parser.add_argument("--inner-folds", type=int, default=2)
    parser.add_argument("--subjects", type=int, default=18, help="synthetic OpenFace subjects (2 sessions each)")
    parser.add_argument("--no-oversubscribed", action="store_true", help="skip the W workers x default threads row")
    parser.add_argument("--json", default=None, help="write the results here")


def _worker_command(manifest: Path, out: Path, args: argparse.Namespace, threads: int | None) -> list[str]:
    command = [sys.executable, str(ROOT / "scripts" / "tune.py"), "--config", str(ROOT / "configs" / "tests" / "tiny.yaml"),
               "--space", str(ROOT / "configs" / "search" / "tiny.yaml"), "--trials", str(args.trials),
               "--inner-folds", str(args.inner_folds), "--pruner", "none", "--study", "bench",
               "--data.init_args.manifest", str(manifest), "--run.output_dir", str(out),
               "--trainer.max_epochs", str(args.epochs)]
    return command + (["--threads", str(threads)] if threads else [])


def run_side(manifest: Path, out: Path, args: argparse.Namespace, workers: int, threads: int | None) -> dict:
    """Start ``workers`` copies of the tune command together; wall time and a check of the study."""
    import optuna

    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    procs = [subprocess.Popen(_worker_command(manifest, out, args, threads) + ["--worker", str(w)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for w in range(workers)]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - started
    failed = [(p.returncode, e[-800:]) for p, e in zip(procs, errors) if p.returncode != 0]
    if failed:
        raise RuntimeError(f"a worker failed: {failed}")
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{out / 'bench' / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    distinct = len({json.dumps(t.params, sort_keys=True) for t in complete})
    return {"workers": workers, "threads": threads, "wall_s": round(wall, 2), "complete": len(complete),
            "distinct_params": distinct, "ok": len(complete) == args.trials and distinct == len(complete)}


def run(args: argparse.Namespace) -> dict:
    """Measure and print the table; returns (and optionally writes) the results."""
    from datamodules.synthetic.openface_demo import make_openface_demo

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="facedep-bench-tuning-") as tmp:
        manifest = make_openface_demo(Path(tmp) / "data", num_subjects=args.subjects, sessions_per_subject=2,
                                      frames=(120, 200), effect_size=3.0, seed=1)
        sides = [("1 worker", 1, cores), (f"{args.workers} workers, {max(cores // args.workers, 1)} thread(s) each",
                                           args.workers, max(cores // args.workers, 1))]
        if not args.no_oversubscribed:
            sides.append((f"{args.workers} workers, default threads", args.workers, None))
        rows = []
        for label, workers, threads in sides:
            row = run_side(manifest, Path(tmp) / f"side{len(rows)}", args, workers, threads)
            rows.append({"side": label, **row})
    base = rows[0]["wall_s"]
    for row in rows:
        row["speedup"] = round(base / row["wall_s"], 2)
    print(f"tuning: {args.trials} trials x {args.inner_folds} inner folds x {args.epochs} epochs, {cores} cores")
    print(f"{'side':40s} {'wall s':>8s} {'speed-up':>9s} {'complete':>9s} {'distinct':>9s}")
    for row in rows:
        print(f"{row['side']:40s} {row['wall_s']:8.1f} {row['speedup']:9.2f} {row['complete']:9d} {row['distinct_params']:9d}")
    result = {"benchmark": "tuning", "cores": cores, "trials": args.trials, "epochs": args.epochs,
              "inner_folds": args.inner_folds, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result
