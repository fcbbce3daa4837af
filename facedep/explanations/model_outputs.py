"""What the explanations ask of a model: is it an AU-sequence model, its window scores, the attributed output.

Example:
    >>> from lightning_modules import SequenceClassifier
    >>> model = SequenceClassifier(in_channels=3)
    >>> window_scores(model, torch.zeros(5, 8, 3)).shape  # class probabilities per window
    torch.Size([5, 2])
    >>> attributed_output(model, torch.zeros(5, 8, 3)).shape  # the positive (last) class's logit
    torch.Size([5])
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.sequence_classifier import SequenceClassifier
from lightning_modules.sequence_regressor import SequenceRegressor

SequenceModel = SequenceClassifier | SequenceRegressor


def is_sequence_model(model: object) -> bool:
    """A window classifier or regressor over ``(batch, time, channels)`` inputs (image and CNN-LSTM models are not)."""
    from lightning_modules.cnn_lstm_classifier import CNNLSTMClassifier
    from lightning_modules.image_classifier import ImageClassifier

    if isinstance(model, (ImageClassifier, CNNLSTMClassifier)):
        return False
    return isinstance(model, (SequenceClassifier, SequenceRegressor))


def is_regressor(model: nn.Module) -> bool:
    """True for :class:`~lightning_modules.SequenceRegressor` (one score per window), False for classifiers."""
    return isinstance(model, SequenceRegressor)


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first floating parameter (CPU float32 without one)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.device, parameter.dtype
    return torch.device("cpu"), torch.float32


@torch.no_grad()
def window_scores(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Eval-mode, batched, no-grad outputs on CPU: class probabilities ``(N, K)`` of a classifier (its loss's
    ``probabilities``), predictions ``(N,)`` in target units of a regressor (clipped as in its report)."""
    device, dtype = model_device_dtype(model)
    was_training = model.training
    model.eval()
    try:
        parts = []
        for start in range(0, len(x), batch_size):
            out = model(x[start:start + batch_size].to(device=device, dtype=dtype))
            parts.append((out.float() if is_regressor(model) else model.loss_fn.probabilities(out)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else torch.zeros(0)


def attributed_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The scalar per window that integrated gradients explains: a classifier's last output (the logit of the
    positive / most severe class: ``ce``, ``bce``, ``coral``, ``corn``), a regressor's standardised net output
    ``z`` (prediction = ``z * std + mean`` before clipping: a positive map of the score)."""
    if is_regressor(model):
        return model.net_output(x).float()
    return model(x)[:, -1].float()
