"""Label statistics of a training split: balanced class weights for the loss."""

from __future__ import annotations

import warnings

import numpy as np
import torch


def class_weights_from_labels(labels: np.ndarray | torch.Tensor, num_classes: int) -> torch.Tensor:
    """Balanced class weights ``N / (K * n_c)`` (as sklearn's ``"balanced"``), float32 of length ``num_classes``.

    A class with no samples gets weight 0 and a warning naming its index.

    Example:
        >>> class_weights_from_labels([0, 0, 0, 1], 2)
        tensor([0.6667, 2.0000])
    """
    y = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)).reshape(-1)
    if y.numel() == 0:
        raise ValueError("class_weights_from_labels: no labels given")
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise ValueError("class_weights_from_labels: labels must be integer class indices")
    y = y.long()
    if (y < 0).any() or (y >= num_classes).any():
        bad = sorted(set(y[(y < 0) | (y >= num_classes)].tolist()))
        raise ValueError(f"class_weights_from_labels: labels {bad} outside [0, {num_classes})")
    counts = torch.bincount(y, minlength=num_classes).double()
    weights = torch.zeros(num_classes, dtype=torch.float64)
    present = counts > 0
    weights[present] = y.numel() / (num_classes * counts[present])
    for c in torch.nonzero(~present).flatten().tolist():
        warnings.warn(f"class_weights_from_labels: class {c} has no samples; its weight is set to 0", stacklevel=2)
    return weights.float()
