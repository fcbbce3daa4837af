"""CNN-LSTM over clips of pseudo-images, and a CNN over single (temporal) pseudo-images.

Example:
    >>> import torch
    >>> net = CNNLSTM(3, 1)
    >>> net(torch.randn(2, 16, 3, 32, 32)).shape   # (batch, frames, channels, H, W)
    torch.Size([2, 1])
    >>> sum(p.numel() for p in net.parameters())   # the seed's net: about 225k parameters
    225473
    >>> ImageCNN(3, 2)(torch.randn(2, 3, 64, 68)).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.nets.frame_cnn import frame_encoder


class CNNLSTM(nn.Module):
    """Per-frame CNN -> LSTM -> last step -> dropout -> linear (Jallaglag et al.'s net by default).

    Args:
        in_channels: image channels (3 for pseudo-images).
        num_classes: logits (1 for BCE).
        conv_channels: widths of the default small CNN (ignored with ``backbone``).
        hidden_size: LSTM units; dropout: before the head.
        backbone: a timm model name for the per-frame CNN instead (``resnet18``, ``test_resnet``...).
        pretrained / weights: timm weights (``weights`` = a local file, works offline).
        pool_size: output grid of the small CNN's average pool ((1, 1) = the seed's global pool).
        batch_norm: BatchNorm after each convolution of the small CNN (not in the seed).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        conv_channels: tuple[int, ...] = (32, 64, 128),
        hidden_size: int = 128,
        dropout: float = 0.5,
        backbone: str | None = None,
        pretrained: bool = False,
        weights: str | None = None,
        pool_size: tuple[int, int] = (1, 1),
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = frame_encoder(in_channels, backbone, conv_channels, pretrained, weights, pool_size, batch_norm)
        self.lstm = nn.LSTM(self.encoder.num_features, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"CNNLSTM expects (batch, frames, channels, H, W), got shape {tuple(x.shape)}")
        b, t = x.shape[:2]
        features = self.encoder(x.flatten(0, 1)).view(b, t, -1)
        out, _ = self.lstm(features)
        return self.head(self.dropout(out[:, -1]))


class ImageCNN(nn.Module):
    """CNN on one image per sample (the temporal pseudo-image: channels x, y, z over time x landmark).

    Arguments as :class:`CNNLSTM`, without the LSTM.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        conv_channels: tuple[int, ...] = (32, 64, 128),
        dropout: float = 0.5,
        backbone: str | None = None,
        pretrained: bool = False,
        weights: str | None = None,
        pool_size: tuple[int, int] = (1, 1),
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = frame_encoder(in_channels, backbone, conv_channels, pretrained, weights, pool_size, batch_norm)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"ImageCNN expects (batch, channels, H, W), got shape {tuple(x.shape)}")
        return self.head(self.dropout(self.encoder(x)))
