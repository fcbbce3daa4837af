"""Per-image feature extractors: the seed's small CNN, or any timm backbone.

Example:
    >>> import torch
    >>> SmallCNN(3)(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 128])
    >>> timm_backbone("test_resnet", 3)(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 96])
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Conv 3x3 (pad 1) + ReLU per stage, max-pool 2 after all but the last stage, average pool.

    The seed system's per-frame CNN is ``SmallCNN(3, (32, 64, 128))`` (Jallaglag et al.), with a
    global average pool (``pool_size=(1, 1)``). Pseudo-images are not translation invariant (a
    row is a landmark), so a coarser pool such as ``(4, 4)`` keeps where a feature was found.
    ``batch_norm`` (not in the seed) adds BatchNorm after every convolution: steadier training.
    """

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, ...] = (32, 64, 128),
        pool_size: tuple[int, int] = (1, 1),
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for i, width in enumerate(channels):
            layers.append(nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        layers += [nn.AdaptiveAvgPool2d(tuple(pool_size)), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.num_features = previous * pool_size[0] * pool_size[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def timm_backbone(name: str, in_channels: int, pretrained: bool = False, weights: str | None = None) -> nn.Module:
    """A timm model without its classifier (``num_classes=0``); ``weights`` is a local file (offline)."""
    import timm

    kwargs = {}
    if weights is not None:
        if not Path(weights).exists():
            raise FileNotFoundError(f"backbone weights {weights} do not exist")
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
        pretrained = True
    return timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=in_channels, **kwargs)


def frame_encoder(
    in_channels: int,
    backbone: str | None,
    conv_channels: tuple[int, ...],
    pretrained: bool,
    weights: str | None,
    pool_size: tuple[int, int] = (1, 1),
    batch_norm: bool = False,
) -> nn.Module:
    """``SmallCNN`` when ``backbone`` is None, else a timm backbone; both expose ``num_features``."""
    if backbone is None:
        return SmallCNN(in_channels, conv_channels, pool_size, batch_norm)
    return timm_backbone(backbone, in_channels, pretrained, weights)
