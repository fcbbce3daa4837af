"""Time aeon's Rocket and MiniRocket transforms on a saved ``.npy``; run in an interpreter that has aeon.

Needs only numpy and aeon (it is run by path, e.g. by ``/work/aeon-venv/bin/python``, not imported).
Set ``NUMBA_NUM_THREADS`` before starting it. Prints one JSON object:
``{"aeon": version, "numba": version, "numpy": version, "threads": n, "rocket": series/s, "minirocket": series/s}``.

Example:
    python _aeon_worker.py --data x.npy --kernels 10000 --threads 2 --warmup 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def time_aeon(x: np.ndarray, kind: str, kernels: int, threads: int, warmup: int, repeats: int, seed: int) -> float:
    """Series per second of aeon's ``kind`` transform (after fit and a JIT warm-up), best of ``repeats``."""
    from aeon.transformations.collection.convolution_based import MiniRocket, Rocket

    cls = Rocket if kind == "rocket" else MiniRocket
    transform = cls(n_kernels=kernels, n_jobs=threads, random_state=seed).fit(x)
    transform.transform(x[:warmup])  # numba compile (or cache load) outside the timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        transform.transform(x)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--kernels", type=int, default=10_000)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="rocket,minirocket")
    args = parser.parse_args()
    import aeon
    import numba

    x = np.load(args.data)
    result = {"aeon": aeon.__version__, "numba": numba.__version__, "numpy": np.__version__,
              "threads": numba.get_num_threads()}
    for kind in args.kinds.split(","):
        result[kind] = time_aeon(x, kind, args.kernels, args.threads, args.warmup, args.repeats, args.seed)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
