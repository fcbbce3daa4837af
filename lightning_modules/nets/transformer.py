"""Transformer encoder classifier with a CLS token and learned positional embeddings.

Example:
    >>> import torch
    >>> net = TransformerEncoderNet(17, 2, d_model=16, nhead=2, max_len=64)
    >>> net(torch.randn(4, 30, 17)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from lightning_modules.nets._checks import check_sequence_input
from lightning_modules.nets.layers import encoder_stack


class TransformerEncoderNet(nn.Module):
    """Linear projection -> [CLS] + tokens + learned positions -> pre-norm encoder -> LayerNorm -> head.

    Args:
        in_channels: features per time step.
        num_classes: number of logits.
        d_model: token width; must be divisible by ``nhead``.
        nhead: attention heads.
        num_layers: encoder layers.
        dim_feedforward: hidden width of the feed-forward blocks.
        dropout: dropout in the encoder layers and on the embeddings.
        max_len: longest sequence (without CLS) accepted; sets the size of the positional table.
        pooling: ``"cls"`` = CLS token output; ``"mean"`` = mean of the time-step outputs (CLS excluded).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        d_model: int = 64,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
        max_len: int = 2048,
        pooling: Literal["cls", "mean"] = "cls",
    ) -> None:
        super().__init__()
        if d_model % nhead != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.in_channels = in_channels
        self.max_len = max_len
        self.pooling = pooling
        self.input_proj = nn.Linear(in_channels, d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos_embedding = nn.Parameter(torch.zeros(1, max_len + 1, d_model))  # +1 for CLS
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        self.embed_dropout = nn.Dropout(dropout)
        # Pre-norm layers leave the residual stream un-normalised: finish with a LayerNorm.
        self.encoder = encoder_stack(d_model, nhead, num_layers, dim_feedforward, dropout, final_norm=True)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, time, in_channels)`` with ``time <= max_len`` -> logits ``(batch, num_classes)``."""
        check_sequence_input(x, self.in_channels, type(self).__name__)
        b, t, _ = x.shape
        if t > self.max_len:
            raise ValueError(
                f"{type(self).__name__}: sequence length {t} exceeds max_len={self.max_len}; "
                "raise max_len in the model config or use shorter windows"
            )
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), self.input_proj(x)], dim=1)
        tokens = self.embed_dropout(tokens + self.pos_embedding[:, : t + 1])
        z = self.encoder(tokens)
        feats = z[:, 0] if self.pooling == "cls" else z[:, 1:].mean(dim=1)
        return self.head(feats)
