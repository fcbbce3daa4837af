"""Multi-label (AU) losses with unknown labels: BCE with per-AU ``pos_weight``, focal, asymmetric.

Targets are float ``(B, K)`` with 0/1 and NaN where the label is unknown; NaN entries contribute
nothing, and the mean runs over the known entries only. One function covers all three losses:
asymmetric loss (Ridnik et al. 2021, "Asymmetric Loss For Multi-Label Classification") with
``gamma_pos = gamma_neg = gamma`` and ``clip = 0`` is focal loss, and with all three at 0 it is BCE.

Example:
    >>> logits = torch.zeros(2, 3)
    >>> target = torch.tensor([[1.0, 0.0, float("nan")], [0.0, float("nan"), 1.0]])
    >>> round(float(masked_asymmetric_loss(logits, target)), 4)  # log 2 on the 4 known entries
    0.6931
    >>> MultiLabelLoss(3, kind="focal", gamma=2.0)(logits, target)
    tensor(0.1733)
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

LossKind = Literal["bce", "focal", "asymmetric"]


def masked_asymmetric_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma_neg: float = 0.0,
    gamma_pos: float = 0.0,
    clip: float = 0.0,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over known entries of ``-[w y (1-p)^g+ log p + (1-y) p_m^g- log(1-p_m)]``, ``p_m = max(p - clip, 0)``.

    ``w`` is ``pos_weight`` (``(K,)``, broadcast over the batch) or 1. All-NaN targets give 0 (with a
    gradient, so DDP sees every parameter used).
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape")
    logits = logits.float()
    known = ~torch.isnan(target)
    y = torch.nan_to_num(target.float(), nan=0.0)
    log_p = F.logsigmoid(logits)
    p = log_p.exp()
    if clip > 0:
        p_neg = (p - clip).clamp(min=0)
        log_not_p = torch.log((1 - p_neg).clamp(min=1e-8))
    else:
        p_neg, log_not_p = p, F.logsigmoid(-logits)
    pos = y * log_p * ((1 - p).pow(gamma_pos) if gamma_pos else 1.0)
    neg = (1 - y) * log_not_p * (p_neg.pow(gamma_neg) if gamma_neg else 1.0)
    if pos_weight is not None:
        pos = pos * pos_weight.to(pos)
    loss = -(pos + neg) * known
    return loss.sum() / known.sum().clamp(min=1)


class MultiLabelLoss(nn.Module):
    """Masked multi-label loss on logits ``(B, K)``; ``pos_weight`` ``(K,)`` is a buffer (in checkpoints).

    Args:
        num_labels: K.
        kind: ``bce``; ``focal`` (``gamma`` for both signs); ``asymmetric`` (``gamma_neg``,
            ``gamma_pos``, ``clip``; the paper's defaults 4, 1, 0.05).
    """

    pos_weight: torch.Tensor

    def __init__(
        self,
        num_labels: int,
        kind: LossKind = "bce",
        gamma: float = 2.0,
        gamma_neg: float = 4.0,
        gamma_pos: float = 1.0,
        clip: float = 0.05,
    ) -> None:
        super().__init__()
        if kind not in ("bce", "focal", "asymmetric"):
            raise ValueError(f"loss must be 'bce', 'focal' or 'asymmetric', got {kind!r}")
        if min(gamma, gamma_neg, gamma_pos) < 0 or not 0 <= clip < 1:
            raise ValueError("gammas must be >= 0 and clip in [0, 1)")
        self.kind = kind
        if kind == "bce":
            self.params = (0.0, 0.0, 0.0)
        elif kind == "focal":
            self.params = (gamma, gamma, 0.0)
        else:
            self.params = (gamma_neg, gamma_pos, clip)
        self.register_buffer("pos_weight", torch.ones(num_labels))

    @torch.no_grad()
    def set_pos_weight(self, weights: torch.Tensor | list[float]) -> None:
        """Copy ``weights`` (K,) into the buffer; non-finite values (an AU never present) become 1."""
        w = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
        if w.shape != self.pos_weight.shape:
            raise ValueError(f"pos_weight must have shape {tuple(self.pos_weight.shape)}, got {tuple(w.shape)}")
        if (w < 0).any():
            raise ValueError(f"pos_weight must be >= 0, got {w.tolist()}")
        if not torch.isfinite(w).all():
            warnings.warn(f"pos_weight {w.tolist()} has non-finite values; they are set to 1", stacklevel=2)
            w = torch.where(torch.isfinite(w), w, torch.ones_like(w))
        self.pos_weight.copy_(w.to(self.pos_weight))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        gamma_neg, gamma_pos, clip = self.params
        return masked_asymmetric_loss(logits, target, gamma_neg, gamma_pos, clip, self.pos_weight)


def pos_weight_from_labels(labels: torch.Tensor) -> torch.Tensor:
    """``(1 - p) / p`` per column of 0/1/NaN labels ``(N, K)``, ``p`` over known entries (inf if never present).

    Example:
        >>> pos_weight_from_labels(torch.tensor([[1.0, 0.0], [0.0, float("nan")], [0.0, 1.0], [0.0, 1.0]]))
        tensor([3.0000, 0.5000])
    """
    known = ~torch.isnan(labels)
    p = torch.nan_to_num(labels, nan=0.0).sum(0) / known.sum(0).clamp(min=1)
    return (1 - p) / p


def masked_regression_loss(
    pred: torch.Tensor, target: torch.Tensor, kind: Literal["mse", "huber"] = "mse", delta: float = 1.0
) -> torch.Tensor:
    """MSE or Huber (``delta``) over the entries of ``target`` that are not NaN (0 if none).

    Example:
        >>> masked_regression_loss(torch.tensor([1.0, 2.0]), torch.tensor([3.0, float("nan")]))
        tensor(4.)
    """
    known = ~torch.isnan(target)
    y = torch.nan_to_num(target.float(), nan=0.0)
    pred = pred.float()
    if kind == "mse":
        loss = F.mse_loss(pred, y, reduction="none")
    elif kind == "huber":
        loss = F.huber_loss(pred, y, reduction="none", delta=delta)
    else:
        raise ValueError(f"regression loss must be 'mse' or 'huber', got {kind!r}")
    return (loss * known).sum() / known.sum().clamp(min=1)
