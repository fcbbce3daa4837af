"""Percentile bootstrap confidence intervals of a metric over independent units (subjects).

Resample indices are drawn for all resamples at once; the metric is called once per resample, so use
the fast numpy metrics of :mod:`facedep.evaluation.classification_metrics` (``FAST_METRICS``) for speed.

Rows that are not independent (several videos or segments of one subject) are resampled as clusters:
pass ``groups`` (one subject id per row) and whole subjects are drawn with replacement, each bringing
all of its rows (:func:`cluster_bootstrap_indices`).

Example:
    >>> import numpy as np
    >>> from facedep.evaluation.classification_metrics import accuracy
    >>> y = np.array([0, 0, 1, 1])
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    >>> bootstrap_ci(y, p, accuracy, n_boot=200)
    (1.0, 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def cluster_bootstrap_indices(
    groups: Sequence[object], n_boot: int, rng: np.random.Generator, strata: Sequence[object] | None = None
) -> list[np.ndarray]:
    """Row indices of ``n_boot`` cluster resamples: whole groups (subjects) drawn with replacement.

    A group drawn twice brings its rows twice; ``strata`` (one value per row, constant within a group,
    e.g. the subject's label) keeps the number of groups per stratum fixed, as the stratified bootstrap.

    Example:
        >>> idx = cluster_bootstrap_indices(["a", "a", "a", "b"], 3, np.random.default_rng(0))
        >>> sorted({len(i) for i in idx}) <= [2, 4, 6], all(set(i.tolist()) in ({0, 1, 2}, {3}, {0, 1, 2, 3}) for i in idx)
        (True, True)
    """
    names, codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    members = [np.flatnonzero(codes.reshape(-1) == g) for g in range(len(names))]
    group_strata = np.zeros(len(names), dtype=int)
    if strata is not None:
        strata = np.asarray(strata, dtype=object).astype(str)
        for name, rows in zip(names, members):
            if len(set(strata[rows])) > 1:
                raise ValueError(f"group {name!r} has rows in several strata: {sorted(set(strata[rows]))}")
        group_strata = strata[[rows[0] for rows in members]]
    draws = bootstrap_indices(group_strata, n_boot, rng, stratified=strata is not None)
    return [np.concatenate([members[g] for g in draw]) if len(draw) else np.empty(0, dtype=int) for draw in draws]


def percentile_interval(values: Sequence[float], alpha: float) -> tuple[float, float]:
    """``(low, high)`` percentile interval of the finite ``values``; (NaN, NaN) when there are none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def bootstrap_ci(
    y_true: np.ndarray,
    probs: np.ndarray,
    metric: Metric,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratified: bool = True,
    groups: Sequence[object] | None = None,
) -> tuple[float, float, float]:
    """(point estimate, low, high): percentile bootstrap ``1 - alpha`` interval of ``metric(y, probs)``.

    Resamples rows with replacement (within each class when ``stratified``), or whole ``groups``
    (cluster bootstrap, one group id per row); resamples where the metric is NaN are skipped, and
    the interval is (NaN, NaN) when all are.

    Example:
        >>> from facedep.evaluation.classification_metrics import macro_f1
        >>> rng = np.random.default_rng(1)
        >>> y = rng.integers(0, 2, 60)
        >>> p = np.clip(np.eye(2)[y] + rng.normal(0, 0.6, (60, 2)), 0, None) + 1e-3
        >>> est, lo, hi = bootstrap_ci(y, p / p.sum(1, keepdims=True), macro_f1)
        >>> lo <= est <= hi
        True
    """
    return bootstrap_ci_over_runs(y_true, [probs], metric, n_boot, alpha, seed, stratified, groups)


def bootstrap_ci_over_runs(
    y_true: np.ndarray,
    runs: Sequence[np.ndarray],
    metric: Metric,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratified: bool = True,
    groups: Sequence[object] | None = None,
) -> tuple[float, float, float]:
    """Bootstrap CI of the mean over ``runs`` of ``metric(y, run)``: several runs (seeds) scored the same rows.

    Every resample draws the units once and scores every run on that same resample, so a unit counts
    once per statistic however many runs there are; the estimate is the mean of the runs' metrics.

    Example:
        >>> from facedep.evaluation.classification_metrics import accuracy
        >>> y = np.array([0, 1])
        >>> bootstrap_ci_over_runs(y, [np.eye(2)[[0, 1]], np.eye(2)[[0, 0]]], accuracy, n_boot=50)
        (0.75, 0.75, 0.75)
    """
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    runs = [np.asarray(r, dtype=float) for r in runs]
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not runs or any(len(r) != len(y_true) for r in runs):
        raise ValueError(f"every run needs {len(y_true)} rows, got {[len(r) for r in runs]}")
    estimate = float(np.mean([metric(y_true, r) for r in runs]))
    if len(y_true) == 0 or n_boot < 1:
        return estimate, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if groups is None:
        indices: Sequence[np.ndarray] = bootstrap_indices(y_true, n_boot, rng, stratified)
    else:
        indices = cluster_bootstrap_indices(groups, n_boot, rng, strata=y_true if stratified else None)
    values = [np.mean([metric(y_true[idx], r[idx]) for r in runs]) for idx in indices]
    return (estimate, *percentile_interval(values, alpha))
