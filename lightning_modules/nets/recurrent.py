"""LSTM / GRU classifier over fixed-length windows.

Example:
    >>> import torch
    >>> net = RecurrentNet(17, 2, hidden_size=8, bidirectional=True)
    >>> net(torch.randn(4, 30, 17)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from lightning_modules.nets._checks import check_sequence_input


class RecurrentNet(nn.Module):
    """Stacked LSTM/GRU, then a linear head.

    Args:
        in_channels: features per time step.
        num_classes: number of logits.
        hidden_size: hidden units per direction.
        num_layers: stacked recurrent layers.
        cell: ``"lstm"`` or ``"gru"``.
        bidirectional: run both directions; features are the concatenation of both.
        dropout: dropout between recurrent layers (when ``num_layers > 1``) and before the head.
        pooling: ``"last"`` = final hidden state of the last layer (forward final + backward final when
            bidirectional); ``"mean"`` = mean of the last layer's outputs over time.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: Literal["lstm", "gru"] = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: Literal["last", "mean"] = "last",
    ) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        self.in_channels = in_channels
        self.pooling = pooling
        self.num_directions = 2 if bidirectional else 1
        rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn_cls(
            input_size=in_channels,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * self.num_directions, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, time, in_channels)`` -> logits ``(batch, num_classes)``."""
        check_sequence_input(x, self.in_channels, type(self).__name__)
        out, state = self.rnn(x)
        if self.pooling == "mean":
            feats = out.mean(dim=1)
        else:
            h_n = state[0] if isinstance(state, tuple) else state  # (layers * dirs, B, H)
            feats = torch.cat(list(h_n[-self.num_directions :]), dim=-1)  # last layer, all directions
        return self.head(self.dropout(feats))
