"""Metric collections: one per stage and level (window, video, subject), macro-F1 first.

Example:
    >>> m = classification_metrics(2, prefix="val/subject/")
    >>> sorted(m.keys())[:2]
    ['val/subject/accuracy', 'val/subject/auroc']
"""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
)

LEVELS: tuple[str, ...] = ("window", "video", "subject")


def classification_metrics(num_classes: int, prefix: str = "", sync_on_compute: bool = True) -> MetricCollection:
    """Accuracy, balanced accuracy, macro-F1 and AUROC on ``(probs (N, K), target (N,))``."""
    kwargs = {"num_classes": num_classes, "sync_on_compute": sync_on_compute}
    return MetricCollection(
        {
            "macro_f1": MulticlassF1Score(average="macro", **kwargs),
            "accuracy": MulticlassAccuracy(average="micro", **kwargs),
            "balanced_accuracy": MulticlassRecall(average="macro", **kwargs),
            "auroc": MulticlassAUROC(average="macro", **kwargs),
        },
        prefix=prefix,
    )


def confusion_matrix_metric(num_classes: int, sync_on_compute: bool = True) -> MulticlassConfusionMatrix:
    return MulticlassConfusionMatrix(num_classes=num_classes, sync_on_compute=sync_on_compute)
