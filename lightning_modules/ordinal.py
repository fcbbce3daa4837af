"""Ordinal losses for ordered classes (severity): CORAL and CORN on the net's ``K - 1`` outputs.

Both read the net's ``K - 1`` outputs as the binary tasks "is the class above ``k``?" and turn them into
class probabilities ``(N, K)``, so everything downstream (mean probabilities per video and subject,
thresholds, reports, ``predict.py``) treats an ordinal model like any classifier.

* **CORAL** (Cao, Mirjalili & Raschka 2020): ``P(y > k) = sigmoid(f_k)`` with cumulative logits that
  never increase in ``k``. CORAL gets that order from one shared logit plus ordered biases; here the
  order comes from how the outputs ``z`` are read, ``f_1 = z_1`` and ``f_k = f_{k-1} - softplus(z_k)``,
  so the thresholds may also depend on the input (CORAL's shared-weight model is the case where
  ``z_2 .. z_{K-1}`` are constant). Whatever the net outputs, the ``P(y > k)`` decrease in ``k``
  (rank-consistent), so the class probabilities ``P(y > k-1) - P(y > k)`` are never negative;
  they are still clamped at 0 and renormalised against rounding.
* **CORN** (Shi, Cao & Raschka 2021): ``sigmoid(z_k) = P(y > k | y > k-1)``, each task trained only on
  the samples with ``y > k-1``; ``P(y > k)`` is the running product of those sigmoids, rank-consistent
  by construction.

Losses take optional per-sample weights (the framework passes the class weight of each sample's
true class): the loss is ``sum_i w_i l_i / sum_i w_i``.

Example:
    >>> z = torch.zeros(1, 3)
    >>> [round(v, 3) for v in coral_probabilities(z)[0].tolist()]
    [0.5, 0.167, 0.133, 0.2]
    >>> [round(v, 3) for v in corn_probabilities(z)[0].tolist()]
    [0.5, 0.25, 0.125, 0.125]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from datamodules.score_bands import check_class_order

ORDINAL_LOSSES: tuple[str, ...] = ("coral", "corn")
"""Loss kinds that treat the classes as ordered (``K - 1`` outputs)."""


def check_ordinal_classes(classes: Sequence[object] | None, class_names: Sequence[object], kind: str) -> None:
    """Refuse an ordinal model's classes (the DataModule's ``classes``, then ``class_names``) out of severity order.

    >>> check_ordinal_classes([0, 1, 2], ["low", "high", "medium"], "coral")
    Traceback (most recent call last):
    ...
    datamodules.io.au_table.DataFormatError: ordinal model (loss: coral), class names (data.init_args.class_names): ordinal classes ['low', 'high', 'medium'] are not in severity order (low < medium < high); list them as ['low', 'medium', 'high']
    """
    where = f"ordinal model (loss: {kind})"
    if classes:
        check_class_order(classes, f"{where}, data classes (data.init_args.classes)")
    check_class_order(class_names, f"{where}, class names (data.init_args.class_names)")


def _check(outputs: torch.Tensor, target: torch.Tensor | None = None) -> None:
    if outputs.ndim != 2 or outputs.shape[1] < 1:
        raise ValueError(f"ordinal losses expect outputs of shape (B, K-1) with K >= 2; got {tuple(outputs.shape)}")
    if target is not None:
        if target.shape != outputs.shape[:1]:
            raise ValueError(f"target must have shape ({outputs.shape[0]},); got {tuple(target.shape)}")
        if target.is_floating_point():
            raise ValueError(f"ordinal losses expect integer class targets; got dtype {target.dtype}")


def ordinal_targets(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(B, K-1)`` float: column ``k`` is ``1[y > k]``.

    >>> ordinal_targets(torch.tensor([0, 2]), 4).tolist()
    [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """
    thresholds = torch.arange(num_classes - 1, device=target.device)
    return (target.long().unsqueeze(1) > thresholds).float()


def coral_cumulative_logits(outputs: torch.Tensor) -> torch.Tensor:
    """Cumulative logits ``f`` (``P(y > k) = sigmoid(f_k)``), non-increasing in ``k`` for any ``outputs``.

    >>> coral_cumulative_logits(torch.tensor([[2.0, -100.0, 0.0]])).tolist()
    [[2.0, 2.0, 1.3068528175354004]]
    """
    _check(outputs)
    gaps = F.softplus(outputs[:, 1:])
    return torch.cat([outputs[:, :1], outputs[:, :1] - gaps.cumsum(dim=1)], dim=1)


def class_probabilities(greater: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` class probabilities from ``P(y > k)`` ``(B, K-1)``: differences, clamped at 0, renormalised.

    >>> class_probabilities(torch.tensor([[0.8, 0.3]])).tolist()
    [[0.19999998807907104, 0.5, 0.30000001192092896]]
    """
    ones = torch.ones_like(greater[:, :1])
    bounded = torch.cat([ones, greater, torch.zeros_like(ones)], dim=1)
    probs = (bounded[:, :-1] - bounded[:, 1:]).clamp_min(0.0)
    return probs / probs.sum(dim=1, keepdim=True).clamp_min(torch.finfo(probs.dtype).tiny)


def coral_greater(outputs: torch.Tensor) -> torch.Tensor:
    """``P(y > k)`` ``(B, K-1)`` of CORAL outputs (non-increasing in ``k``)."""
    return torch.sigmoid(coral_cumulative_logits(outputs.float()))


def corn_greater(outputs: torch.Tensor) -> torch.Tensor:
    """``P(y > k)`` ``(B, K-1)`` of CORN outputs: running product of the conditional sigmoids."""
    _check(outputs)
    return torch.sigmoid(outputs.float()).cumprod(dim=1)


def coral_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(B, K)`` of CORAL outputs ``(B, K-1)``."""
    return class_probabilities(coral_greater(outputs))


def corn_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(B, K)`` of CORN outputs ``(B, K-1)``."""
    return class_probabilities(corn_greater(outputs))


def _weighted_mean(loss: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return loss.mean()
    weight = weight.to(loss.dtype)
    return (loss * weight).sum() / weight.sum().clamp_min(torch.finfo(loss.dtype).tiny)


def coral_loss(outputs: torch.Tensor, target: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """CORAL loss: per sample, the sum over the ``K-1`` tasks of the binary cross-entropy of ``1[y > k]``.

    >>> round(coral_loss(torch.zeros(2, 1), torch.tensor([0, 1])).item(), 4)  # K = 2: plain BCE
    0.6931
    """
    _check(outputs, target)
    logits = coral_cumulative_logits(outputs)
    levels = ordinal_targets(target, outputs.shape[1] + 1).to(logits.dtype)
    per_sample = F.binary_cross_entropy_with_logits(logits, levels, reduction="none").sum(dim=1)
    return _weighted_mean(per_sample, sample_weight)


def corn_loss(outputs: torch.Tensor, target: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """CORN loss: task ``k`` is the BCE of ``1[y > k]`` on the samples with ``y > k-1`` (all samples for
    ``k = 0``); the mean runs over every (sample, task) pair used, each pair weighted by its sample's weight.

    >>> round(corn_loss(torch.zeros(2, 2), torch.tensor([0, 2])).item(), 4)  # 3 pairs, each log 2
    0.6931
    """
    _check(outputs, target)
    levels = ordinal_targets(target, outputs.shape[1] + 1).to(outputs.dtype)
    thresholds = torch.arange(outputs.shape[1], device=target.device)
    used = (target.long().unsqueeze(1) >= thresholds).to(outputs.dtype)  # y > k-1
    pair_loss = F.binary_cross_entropy_with_logits(outputs, levels, reduction="none")
    weight = used if sample_weight is None else used * sample_weight.to(outputs.dtype).unsqueeze(1)
    return (pair_loss * weight).sum() / weight.sum().clamp_min(torch.finfo(outputs.dtype).tiny)
