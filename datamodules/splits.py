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


def subject_kfold_split(
    subjects: list[str] | np.ndarray,
    labels: list[int] | np.ndarray,
    fold: int,
    num_folds: int,
    val_folds: int = 1,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Split subjects into train / val / test for one fold of a stratified subject-level k-fold.

    ``test`` is fold ``fold``; ``val`` is taken from the remaining subjects by a second stratified
    split into ``max(num_folds - 1, 2)`` parts (``val_folds`` of them; 0 gives no validation set).
    """
    subjects = np.asarray(subjects, dtype=str)
    labels = np.asarray(labels)
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold must be in [0, {num_folds}), got {fold}")
    fold_of = _stratified_subject_folds(labels, num_folds, seed)
    test = subjects[fold_of == fold]
    rest_idx = np.flatnonzero(fold_of != fold)
    val: np.ndarray = np.array([], dtype=str)
    inner_folds = max(num_folds - 1, 2)
    if val_folds > 0 and len(rest_idx) >= inner_folds:
        inner = _stratified_subject_folds(labels[rest_idx], inner_folds, seed + 1)
        val = subjects[rest_idx[inner < val_folds]]
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
