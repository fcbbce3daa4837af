"""Building blocks shared by the nets.

Example:
    >>> import torch
    >>> encoder_stack(16, 2, 1, 32, 0.0)(torch.randn(2, 5, 16)).shape
    torch.Size([2, 5, 16])
"""

from __future__ import annotations

from torch import nn


def encoder_stack(
    d_model: int, nhead: int, num_layers: int, dim_feedforward: int, dropout: float, final_norm: bool = False
) -> nn.TransformerEncoder:
    """Pre-norm, batch-first transformer encoder; ``final_norm`` adds the LayerNorm that pre-norm stacks need at the end."""
    layer = nn.TransformerEncoderLayer(
        d_model=d_model,
        nhead=nhead,
        dim_feedforward=dim_feedforward,
        dropout=dropout,
        batch_first=True,
        norm_first=True,
    )
    norm = nn.LayerNorm(d_model) if final_norm else None
    return nn.TransformerEncoder(layer, num_layers=num_layers, norm=norm, enable_nested_tensor=False)
