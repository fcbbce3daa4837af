"""Per-window summary features for gradient boosting: statistics of every channel over time.

Example:
    >>> x = np.arange(12, dtype=np.float32).reshape(1, 4, 3)  # 1 window, 4 frames, 3 channels
    >>> summary_features(x).shape
    (1, 24)
    >>> summary_feature_names(["AU01_r"])[:3]
    ['AU01_r_mean', 'AU01_r_std', 'AU01_r_min']
"""

from __future__ import annotations

import numpy as np

STATISTICS: tuple[str, ...] = ("mean", "std", "min", "max", "q25", "median", "q75", "slope")


def summary_features(x: np.ndarray) -> np.ndarray:
    """``(N, T, C)`` windows -> ``(N, 8 * C)`` features, grouped by channel in :data:`STATISTICS` order."""
    n, t, c = x.shape
    q25, median, q75 = np.percentile(x, [25, 50, 75], axis=1)
    time = np.arange(t, dtype=np.float64) - (t - 1) / 2
    slope = np.einsum("t,ntc->nc", time, x) / max(float((time**2).sum()), 1e-12)
    stats = [x.mean(axis=1), x.std(axis=1), x.min(axis=1), x.max(axis=1), q25, median, q75, slope]
    return np.stack(stats, axis=2).reshape(n, c * len(STATISTICS)).astype(np.float32)


def summary_feature_names(channels: list[str]) -> list[str]:
    return [f"{ch}_{stat}" for ch in channels for stat in STATISTICS]
