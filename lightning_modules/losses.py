"""Classification losses: (binary) focal loss and the framework's ``ClassificationLoss`` (also ordinal: CORAL, CORN).

``ClassificationLoss`` keeps its class weights in a registered buffer, so they are saved in checkpoints and
follow ``.to(device/dtype)``. With ``focal_gamma=0`` it is exactly ``F.cross_entropy`` /
``F.binary_cross_entropy_with_logits``.

Example:
    >>> import torch
    >>> from datamodules.label_stats import class_weights_from_labels
    >>> loss = ClassificationLoss(num_classes=2)
    >>> loss.set_class_weights(class_weights_from_labels(torch.tensor([0, 0, 0, 1]), 2))
    >>> loss(torch.zeros(2, 2), torch.tensor([0, 1]))
    tensor(0.6931)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.ordinal import ORDINAL_LOSSES, coral_loss, coral_probabilities, corn_loss, corn_probabilities

LossKind = Literal["ce", "bce", "coral", "corn"]
Reduction = Literal["mean", "sum", "none"]


def _reduce(loss: torch.Tensor, reduction: str, denom: torch.Tensor | None = None) -> torch.Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / denom if denom is not None else loss.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def focal_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Multi-class focal loss ``-(1 - p_t)^gamma * log p_t``, weighted like ``F.cross_entropy``.

    ``logits``: ``(B, K)``; ``target``: int ``(B,)``. With ``weight`` the mean is ``sum(w_i * l_i) / sum(w_i)``,
    ``w_i = weight[target_i]``. Label smoothing follows ``F.cross_entropy``: ``(1 - eps) * l(target) +
    eps / K * sum_k weight_k * l(k)`` with the focal factor applied per class. ``gamma=0`` gives ``F.cross_entropy``.
    """
    if logits.ndim != 2:
        raise ValueError(f"focal_cross_entropy expects logits of shape (B, K); got {tuple(logits.shape)}")
    if target.shape != logits.shape[:1]:
        raise ValueError(f"target must have shape ({logits.shape[0]},); got {tuple(target.shape)}")
    k = logits.shape[1]
    log_p = F.log_softmax(logits, dim=1)
    loss_k = -log_p if gamma == 0 else -((1.0 - log_p.exp()).pow(gamma) * log_p)  # (B, K): loss if class k
    w = weight.to(log_p.dtype) if weight is not None else None
    loss = loss_k.gather(1, target.long().unsqueeze(1)).squeeze(1)
    w_i = w[target.long()] if w is not None else None
    if w_i is not None:
        loss = loss * w_i
    if label_smoothing > 0:
        smooth = (loss_k * w).sum(1) if w is not None else loss_k.sum(1)
        loss = (1.0 - label_smoothing) * loss + (label_smoothing / k) * smooth
    return _reduce(loss, reduction, w_i.sum() if w_i is not None else None)


def binary_focal_with_logits(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    pos_weight: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Binary focal loss ``-[pw * y * (1-p)^g * log p + (1-y) * p^g * log(1-p)]``, ``p = sigmoid(logits)``.

    ``logits`` and float ``target`` of the same shape. ``gamma=0`` gives ``F.binary_cross_entropy_with_logits``.
    """
    target = target.to(logits.dtype)
    log_p, log_q = F.logsigmoid(logits), F.logsigmoid(-logits)
    if gamma == 0:
        pos, neg = target * log_p, (1.0 - target) * log_q
    else:
        pos = target * log_q.exp().pow(gamma) * log_p  # (1 - p)^g * log p
        neg = (1.0 - target) * log_p.exp().pow(gamma) * log_q  # p^g * log(1 - p)
    if pos_weight is not None:
        pos = pos * pos_weight.to(logits.dtype)
    return _reduce(-(pos + neg), reduction)


class FocalLoss(nn.Module):
    """Multi-class focal loss on logits ``(B, K)`` with int targets; ``weight`` (alpha) is a buffer.

    Example:
        >>> import torch
        >>> FocalLoss(gamma=0.0)(torch.zeros(1, 2), torch.tensor([1]))
        tensor(0.6931)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        gamma: float = 2.0,
        weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.reduction = reduction
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_cross_entropy(logits, target, self.gamma, self.weight, self.label_smoothing, self.reduction)


class BinaryFocalLoss(nn.Module):
    """Binary focal loss on logits ``(B,)`` or ``(B, 1)`` with float targets; ``pos_weight`` is a buffer.

    Example:
        >>> import torch
        >>> BinaryFocalLoss(gamma=0.0)(torch.zeros(2), torch.tensor([0.0, 1.0]))
        tensor(0.6931)
    """

    pos_weight: torch.Tensor | None

    def __init__(
        self, gamma: float = 2.0, pos_weight: torch.Tensor | float | None = None, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.reduction = reduction
        pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        self.register_buffer("pos_weight", pw)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = _binary_logits(logits)
        if target.shape != logits.shape:
            target = target.reshape(logits.shape)
        return binary_focal_with_logits(logits, target, self.gamma, self.pos_weight, self.reduction)


def _binary_logits(logits: torch.Tensor) -> torch.Tensor:
    """``(B,)`` or ``(B, 1)`` -> ``(B,)``; anything else raises."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return logits.squeeze(1)
    if logits.ndim == 1:
        return logits
    raise ValueError(
        f"binary losses expect logits of shape (B,) or (B, 1); got {tuple(logits.shape)}. "
        "With kind='bce' the net must output one logit (see ClassificationLoss.num_outputs)"
    )


class ClassificationLoss(nn.Module):
    """The framework's loss: weighted (focal) cross entropy, (focal) BCE for binary tasks, or an ordinal loss.

    Args:
        num_classes: number of classes; ``class_weights`` has this length.
        kind: ``"ce"``: logits ``(B, num_classes)``, int targets. ``"bce"`` (``num_classes == 2`` only): logits
            ``(B,)`` or ``(B, 1)``, targets 0/1, ``pos_weight = class_weights[1] / class_weights[0]``.
            ``"coral"`` / ``"corn"`` (ordered classes, :mod:`lightning_modules.ordinal`): outputs
            ``(B, num_classes - 1)``, int targets; each sample weighs ``class_weights[y]`` (weighted mean).
        focal_gamma: focal-loss gamma; 0 = plain (B)CE. Not for the ordinal kinds (refused).
        label_smoothing: as in ``F.cross_entropy``; for ``"bce"`` targets become ``y * (1 - eps) + eps / 2``.
            Not for the ordinal kinds (refused).

    Example:
        >>> import torch
        >>> loss = ClassificationLoss(2, kind="bce")
        >>> loss.num_outputs, loss.probabilities(torch.zeros(3, 1)).shape
        (1, torch.Size([3, 2]))
        >>> ordinal = ClassificationLoss(4, kind="coral")
        >>> ordinal.num_outputs, ordinal.probabilities(torch.zeros(3, 3)).shape, ordinal.ordinal
        (3, torch.Size([3, 4]), True)
    """

    class_weights: torch.Tensor

    def __init__(
        self,
        num_classes: int,
        kind: LossKind = "ce",
        focal_gamma: float = 0.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if kind not in ("ce", "bce", *ORDINAL_LOSSES):
            raise ValueError(f"kind must be 'ce', 'bce', 'coral' or 'corn', got {kind!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if kind == "bce" and num_classes != 2:
            raise ValueError(f"kind='bce' is for binary tasks only (num_classes=2); got num_classes={num_classes}")
        if focal_gamma < 0:
            raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if kind in ORDINAL_LOSSES and (focal_gamma > 0 or label_smoothing > 0):
            raise ValueError(f"kind={kind!r} (ordinal) has no focal or label-smoothed form; "
                             f"set focal_gamma: 0 and label_smoothing: 0 (got {focal_gamma}, {label_smoothing})")
        self.num_classes = num_classes
        self.kind = kind
        self.focal_gamma = focal_gamma
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", torch.ones(num_classes))

    @property
    def ordinal(self) -> bool:
        """True for the ordinal kinds (``"coral"``, ``"corn"``): the class order is part of the model."""
        return self.kind in ORDINAL_LOSSES

    @property
    def num_outputs(self) -> int:
        """Logits the net must produce: ``num_classes`` for ``"ce"``, 1 for ``"bce"``, ``num_classes - 1`` if ordinal."""
        if self.kind == "bce":
            return 1
        return self.num_classes - 1 if self.ordinal else self.num_classes

    @torch.no_grad()
    def set_class_weights(self, weights: torch.Tensor | np.ndarray) -> None:
        """Copy ``weights`` (length ``num_classes``, finite, >= 0) into the ``class_weights`` buffer."""
        w = torch.as_tensor(weights)
        if w.shape != self.class_weights.shape:
            raise ValueError(
                f"class weights must have shape ({self.num_classes},); got {tuple(w.shape)}"
            )
        if not torch.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"class weights must be finite and >= 0; got {w.tolist()}")
        self.class_weights.copy_(w.to(self.class_weights))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch."""
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        w = self.class_weights.to(logits.dtype)
        if self.kind == "ce":
            return self._ce(logits, target, w)
        if self.ordinal:
            return self._ordinal(logits, target, w)
        return self._bce(logits, target, w)

    def _ordinal(self, outputs: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if outputs.ndim != 2 or outputs.shape[1] != self.num_outputs:
            raise ValueError(f"kind={self.kind!r} expects outputs of shape (B, {self.num_outputs}) = (B, num_classes - 1); "
                             f"got {tuple(outputs.shape)}")
        if target.is_floating_point():
            raise ValueError(f"kind={self.kind!r} expects integer class targets; got dtype {target.dtype}")
        loss = coral_loss if self.kind == "coral" else corn_loss
        return loss(outputs, target, w[target.long()])

    def _ce(self, logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"kind='ce' expects logits of shape (B, {self.num_classes}); got {tuple(logits.shape)}"
            )
        if target.is_floating_point():
            raise ValueError(f"kind='ce' expects integer class targets; got dtype {target.dtype}")
        if self.focal_gamma == 0:
            return F.cross_entropy(logits, target.long(), weight=w, label_smoothing=self.label_smoothing)
        return focal_cross_entropy(logits, target, self.focal_gamma, w, self.label_smoothing)

    def _bce(self, logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        logits = _binary_logits(logits)
        if w[0] <= 0:
            raise ValueError(
                "kind='bce' needs class_weights[0] > 0 to form pos_weight = class_weights[1] / class_weights[0]; "
                f"got class_weights={w.tolist()}"
            )
        pos_weight = w[1] / w[0]
        y = target.reshape(logits.shape).to(logits.dtype)
        if self.label_smoothing > 0:
            y = y * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.focal_gamma == 0:
            return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
        return binary_focal_with_logits(logits, y, self.focal_gamma, pos_weight)

    @torch.no_grad()
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(B, num_classes)``: softmax for ``"ce"``, ``[1 - p, p]`` for ``"bce"``,
        differences of ``P(y > k)`` for the ordinal kinds."""
        logits = logits.float()
        if self.kind == "ce":
            return logits.softmax(dim=-1)
        if self.kind == "coral":
            return coral_probabilities(logits)
        if self.kind == "corn":
            return corn_probabilities(logits)
        p = torch.sigmoid(_binary_logits(logits))
        return torch.stack([1.0 - p, p], dim=-1)
