"""Regression losses: MSE, Huber, L1 and the concordance loss ``1 - CCC`` (AVEC), on one batch.

Example:
    >>> pred, target = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 3.0])
    >>> round(float(ccc_loss(pred, target)), 4)  # 1 - 0.7273
    0.2727
    >>> float(ccc_loss(target, target))
    0.0
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

RegressionLossKind = Literal["huber", "mse", "l1", "ccc"]
LOSSES: tuple[str, ...] = ("huber", "mse", "l1", "ccc")


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - CCC`` of the batch with population moments, differentiable; 0 when prediction equals a constant
    target (CCC undefined there), 1 for a single-sample batch that misses."""
    p, t = pred.float().flatten(), target.float().flatten()
    dp, dt = p - p.mean(), t - t.mean()
    denominator = dp.pow(2).mean() + dt.pow(2).mean() + (p.mean() - t.mean()).pow(2)
    ccc = 2 * (dp * dt).mean() / denominator.clamp_min(torch.finfo(p.dtype).tiny)
    return 1 - torch.where(denominator > 0, ccc, torch.ones_like(ccc))


def regression_loss(kind: str, pred: torch.Tensor, target: torch.Tensor, huber_delta: float = 1.0) -> torch.Tensor:
    """The ``kind`` loss (one of :data:`LOSSES`) of ``pred`` against ``target`` (both ``(N,)``).

    >>> float(regression_loss("l1", torch.zeros(2), torch.tensor([1.0, 3.0])))
    2.0
    """
    pred, target = pred.float(), target.float()
    if kind == "huber":
        return F.huber_loss(pred, target, delta=huber_delta)
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "ccc":
        return ccc_loss(pred, target)
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {kind!r}")
