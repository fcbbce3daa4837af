"""Random temporal signals shared by the synthetic generators: AR(1) noise, event bumps, failure bursts."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def ar1_noise(rng: np.random.Generator, n: int, phi: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``(n, k)`` stationary AR(1) noise with per-column coefficient ``phi`` and marginal SD ``sd``."""
    phi = np.atleast_1d(phi).astype(float)
    sd = np.broadcast_to(np.asarray(sd, dtype=float), phi.shape)
    eps = rng.standard_normal((n, len(phi)))
    out = np.empty_like(eps)
    for j, (p, s) in enumerate(zip(phi, sd)):
        drive = eps[:, j] * np.sqrt(1 - p * p)
        drive[0] = eps[0, j]  # start in the stationary distribution
        out[:, j] = lfilter([1.0], [1.0, -p], drive) * s
    return out


def event_track(
    rng: np.random.Generator, n: int, fps: float, rate_per_min: float, dur: tuple[float, float], amp_mean: float
) -> np.ndarray:
    """``(n,)`` sum of smooth bumps (Hann windows) at Poisson onsets with gamma amplitudes."""
    track = np.zeros(n)
    k = rng.poisson(rate_per_min * n / fps / 60.0)
    onsets = rng.integers(0, n, size=k)
    lengths = np.maximum(3, np.round(rng.uniform(*dur, size=k) * fps)).astype(int)
    amps = rng.gamma(3.0, amp_mean / 3.0, size=k)
    for t0, length, a in zip(onsets, lengths, amps):
        window = np.hanning(length + 2)[1:-1] * a
        stop = min(n, t0 + length)
        track[t0:stop] += window[: stop - t0]
    return track


def failure_mask(rng: np.random.Generator, n: int, rate: float, mean_burst: float = 8.0) -> np.ndarray:
    """``(n,)`` bool mask of tracking failures in short bursts, covering about ``rate`` of frames."""
    mask = np.zeros(n, dtype=bool)
    if rate <= 0 or n == 0:
        return mask
    k = rng.poisson(rate * n / mean_burst)
    starts = rng.integers(0, n, size=k)
    lengths = np.clip(rng.geometric(1.0 / mean_burst, size=k), 2, 4 * int(mean_burst))
    for s, length in zip(starts, lengths):
        mask[s : s + length] = True
    return mask



def dilate(mask: np.ndarray, before: int, after: int) -> np.ndarray:
    """``mask`` grown by ``before`` frames to the left and ``after`` to the right (no wrap-around)."""
    out = mask.copy()
    for k in range(1, before + 1):
        out[:-k] |= mask[k:]
    for k in range(1, after + 1):
        out[k:] |= mask[:-k]
    return out
