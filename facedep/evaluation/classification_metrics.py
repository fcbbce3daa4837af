"""Classification metrics from class probabilities: one dict of scalars per prediction set.

Two flavours:

* :func:`compute_metrics` (scikit-learn) — the headline numbers of a test set.
* :func:`accuracy`, :func:`balanced_accuracy`, :func:`macro_f1`, :func:`auroc` (``FAST_METRICS``) and
  :func:`qwk`, :func:`mae_classes` (``ORDINAL_FAST_METRICS``) — fast numpy versions with the signature
  ``metric(y_true, probs) -> float`` that :func:`facedep.evaluation.bootstrap.bootstrap_ci` calls once per
  resample. They give the same values as :func:`compute_metrics`.

Ordered classes (ordinal models, ``compute_metrics(..., ordinal=True)``) add :data:`ORDINAL_METRIC_NAMES`:
quadratic-weighted Cohen's kappa ``qwk`` (NaN when undefined: a single class in truth and decisions),
the mean absolute error in classes ``mae_classes`` (``|decision - true|``, class indices) and per-class
recall ``recall_<class>`` (NaN for a class with no sample).

Conventions: predictions are ``argmax(probs)``; macro averages run over all ``num_classes`` classes
(a class absent from both truth and predictions scores 0); balanced accuracy is the mean recall over
the classes present in ``y_true`` (as scikit-learn's); AUROC is the ROC AUC of class 1 for binary
problems and the macro one-vs-rest AUC over the classes that have both positives and negatives
otherwise; it is NaN (never an exception) when ``y_true`` holds a single class.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1])
    >>> p = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    >>> m = compute_metrics(y, p, num_classes=2)
    >>> round(m["accuracy"], 4), round(m["macro_f1"], 4)
    (0.75, 0.7333)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score, roc_auc_score

METRIC_NAMES: tuple[str, ...] = (
    "macro_f1",
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "auroc",
)
"""Metrics :func:`compute_metrics` always returns, in report order (macro-F1 first)."""
ORDINAL_METRIC_NAMES: tuple[str, ...] = ("qwk", "mae_classes")
"""Metrics :func:`compute_metrics` adds for ordered classes (``ordinal=True``), before ``recall_<class>``."""


def ordinal_metric_names(class_names: Sequence[str]) -> list[str]:
    """Everything ``ordinal=True`` adds, in report order.

    >>> ordinal_metric_names(["low", "high"])
    ['qwk', 'mae_classes', 'recall_low', 'recall_high']
    """
    return [*ORDINAL_METRIC_NAMES, *(f"recall_{c}" for c in class_names)]


def predict(probs: np.ndarray, threshold: float | np.ndarray | None = None) -> np.ndarray:
    """Class predictions: ``argmax(probs)``, or ``probs[:, 1] >= threshold`` for binary problems
    (``threshold`` a number, or one per row when folds with their own thresholds are pooled).

    Example:
        >>> predict(np.array([[0.7, 0.3], [0.4, 0.6]])).tolist()
        [0, 1]
        >>> predict(np.array([[0.7, 0.3], [0.4, 0.6]]), threshold=0.25).tolist()
        [1, 1]
    """
    probs = np.asarray(probs, dtype=float)
    if threshold is None:
        return probs.argmax(axis=1)
    if probs.shape[1] != 2:
        raise ValueError(f"a threshold needs binary probabilities, got {probs.shape[1]} classes")
    return (probs[:, 1] >= threshold).astype(int)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix of counts, rows = true class, columns = predicted class.

    Example:
        >>> confusion(np.array([0, 0, 1]), np.array([0, 1, 1]), 2).tolist()
        [[1, 1], [0, 1]]
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def compute_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    threshold: float | np.ndarray | None = None,
    ordinal: bool = False,
) -> dict[str, float]:
    """All of :data:`METRIC_NAMES` (scikit-learn), plus ``f1_<classname>`` when ``class_names`` is given;
    with ``ordinal`` (ordered classes) also :func:`ordinal_metric_names` (``recall_<index>`` without names).

    Decisions are ``predict(probs, threshold)``; AUROC uses the probabilities (no threshold).

    Example:
        >>> m = compute_metrics(np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), 2, ["hc", "dep"])
        >>> m["accuracy"], m["auroc"], m["f1_dep"]
        (1.0, 1.0, 1.0)
        >>> m = compute_metrics(np.array([0, 1, 2]), np.eye(3)[[0, 2, 2]], 3, ["lo", "mid", "hi"], ordinal=True)
        >>> m["qwk"], round(m["mae_classes"], 4), m["recall_mid"]
        (0.8, 0.3333, 0.0)
    """
    y_true, probs = _check(y_true, probs, num_classes)
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    if len(y_true) == 0:
        out = {name: float("nan") for name in METRIC_NAMES}
        out.update({f"f1_{c}": float("nan") for c in class_names or []})
        if ordinal:
            out.update({name: float("nan") for name in ordinal_metric_names(_names(class_names, num_classes))})
        return out
    y_pred = predict(probs, threshold)
    labels = list(range(num_classes))
    per_class_f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out = {
        "macro_f1": float(per_class_f1.mean()),
        "accuracy": float(np.mean(y_true == y_pred)),
        "balanced_accuracy": _balanced_accuracy(confusion(y_true, y_pred, num_classes)),
        "macro_precision": float(
            precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "macro_recall": float(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "auroc": _sklearn_auroc(y_true, probs, num_classes),
    }
    for name, value in zip(class_names or [], per_class_f1):
        out[f"f1_{name}"] = float(value)
    if ordinal:
        out.update(_sklearn_ordinal(y_true, y_pred, _names(class_names, num_classes)))
    return out


def _names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    return list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]


def _sklearn_ordinal(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict[str, float]:
    """QWK, MAE in classes and per-class recall (NaN without support) of decisions ``y_pred``."""
    labels = list(range(len(class_names)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = cohen_kappa_score(y_true, y_pred, labels=labels, weights="quadratic", replace_undefined_by=np.nan)
        recalls = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    out = {"qwk": float(kappa), "mae_classes": float(np.mean(np.abs(y_pred - y_true)))}
    out.update({f"recall_{name}": float(value) for name, value in zip(class_names, recalls)})
    return out


def accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Fast accuracy of ``argmax(probs)``; ``metric(y_true, probs)`` form for bootstrapping.

    Example:
        >>> accuracy(np.array([0, 1]), np.array([[0.6, 0.4], [0.6, 0.4]]))
        0.5
    """
    return float(np.mean(np.asarray(y_true) == np.asarray(probs).argmax(axis=1)))


def balanced_accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Fast balanced accuracy (mean recall over classes present in ``y_true``) of ``argmax(probs)``.

    Example:
        >>> balanced_accuracy(np.array([0, 0, 0, 1]), np.array([[0.6, 0.4]] * 4))
        0.5
    """
    probs = np.asarray(probs)
    return _balanced_accuracy(confusion(y_true, probs.argmax(axis=1), probs.shape[1]))


def macro_f1(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Fast macro-F1 of ``argmax(probs)`` over all ``probs.shape[1]`` classes.

    Example:
        >>> y = np.array([0, 0, 1, 1])
        >>> round(macro_f1(y, np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])), 4)
        0.7333
    """
    probs = np.asarray(probs)
    cm = confusion(y_true, probs.argmax(axis=1), probs.shape[1])
    tp = np.diag(cm).astype(float)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # = 2tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def auroc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Fast AUROC (Mann-Whitney): class 1 if binary, else macro one-vs-rest; NaN for a single class.

    Example:
        >>> auroc(np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]]))
        1.0
        >>> auroc(np.array([1, 1]), np.array([[0.4, 0.6], [0.3, 0.7]]))
        nan
    """
    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    classes = [1] if probs.shape[1] == 2 else range(probs.shape[1])
    aucs = [_binary_auc_ranks(y_true == k, probs[:, k]) for k in classes]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def qwk(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Fast quadratic-weighted Cohen's kappa of ``argmax(probs)`` (class indices as the ordered scale).

    ``1 - sum(W * O) / sum(W * E)``, ``W_ij = (i - j)^2``, ``E`` = outer product of the marginals / N;
    NaN when the denominator is 0 (a single class in truth and decisions).

    Example:
        >>> qwk(np.array([0, 1, 1, 2]), np.eye(3)[[0, 1, 2, 2]])
        0.8
    """
    probs = np.asarray(probs)
    cm = confusion(y_true, probs.argmax(axis=1), probs.shape[1]).astype(float)
    n = cm.sum()
    if n == 0:
        return float("nan")
    idx = np.arange(cm.shape[0])
    weights = (idx[:, None] - idx[None, :]) ** 2
    denominator = float((weights * np.outer(cm.sum(axis=1), cm.sum(axis=0)) / n).sum())
    return 1.0 - float((weights * cm).sum()) / denominator if denominator > 0 else float("nan")


def mae_classes(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Fast mean ``|argmax(probs) - y_true|`` in classes; NaN when empty.

    Example:
        >>> mae_classes(np.array([0, 2]), np.eye(3)[[2, 2]])
        1.0
    """
    y_true = np.asarray(y_true, dtype=int)
    return float(np.mean(np.abs(np.asarray(probs).argmax(axis=1) - y_true))) if len(y_true) else float("nan")


FAST_METRICS = {
    "macro_f1": macro_f1,
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "auroc": auroc,
}
"""Fast ``metric(y_true, probs)`` functions by name, for :func:`facedep.evaluation.bootstrap.bootstrap_ci`."""
ORDINAL_FAST_METRICS = {"qwk": qwk, "mae_classes": mae_classes}
"""Fast versions of :data:`ORDINAL_METRIC_NAMES` (ordered classes; ``mae_classes``: lower is better)."""
RANKING_METRICS: frozenset[str] = frozenset({"auroc"})
"""Metrics of the scores themselves; the others score decisions (pass one-hot decisions to decide at a threshold)."""


def _check(y_true: np.ndarray, probs: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrays as int (N,) and float (N, K); raises ValueError on a shape mismatch."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape != (len(y_true), num_classes):
        raise ValueError(f"probs of shape {probs.shape}, expected ({len(y_true)}, {num_classes})")
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= num_classes):
        raise ValueError(f"labels outside [0, {num_classes}): {np.unique(y_true).tolist()}")
    return y_true, probs


def _balanced_accuracy(cm: np.ndarray) -> float:
    """Mean per-class recall over classes with support (scikit-learn's balanced accuracy)."""
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def _sklearn_auroc(y_true: np.ndarray, probs: np.ndarray, num_classes: int) -> float:
    """scikit-learn AUROC with the module's conventions (NaN instead of an exception)."""
    if num_classes == 2:
        pos = y_true == 1
        return float(roc_auc_score(pos, probs[:, 1])) if 0 < pos.sum() < len(pos) else float("nan")
    aucs = [
        roc_auc_score(y_true == k, probs[:, k])
        for k in range(num_classes)
        if 0 < np.sum(y_true == k) < len(y_true)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def _binary_auc_ranks(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of ``scores`` for boolean ``positive`` via average ranks (ties count 1/2)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
