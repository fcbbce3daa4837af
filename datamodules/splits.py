"""Subject-level splits: no subject ever appears in two of train / val / test.

Example:
    >>> subjects = [f"s{i}" for i in range(10)]
    >>> labels = [0] * 5 + [1] * 5
    >>> parts = subject_kfold_split(subjects, labels, fold=0, num_folds=5, seed=0)
    >>> sorted(set(parts["test"]) & set(parts["train"]))
    []
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from datamodules.io.au_table import DataFormatError


def subject_labels(df: pd.DataFrame, label_column: str = "label_index") -> pd.Series:
    """One label per subject (the majority label of its samples; ties go to the larger class index)."""
    def majority(values: pd.Series) -> int:
        counts = Counter(values.tolist())
        return max(counts, key=lambda k: (counts[k], k))

    return df.groupby("subject_id", sort=True)[label_column].agg(majority)


def _stratified_subject_folds(labels: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """Fold number per subject, stratified by subject label (falls back to plain shuffling)."""
    n = len(labels)
    if num_folds < 2:
        raise ValueError(f"num_folds must be >= 2, got {num_folds}")
    if n < num_folds:
        raise DataFormatError(f"only {n} subjects for {num_folds} folds: every fold needs a subject")
    min_class = min(Counter(labels.tolist()).values())
    fold_of = np.empty(n, dtype=np.int64)
    if min_class >= num_folds:
        splitter = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed)
        for k, (_, test_idx) in enumerate(splitter.split(np.zeros(n), labels)):
            fold_of[test_idx] = k
    else:  # too few subjects of a class to stratify exactly: balance as well as possible
        rng = np.random.default_rng(seed)
        order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)])
        fold_of[order] = np.arange(n) % num_folds
    return fold_of


def default_val_fraction(num_folds: int) -> float:
    """The validation share of the non-test subjects by default: one fold's worth of them (``1 / num_folds``).

    >>> round(default_val_fraction(3), 3)
    0.333
    """
    return 1.0 / num_folds


def validation_quota(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Validation subjects per class: ``round(fraction * total)`` in all (at least 1 when ``fraction > 0``),
    shared out by class size (largest remainders first), never taking a class's last subject.

    >>> validation_quota(np.array([10, 10]), 1 / 3).tolist()
    [4, 3]
    >>> validation_quota(np.array([5, 1]), 0.5).tolist()
    [3, 0]
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(round(fraction * counts.sum()))
    if fraction > 0:
        total = max(total, 1)
    cap = np.maximum(counts - 1, 0)  # every class keeps a training subject
    total = min(total, int(cap.sum()))
    share = fraction * counts
    quota = np.minimum(np.floor(share).astype(np.int64), cap)
    for c in np.argsort(-(share - np.floor(share)), kind="stable"):  # largest remainder first
        if quota.sum() >= total:
            break
        if quota[c] < cap[c]:
            quota[c] += 1
    for c in np.argsort(-counts, kind="stable"):  # rounding left some over: fill from the largest classes
        while quota.sum() < total and quota[c] < cap[c]:
            quota[c] += 1
    return quota


def stratified_take(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mask of the ``labels`` positions chosen for validation (:func:`validation_quota` per class, at random)."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quota = validation_quota(counts, fraction)
    rng = np.random.default_rng(seed)
    take = np.zeros(len(labels), dtype=bool)
    for c, k in zip(classes, quota):
        take[rng.permutation(np.flatnonzero(labels == c))[:k]] = True
    return take


def subject_kfold_split(
    subjects: list[str] | np.ndarray,
    labels: list[int] | np.ndarray,
    fold: int,
    num_folds: int,
    val_fraction: float | None = None,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Split subjects into train / val / test for one fold of a stratified subject-level k-fold.

    ``test`` is fold ``fold``; ``val`` is ``val_fraction`` of the remaining subjects, stratified by
    label (default :func:`default_val_fraction`: one fold's share of them; 0 gives no validation set).
    The test folds do not depend on ``val_fraction``.
    """
    subjects = np.asarray(subjects, dtype=str)
    labels = np.asarray(labels)
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold must be in [0, {num_folds}), got {fold}")
    fraction = default_val_fraction(num_folds) if val_fraction is None else float(val_fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) (share of the non-test subjects), got {val_fraction}")
    fold_of = _stratified_subject_folds(labels, num_folds, seed)
    test = subjects[fold_of == fold]
    rest_idx = np.flatnonzero(fold_of != fold)
    val = subjects[rest_idx[stratified_take(labels[rest_idx], fraction, seed + 1)]]
    train = np.setdiff1d(subjects[rest_idx], val)
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(test.tolist())}


def group_kfold_indices(groups: np.ndarray, labels: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """Fold number per row when rows are grouped (e.g. frames by subject): StratifiedGroupKFold."""
    fold_of = np.empty(len(groups), dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=num_folds, shuffle=True, random_state=seed)
    for k, (_, idx) in enumerate(splitter.split(np.zeros(len(groups)), labels, groups)):
        fold_of[idx] = k
    return fold_of


def assert_disjoint(parts: dict[str, list[str]]) -> None:
    """Raise if any subject is in two parts."""
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = set(parts[a]) & set(parts[b])
            if shared:
                raise DataFormatError(f"subjects in both {a} and {b}: {sorted(shared)[:10]}")
