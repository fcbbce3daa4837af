"""Time aeon's Rocket and MiniRocket transforms on a saved ``.npy``; run in an interpreter that has aeon.

Needs only numpy and aeon (it is run by path, e.g. by ``/work/aeon-venv/bin/python``, not imported).
Set ``NUMBA_NUM_THREADS`` before starting it. Prints one JSON object:
``{"aeon": version, "numba": version, "numpy": version, "threads": n, "rocket": series/s, "minirocket": series/s}``.
With ``--check out.npz`` it also saves the fitted MiniRocket's parameters (``arr_0`` .. ``arr_4``, aeon's
layout) and its features of the first ``--check-series`` series (``features``), for a feature comparison.

Example:
    python _aeon_worker.py --data x.npy --kernels 10000 --threads 2 --warmup 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def time_aeon(x: np.ndarray, kind: str, kernels: int, threads: int, warmup: int, repeats: int, seed: int,
              check: str | None = None, check_series: int = 64) -> float:
    """Series per second of aeon's ``kind`` transform (after fit and a JIT warm-up), best of ``repeats``.

    With ``check`` (MiniRocket only) the parameters and the first ``check_series`` features go to that ``.npz``.
    """
    from aeon.transformations.collection.convolution_based import MiniRocket, Rocket

    cls = Rocket if kind == "rocket" else MiniRocket
    transform = cls(n_kernels=kernels, n_jobs=threads, random_state=seed).fit(x)
    transform.transform(x[:warmup])  # numba compile (or cache load) outside the timing
    if check and kind == "minirocket":
        np.savez(check, *transform.parameters, features=transform.transform(x[:check_series]))
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
    parser.add_argument("--check", default=None, help="save MiniRocket's parameters and first features here")
    parser.add_argument("--check-series", type=int, default=64)
    args = parser.parse_args()
    import aeon
    import numba

    x = np.load(args.data)
    result = {"aeon": aeon.__version__, "numba": numba.__version__, "numpy": np.__version__,
              "threads": numba.get_num_threads()}
    for kind in args.kinds.split(","):
        result[kind] = time_aeon(x, kind, args.kernels, args.threads, args.warmup, args.repeats, args.seed,
                                 args.check, args.check_series)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
