"""Binary decision thresholds picked on validation data (never on test).

Example:
    >>> p = torch.tensor([0.2, 0.35, 0.4, 0.8])
    >>> y = torch.tensor([0, 1, 1, 1])
    >>> round(best_threshold(p, y), 3)  # all of (0.2, 0.35] separate the classes: the one nearest 0.5
    0.342
    >>> shift_to_threshold(torch.tensor([[0.6, 0.4]]), 0.3)[0, 1] > 0.5  # 0.4 >= 0.3: positive
    tensor(True)
"""

from __future__ import annotations

import torch

CANDIDATES = torch.linspace(0.1, 0.9, 100)
"""The seed's search grid: 100 thresholds in [0.1, 0.9]."""


def macro_f1_per_threshold(p: torch.Tensor, y: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Macro-F1 (2 classes) of ``p >= t`` for every ``t``; vectorised over thresholds."""
    pred = p.unsqueeze(0) >= thresholds.unsqueeze(1)  # (K, N)
    truth = y.bool().unsqueeze(0)
    scores = []
    for positive_pred, positive_true in ((pred, truth), (~pred, ~truth)):
        tp = (positive_pred & positive_true).sum(1).float()
        fp = (positive_pred & ~positive_true).sum(1).float()
        fn = (~positive_pred & positive_true).sum(1).float()
        scores.append(torch.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), torch.zeros_like(tp)))
    return (scores[0] + scores[1]) / 2


def best_threshold(p: torch.Tensor, y: torch.Tensor, thresholds: torch.Tensor = CANDIDATES) -> float:
    """Threshold with the highest macro-F1 (ties: the one closest to 0.5)."""
    thresholds = thresholds.to(p.device, p.dtype)
    f1 = macro_f1_per_threshold(p, y, thresholds)
    best = f1.max()
    tied = thresholds[f1 >= best - 1e-12]
    return float(tied[(tied - 0.5).abs().argmin()])


def decision_threshold_of(model: object) -> float | None:
    """The tuned threshold a binary classifier decides at (its ``decision_threshold`` buffer), None for argmax.

    Example:
        >>> from types import SimpleNamespace
        >>> decision_threshold_of(SimpleNamespace(tune_threshold=True, decision_threshold=torch.tensor(0.25)))
        0.25
        >>> decision_threshold_of(SimpleNamespace(tune_threshold=False, decision_threshold=torch.tensor(0.5))) is None
        True
    """
    if not getattr(model, "tune_threshold", False) or getattr(model, "decision_threshold", None) is None:
        return None
    return float(model.decision_threshold)


def shift_to_threshold(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Monotone map of binary probabilities so that ``argmax`` decides at ``threshold`` (AUROC unchanged)."""
    p = probs[:, 1].clamp(1e-7, 1 - 1e-7)
    t = torch.tensor(threshold, dtype=p.dtype, device=p.device).clamp(1e-7, 1 - 1e-7)
    shifted = torch.sigmoid(torch.logit(p) - torch.logit(t))
    return torch.stack([1 - shifted, shifted], dim=1)
