"""MLP for frame-level (tabular) input ``(batch, channels)``.

Example:
    >>> import torch
    >>> MLP(17, 2, hidden_sizes=(8,))(torch.randn(4, 17)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``[Linear -> ReLU -> Dropout] * len(hidden_sizes) -> Linear``; ``hidden_sizes=()`` is logistic regression.

    Args:
        in_channels: input features.
        num_classes: number of logits.
        hidden_sizes: widths of the hidden layers.
        dropout: dropout after each hidden activation.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_sizes: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        width = in_channels
        for h in hidden_sizes:
            layers += [nn.Linear(width, int(h)), nn.ReLU(), nn.Dropout(dropout)]
            width = int(h)
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, in_channels)`` -> logits ``(batch, num_classes)``."""
        if x.ndim != 2:
            raise ValueError(
                f"MLP expects frame-level input of shape (batch, channels); got shape {tuple(x.shape)}. "
                "For (batch, time, channels) windows use a sequence net (RecurrentNet, InceptionTime, "
                "TransformerEncoderNet)"
            )
        if x.shape[-1] != self.in_channels:
            raise ValueError(f"MLP was built for in_channels={self.in_channels}; got {x.shape[-1]} features")
        return self.layers(x)
