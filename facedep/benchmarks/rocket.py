"""``benchmark.py rocket``: transform throughput (series/s) of our torch Rocket/MiniRocket against aeon's.

Both sides transform the same generated ``(N, C, T)`` float32 data after ``fit`` and after a warm-up call
on a few series (aeon's numba JIT compile, CUDA kernel selection), with the same thread count
(``torch.set_num_threads`` and ``NUMBA_NUM_THREADS``/``n_jobs``). aeon runs in this interpreter when it is
importable, or in ``--aeon-python`` (e.g. a separate venv) via a subprocess on the data saved to ``.npy``.

Ours: ``rocket``, ``minirocket`` (on the CPU the fused numba backend, on a GPU torch) and, on the CPU,
``minirocket_torch`` (the torch backend on the CPU, for comparison); each ratio is against aeon's
transform of the same kind. With aeon measured, the features are also compared: aeon's fitted
MiniRocket parameters are loaded into ours and both transform the first ``--check-series`` series
(``agreement``: fraction of equal values, largest absolute difference).

aeon's side venv (aeon pins its own numba and numpy, so it does not share our environment)::

    python3 -m venv ~/aeon-venv && ~/aeon-venv/bin/pip install aeon==1.6.0
    python scripts/benchmark.py rocket --series 1000 --aeon-python ~/aeon-venv/bin/python

Example:
    >>> row = benchmark_ours("minirocket", make_data(4, 2, 30), 84, "cpu", warmup=2)
    >>> row > 0
    True
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from facedep.benchmarks.overhead import pick_device

HELP = "Rocket/MiniRocket transform throughput, ours (torch) vs aeon (numba)"
KINDS = ("rocket", "minirocket")
AEON_KIND = {"rocket": "rocket", "minirocket": "minirocket", "minirocket_torch": "minirocket"}
"""Which aeon transform each of our rows is compared with."""
WORKER = Path(__file__).with_name("_aeon_worker.py")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``rocket`` subcommand."""
    parser.add_argument("--series", type=int, default=2000, help="number of series N")
    parser.add_argument("--channels", type=int, default=17, help="channels C (AUs)")
    parser.add_argument("--length", type=int, default=256, help="time steps T")
    parser.add_argument("--kernels", type=int, default=10_000, help="ROCKET kernels / MiniRocket features")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads, ours and aeon's")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=8,
                        help="series transformed once before timing (ours: at least one batch)")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes; the best is reported")
    parser.add_argument("--aeon-python", default=None, help="interpreter with aeon, when this one has none")
    parser.add_argument("--no-aeon", action="store_true", help="time ours only")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-series", type=int, default=64,
                        help="series whose MiniRocket features are compared with aeon's (same parameters)")


def make_data(series: int, channels: int, length: int, seed: int = 0) -> np.ndarray:
    """Random-walk-like float32 series ``(N, C, T)``.

    Example:
        >>> make_data(2, 3, 5).shape
        (2, 3, 5)
    """
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(series, channels, length)), axis=-1).astype(np.float32)


def timed_rate(transform: object, x: np.ndarray, warmup: int, repeats: int) -> float:
    """Series per second of ``transform.transform(x)`` after a warm-up call, best of ``repeats``."""
    transform.transform(x[:warmup])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        transform.transform(x)  # returns numpy, so CUDA work is finished when it returns
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def our_kinds(device: str) -> tuple[str, ...]:
    """Our rows: ``minirocket_torch`` only on the CPU (on a GPU ``minirocket`` is the torch backend).

    Example:
        >>> our_kinds("cpu")
        ('rocket', 'minirocket', 'minirocket_torch')
    """
    return (*KINDS, "minirocket_torch") if device == "cpu" else KINDS


def benchmark_ours(kind: str, x: np.ndarray, kernels: int, device: str | None, warmup: int = 8,
                   repeats: int = 1, batch_size: int = 256, seed: int = 0) -> float:
    """Series per second of our ``kind`` (``rocket``, ``minirocket`` or ``minirocket_torch``) transform."""
    from facedep.baselines import MiniRocket, Rocket

    if kind == "rocket":
        transform = Rocket(num_kernels=kernels, seed=seed, device=device, batch_size=batch_size)
    else:
        backend = "torch" if kind == "minirocket_torch" else "auto"
        transform = MiniRocket(num_features=kernels, seed=seed, device=device, batch_size=batch_size,
                               backend=backend)
    # warm up on a full batch: oneDNN/cuDNN set up each convolution shape on its first call
    return timed_rate(transform.fit(x), x, max(warmup, min(len(x), batch_size)), repeats)


def feature_agreement(check: Path, x: np.ndarray, device: str, backend: str = "auto") -> dict:
    """Our MiniRocket with aeon's parameters (from the worker's ``check`` file) against aeon's features.

    Example:
        >>> import tempfile
        >>> from facedep.baselines import MiniRocket
        >>> x = make_data(3, 2, 30)
        >>> m = MiniRocket(num_features=84, device="cpu").fit(x)
        >>> path = Path(tempfile.mkdtemp()) / "check.npz"
        >>> np.savez(path, *m.parameters, features=m.transform(x))
        >>> feature_agreement(path, x, "cpu")["equal_fraction"]
        1.0
    """
    from facedep.baselines import MiniRocket

    with np.load(check) as saved:
        parameters = tuple(saved[f"arr_{i}"] for i in range(5))
        theirs = saved["features"]
    ours = MiniRocket(device=device, backend=backend).set_parameters(parameters, x.shape[1], x.shape[2])
    mine = ours.transform(x[: len(theirs)])
    return {"series": len(theirs), "features": int(theirs.shape[1]), "backend": ours.backend,
            "equal_fraction": float((mine == theirs).mean()), "max_abs_diff": float(np.abs(mine - theirs).max())}


def aeon_in_process(x: np.ndarray, kernels: int, threads: int, warmup: int, repeats: int, seed: int,
                    check: Path | None = None, check_series: int = 64) -> dict:
    """aeon's rates measured in this interpreter (``NUMBA_NUM_THREADS`` set before numba loads)."""
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))
    import aeon
    import numba

    spec = importlib.util.spec_from_file_location("_aeon_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    result = {"aeon": aeon.__version__, "numba": numba.__version__, "numpy": np.__version__,
              "threads": min(threads, numba.config.NUMBA_NUM_THREADS), "where": sys.executable}
    for kind in KINDS:
        result[kind] = worker.time_aeon(x, kind, kernels, threads, warmup, repeats, seed,
                                        str(check) if check else None, check_series)
    return result


def aeon_subprocess(python: str, x: np.ndarray, kernels: int, threads: int, warmup: int, repeats: int, seed: int,
                    check: Path | None = None, check_series: int = 64) -> dict:
    """aeon's rates measured by :mod:`facedep.benchmarks._aeon_worker` in interpreter ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        cmd = [python, str(WORKER), "--data", str(path), "--kernels", str(kernels), "--threads", str(threads),
               "--warmup", str(warmup), "--repeats", str(repeats), "--seed", str(seed)]
        if check:
            cmd += ["--check", str(check), "--check-series", str(check_series)]
        env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"aeon worker failed ({python}):\n{done.stderr[-2000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "where": python}


def aeon_available() -> bool:
    """Whether ``aeon`` is importable in this interpreter."""
    return importlib.util.find_spec("aeon") is not None


def format_table(results: dict) -> str:
    """Plain-text table: transform, ours series/s, aeon series/s, ours/aeon.

    Example:
        >>> print(format_table({"ours": {"rocket": 10.0}, "aeon": {"rocket": 5.0}}).splitlines()[2])
        rocket                 10.0        5.0     2.00
    """
    ours, aeon = results["ours"], results.get("aeon") or {}
    lines = [f"{'transform':<16} {'ours/s':>10} {'aeon/s':>10} {'ratio':>8}", "-" * 47]
    for kind in ours:
        theirs = aeon.get(AEON_KIND.get(kind, kind))
        ratio = f"{ours[kind] / theirs:8.2f}" if theirs else f"{'-':>8}"
        aeon_cell = f"{theirs:10.1f}" if theirs else f"{'-':>10}"
        lines.append(f"{kind:<16} {ours[kind]:10.1f} {aeon_cell} {ratio}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark, print the table (and write ``--json``); returns the results."""
    torch.set_num_threads(args.threads)
    device = str(pick_device(args.device))
    x = make_data(args.series, args.channels, args.length, args.seed)
    ours = {kind: benchmark_ours(kind, x, args.kernels, device, args.warmup, args.repeats, args.batch_size, args.seed)
            for kind in our_kinds(device)}
    aeon, agreement = None, None
    with tempfile.TemporaryDirectory() as tmp:
        check = Path(tmp) / "aeon_minirocket.npz"
        if not args.no_aeon and args.aeon_python:
            aeon = aeon_subprocess(args.aeon_python, x, args.kernels, args.threads, args.warmup, args.repeats,
                                   args.seed, check, args.check_series)
        elif not args.no_aeon and aeon_available():
            aeon = aeon_in_process(x, args.kernels, args.threads, args.warmup, args.repeats, args.seed, check,
                                   args.check_series)
        if aeon is not None and check.exists():
            agreement = {kind: feature_agreement(check, x, device, "torch" if kind == "minirocket_torch" else "auto")
                         for kind in our_kinds(device) if kind != "rocket"}
    results = {
        "shape": list(x.shape), "kernels": args.kernels, "device": device, "threads": args.threads,
        "torch": torch.__version__, "repeats": args.repeats, "ours": ours, "aeon": aeon, "agreement": agreement,
    }
    print(f"ROCKET / MiniRocket transform, N x C x T = {x.shape[0]} x {x.shape[1]} x {x.shape[2]}, "
          f"{args.kernels} kernels/features, ours on {device} (torch {torch.__version__}), threads {args.threads}")
    if aeon:
        print(f"aeon {aeon['aeon']} (numba {aeon['numba']}, numpy {aeon['numpy']}, {aeon['threads']} threads) "
              f"in {aeon['where']}")
    else:
        print("aeon: not measured (not importable here; pass --aeon-python)")
    print(format_table(results))
    for kind, a in (agreement or {}).items():
        print(f"{kind} ({a['backend']}) with aeon's fitted parameters, first {a['series']} series x "
              f"{a['features']} features: {a['equal_fraction']:.6f} of values equal to aeon's, "
              f"largest difference {a['max_abs_diff']:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results
