"""MiniRocket's transform on the CPU in one fused numba pass per series, parallel over series.

For each series and dilation the per-channel "alpha" sums (the kernel's -1 weights at the nine
dilated taps) are built once; each of the 84 kernels then sums its channel combination into one
length-``T`` buffer (alpha + 3x at its three +2 taps) that stays in cache, and counts it against all
of its biases before the next kernel: the ``(84, F, T)`` comparison tensor of the torch path is never
materialised and nothing is allocated per kernel or per feature (aeon allocates both).

The arithmetic follows aeon's ``_static_transform_multi`` term by term, in float32 and without
fast-math re-association: alpha = x_t negated, then the taps at -4d..-d, then +d..+4d (zero outside
the series); per channel ``alpha + g_a + g_b + g_c`` with ``g = 3x`` shifted; the channels summed in
the combination's order; a PPV is ``count / steps`` in float64 stored as float32. So the features are
those of a literal numpy port of aeon's algorithm, bit for bit (tested), and aeon's own within its
fast-math rounding.

Example:
    >>> import numpy as np
    >>> from facedep.baselines.minirocket import MiniRocket
    >>> x = np.random.default_rng(0).normal(size=(4, 2, 30)).astype(np.float32)
    >>> m = MiniRocket(num_features=84, device="cpu", backend="torch").fit(x)
    >>> bool((transform(x, m.parameters) == m.transform(x)).mean() > 0.99)
    True
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

prange = range  # numba.prange once _compiled() runs: numba (0.3 s to import) loads only when used

INDICES = np.array(
    [(a, b, c) for a in range(9) for b in range(a + 1, 9) for c in range(b + 1, 9)], dtype=np.int64
)
"""(84, 3) positions of weight 2 in each kernel (same order as ``itertools.combinations(range(9), 3)``)."""


def available() -> bool:
    """Whether numba is importable (the fused CPU path needs it; the torch path does not).

    Example:
        >>> isinstance(available(), bool)
        True
    """
    return importlib.util.find_spec("numba") is not None


def _kernel(x: np.ndarray, combo_sizes: np.ndarray, combo_channels: np.ndarray, dilations: np.ndarray,
            features_per_dilation: np.ndarray, biases: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``(N, F)`` PPV features of ``x`` ``(N, C, T)`` float32; compiled by :func:`_compiled` (``prange``)."""
    n, c, t = x.shape
    num_kernels = indices.shape[0]
    num_features = num_kernels * int(features_per_dilation.sum())
    max_pad = 4 * int(dilations.max())
    combo_starts = np.zeros(len(combo_sizes) + 1, dtype=np.int64)
    for k in range(len(combo_sizes)):
        combo_starts[k + 1] = combo_starts[k] + combo_sizes[k]
    out = np.zeros((n, num_features), dtype=np.float32)
    for i in prange(n):
        neg = np.zeros((c, t + 2 * max_pad), dtype=np.float32)  # -x, zero-padded by max_pad both sides
        three = np.zeros((c, t + 2 * max_pad), dtype=np.float32)  # 3x, same padding
        for ch in range(c):
            series, neg_row, three_row = x[i, ch], neg[ch, max_pad : max_pad + t], three[ch, max_pad : max_pad + t]
            for s in range(t):
                neg_row[s] = -series[s]
                three_row[s] = np.float32(3.0) * series[s]
        alpha = np.empty((c, t), dtype=np.float32)
        acc = np.empty(t, dtype=np.float32)
        f_start = 0
        combo = 0
        for j in range(len(dilations)):
            d = dilations[j]
            pad = 4 * d
            nf = features_per_dilation[j]
            for ch in range(c):
                row, src = alpha[ch], neg[ch]
                centre = src[max_pad : max_pad + t]
                for s in range(t):
                    row[s] = centre[s]
                for g in range(4):  # taps at -4d .. -d (aeon's first loop)
                    tap = src[max_pad + (g - 4) * d : max_pad + (g - 4) * d + t]  # a view: no index arithmetic
                    for s in range(t):
                        row[s] = row[s] + tap[s]
                for g in range(5, 9):  # taps at +d .. +4d
                    tap = src[max_pad + (g - 4) * d : max_pad + (g - 4) * d + t]
                    for s in range(t):
                        row[s] = row[s] + tap[s]
            for k in range(num_kernels):
                sa = max_pad + (indices[k, 0] - 4) * d
                sb = max_pad + (indices[k, 1] - 4) * d
                sc = max_pad + (indices[k, 2] - 4) * d
                for s in range(t):
                    acc[s] = np.float32(0.0)
                for m in range(combo_starts[combo], combo_starts[combo + 1]):
                    row, g3 = alpha[combo_channels[m]], three[combo_channels[m]]
                    ga, gb, gc = g3[sa : sa + t], g3[sb : sb + t], g3[sc : sc + t]
                    for s in range(t):
                        acc[s] = acc[s] + (((row[s] + ga[s]) + gb[s]) + gc[s])
                counted = acc if (j + k) % 2 == 0 else acc[pad : t - pad]
                steps = len(counted)
                for f in range(nf):
                    bias = biases[f_start + f]
                    count = 0
                    for s in range(steps):
                        count += counted[s] > bias
                    out[i, f_start + f] = count / steps if steps > 0 else np.nan  # as aeon's empty mean
                f_start += nf
                combo += 1
    return out


_COMPILED: list[Any] = []


def _compiled() -> Any:  # noqa: ANN401
    """The numba-compiled :func:`_kernel` (compiled on first use, cached on disk by numba)."""
    if not _COMPILED:
        import numba

        globals()["prange"] = numba.prange  # read by numba when it compiles _kernel
        _COMPILED.append(numba.njit(parallel=True, cache=True, fastmath=False, nogil=True)(_kernel))
    return _COMPILED[0]


@contextmanager
def numba_threads(threads: int | None) -> Iterator[None]:
    """Run numba's parallel loops on ``threads`` (capped at ``NUMBA_NUM_THREADS``), restored afterwards."""
    import numba

    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def transform(x: np.ndarray, parameters: tuple, threads: int | None = None) -> np.ndarray:
    """``(N, F)`` float32 MiniRocket features of ``x`` ``(N, C, T)`` with fitted ``parameters`` (aeon's layout).

    ``threads`` caps the parallel loop (default: numba's current count).
    """
    sizes, channels, dilations, per_dilation, biases = (np.asarray(a) for a in parameters)
    x = np.ascontiguousarray(x, dtype=np.float32)
    with numba_threads(threads):
        return _compiled()(x, sizes.astype(np.int64), channels.astype(np.int64), dilations.astype(np.int64),
                           per_dilation.astype(np.int64), biases.astype(np.float32), INDICES)
