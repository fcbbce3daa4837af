"""Metric collections: one per stage and level (window, video, subject), macro-F1 first.

Ordinal models (``loss: coral | corn``) also get :class:`OrdinalMetrics`: quadratic-weighted kappa ``qwk``,
the mean absolute error in classes ``mae_classes`` (``|argmax - true|``) and ``recall_<class name>``
(NaN for a class with no sample), the same values as
:func:`facedep.evaluation.classification_metrics.ordinal_metrics`.

Example:
    >>> m = classification_metrics(2, prefix="val/subject/")
    >>> sorted(m.keys())[:2]
    ['val/subject/accuracy', 'val/subject/auroc']
    >>> m = classification_metrics(3, prefix="val/subject/", ordinal=True, class_names=["low", "mid", "high"])
    >>> m.update(torch.eye(3)[[0, 1, 2, 2]], torch.tensor([0, 1, 1, 2]))
    >>> {k: round(float(v), 3) for k, v in m.compute().items() if "f1" not in k and "acc" not in k and "auroc" not in k}
    {'val/subject/mae_classes': 0.25, 'val/subject/qwk': 0.8, 'val/subject/recall_low': 1.0, 'val/subject/recall_mid': 0.5, 'val/subject/recall_high': 1.0}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
)

LEVELS: tuple[str, ...] = ("window", "video", "subject")


def ordinal_scores(confmat: torch.Tensor, class_names: Sequence[str]) -> dict[str, torch.Tensor]:
    """``qwk``, ``mae_classes`` and ``recall_<name>`` from a confusion matrix (rows true, columns predicted).

    QWK is ``1 - sum(W * O) / sum(W * E)`` with ``W_ij = (i - j)^2``, ``E`` the outer product of the row and
    column totals over ``N``; NaN when that denominator is 0 (one class only, as scikit-learn). Empty: NaN.

    >>> {k: round(float(v), 3) for k, v in ordinal_scores(torch.tensor([[2, 1], [0, 1]]), ["a", "b"]).items()}
    {'mae_classes': 0.25, 'qwk': 0.5, 'recall_a': 0.667, 'recall_b': 1.0}
    """
    cm = confmat.double()
    k, n = cm.shape[0], cm.sum()
    idx = torch.arange(k, dtype=torch.float64, device=cm.device)
    distance = (idx.unsqueeze(1) - idx.unsqueeze(0)).abs()
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=cm.device)
    expected = cm.sum(1).unsqueeze(1) * cm.sum(0).unsqueeze(0) / n if n > 0 else torch.zeros_like(cm)
    denominator = (distance**2 * expected).sum()
    support = cm.sum(1)
    recall = torch.where(support > 0, cm.diagonal() / support.clamp_min(1), nan)
    out = {
        "mae_classes": (distance * cm).sum() / n if n > 0 else nan,
        "qwk": 1 - (distance**2 * cm).sum() / denominator if denominator > 0 else nan,
    }
    out.update({f"recall_{name}": recall[i] for i, name in enumerate(class_names)})
    return {key: value.float() for key, value in out.items()}


class OrdinalMetrics(Metric):
    """QWK, MAE in classes and per-class recall of ``argmax(probs)`` on ``(probs (N, K), target (N,))``."""

    full_state_update = False
    confmat: torch.Tensor

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        if len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes")
        self.add_state("confmat", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        k = self.num_classes
        flat = target.long().reshape(-1) * k + probs.argmax(dim=1).long()
        self.confmat += torch.bincount(flat, minlength=k * k).reshape(k, k)

    def compute(self) -> dict[str, torch.Tensor]:
        return ordinal_scores(self.confmat, self.class_names)


def classification_metrics(
    num_classes: int,
    prefix: str = "",
    sync_on_compute: bool = True,
    ordinal: bool = False,
    class_names: Sequence[str] | None = None,
) -> MetricCollection:
    """Accuracy, balanced accuracy, macro-F1 and AUROC on ``(probs (N, K), target (N,))``; with ``ordinal``
    also ``qwk``, ``mae_classes`` and ``recall_<class name>`` (:class:`OrdinalMetrics`)."""
    kwargs = {"num_classes": num_classes, "sync_on_compute": sync_on_compute}
    metrics: dict[str, Metric] = {
        "macro_f1": MulticlassF1Score(average="macro", **kwargs),
        "accuracy": MulticlassAccuracy(average="micro", **kwargs),
        "balanced_accuracy": MulticlassRecall(average="macro", **kwargs),
        "auroc": MulticlassAUROC(average="macro", **kwargs),
    }
    if ordinal:
        metrics["ordinal"] = OrdinalMetrics(class_names=class_names, **kwargs)
    return MetricCollection(metrics, prefix=prefix)


def confusion_matrix_metric(num_classes: int, sync_on_compute: bool = True) -> MulticlassConfusionMatrix:
    return MulticlassConfusionMatrix(num_classes=num_classes, sync_on_compute=sync_on_compute)
