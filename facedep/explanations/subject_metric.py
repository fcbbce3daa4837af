"""The subject-level metric of the report, from window scores: classifier macro-F1, regressor MAE.

Classifier: window probabilities -> mean per video -> mean per subject (videos weigh equally), decided
at the model's tuned threshold (binary, ``tune_threshold``) or by argmax, macro-F1 over the classes.
Regressor: mean prediction over each subject's windows, mean absolute error against the subject's target.

Example:
    >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    >>> ids = torch.tensor([0, 1, 2])
    >>> classifier_subject_f1(probs, torch.tensor([0, 1, 1]), ids, ids, num_classes=2)
    1.0
    >>> regressor_subject_mae(torch.tensor([1.0, 3.0, 8.0]), torch.tensor([2.0, 2.0, 5.0]), torch.tensor([0, 0, 1]))
    1.5
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchmetrics.functional.classification import multiclass_f1_score

from lightning_modules.aggregation import three_levels
from lightning_modules.regression_evaluation import group_mean
from lightning_modules.thresholds import decision_threshold_of, shift_to_threshold


def classifier_subject_f1(probs: torch.Tensor, y: torch.Tensor, video: torch.Tensor, subject: torch.Tensor,
                          num_classes: int, threshold: float | None = None) -> float:
    """Subject macro-F1 as the report computes it (``threshold``: a binary decision threshold, None: argmax)."""
    index = torch.arange(len(y))
    level = three_levels(probs.float(), y.long(), video.long(), subject.long(), index)["subject"]
    decided = shift_to_threshold(level["probs"], threshold) if threshold is not None and num_classes == 2 else level["probs"]
    return float(multiclass_f1_score(decided, level["y"], num_classes=num_classes, average="macro"))


def subject_log_loss(probs: torch.Tensor, y: torch.Tensor, video: torch.Tensor, subject: torch.Tensor) -> float:
    """Mean ``-log p(true class)`` of the subjects' mean probabilities (aggregated as for macro-F1).

    >>> round(subject_log_loss(torch.tensor([[0.5, 0.5]]), torch.tensor([1]), torch.tensor([0]), torch.tensor([0])), 4)
    0.6931
    """
    level = three_levels(probs.float(), y.long(), video.long(), subject.long(), torch.arange(len(y)))["subject"]
    return float(-level["probs"].gather(1, level["y"].unsqueeze(1)).clamp_min(1e-7).log().mean())


def regressor_subject_mae(pred: torch.Tensor, y: torch.Tensor, subject: torch.Tensor) -> float:
    """Subject MAE: mean prediction over each subject's windows against the subject's (mean) target."""
    _, subject_pred = group_mean(pred.double(), subject.long())
    _, subject_y = group_mean(y.double(), subject.long())
    return float((subject_pred - subject_y).abs().mean())


@dataclass(frozen=True)
class SubjectMetric:
    """A subject-level metric of window scores; ``higher_is_better`` sets the sign of importances."""

    name: str
    higher_is_better: bool
    num_classes: int = 1
    threshold: float | None = None

    def __call__(self, scores: torch.Tensor, y: torch.Tensor, video: torch.Tensor, subject: torch.Tensor) -> float:
        if self.name == "subject_mae":
            return regressor_subject_mae(scores, y, subject)
        return classifier_subject_f1(scores, y, video, subject, self.num_classes, self.threshold)


def subject_metric_of(model: object) -> SubjectMetric:
    """``subject_mae`` for a regressor (``num_classes`` 1 and a ``target_scale``), else ``subject_macro_f1`` at the
    model's decision threshold (:func:`~lightning_modules.thresholds.decision_threshold_of`)."""
    if hasattr(model, "target_scale"):
        return SubjectMetric("subject_mae", higher_is_better=False)
    return SubjectMetric("subject_macro_f1", higher_is_better=True, num_classes=int(model.num_classes),
                         threshold=decision_threshold_of(model))


Scorer = Callable[[torch.Tensor], float]
"""Window scores -> a number where higher is better (a metric, or a loss with its sign flipped)."""


def subject_scorers(model: object, y: torch.Tensor, video: torch.Tensor, subject: torch.Tensor
                    ) -> tuple[SubjectMetric, dict[str, Scorer]]:
    """The metric and the scorers that importances are drops of, on fixed windows ``y, video, subject``.

    ``{"importance": metric}`` (subject macro-F1 of a classifier, or minus the subject MAE of a regressor) and, for a
    classifier, ``"log_loss_increase"``: minus the subject log-loss (its drop = the log-loss increase).

    >>> from lightning_modules import SequenceClassifier
    >>> metric, scorers = subject_scorers(SequenceClassifier(in_channels=2), torch.tensor([0, 1]), torch.tensor([0, 1]),
    ...                                   torch.tensor([0, 1]))
    >>> metric.name, sorted(scorers)
    ('subject_macro_f1', ['importance', 'log_loss_increase'])
    """
    metric = subject_metric_of(model)
    sign = 1.0 if metric.higher_is_better else -1.0
    scorers: dict[str, Scorer] = {"importance": lambda scores: sign * metric(scores, y, video, subject)}
    if metric.higher_is_better:
        scorers["log_loss_increase"] = lambda scores: -subject_log_loss(scores, y, video, subject)
    return metric, scorers
