"""Percentile bootstrap confidence intervals of a metric over independent samples (subjects).

Resample indices are drawn for all resamples at once; the metric is called once per resample, so use
the fast numpy metrics of :mod:`facedep.classification_metrics` (``FAST_METRICS``) for speed.

Example:
    >>> import numpy as np
    >>> from facedep.classification_metrics import accuracy
    >>> y = np.array([0, 0, 1, 1])
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    >>> bootstrap_ci(y, p, accuracy, n_boot=200)
    (1.0, 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def bootstrap_indices(
    y_true: np.ndarray, n_boot: int, rng: np.random.Generator, stratified: bool = True
) -> np.ndarray:
    """(n_boot, N) resample indices; with ``stratified`` each class keeps its size in every resample.

    Example:
        >>> idx = bootstrap_indices(np.array([0, 0, 1]), 5, np.random.default_rng(0))
        >>> idx.shape, bool((idx[:, 2] == 2).all())
        ((5, 3), True)
    """
    y_true = np.asarray(y_true)
    n = len(y_true)
    if not stratified:
        return rng.integers(0, n, size=(n_boot, n))
    parts = []
    for cls in np.unique(y_true):
        members = np.flatnonzero(y_true == cls)
        parts.append(members[rng.integers(0, len(members), size=(n_boot, len(members)))])
    return np.concatenate(parts, axis=1) if parts else np.empty((n_boot, 0), dtype=int)


def bootstrap_ci(
    y_true: np.ndarray,
    probs: np.ndarray,
    metric: Metric,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratified: bool = True,
) -> tuple[float, float, float]:
    """(point estimate, low, high): percentile bootstrap ``1 - alpha`` interval of ``metric(y, probs)``.

    Resamples samples with replacement (within each class when ``stratified``); resamples where the
    metric is NaN are skipped, and the interval is (NaN, NaN) when all are.

    Example:
        >>> from facedep.classification_metrics import macro_f1
        >>> rng = np.random.default_rng(1)
        >>> y = rng.integers(0, 2, 60)
        >>> p = np.clip(np.eye(2)[y] + rng.normal(0, 0.6, (60, 2)), 0, None) + 1e-3
        >>> est, lo, hi = bootstrap_ci(y, p / p.sum(1, keepdims=True), macro_f1)
        >>> lo <= est <= hi
        True
    """
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = np.asarray(probs, dtype=float)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    estimate = float(metric(y_true, probs))
    if len(y_true) == 0 or n_boot < 1:
        return estimate, float("nan"), float("nan")
    indices = bootstrap_indices(y_true, n_boot, np.random.default_rng(seed), stratified)
    values = np.array([metric(y_true[idx], probs[idx]) for idx in indices], dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return estimate, float("nan"), float("nan")
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return estimate, float(low), float(high)
