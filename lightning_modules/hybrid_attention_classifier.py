"""HybridAttentionClassifier: face images (or clips) with two CNN backbones fused by attention.

Seed system 4 (AI-Dissertation, AffectNet), with attention that is not degenerate: the transformer
attends over the spatial tokens of both backbones (and, in temporal mode, over frames).

Example (YAML):
    model:
      class_path: lightning_modules.HybridAttentionClassifier
      init_args:
        net:
          class_path: lightning_modules.nets.HybridAttentionNet
          init_args: {backbones: [mobilenetv2_100, resnet50], pretrained: true, freeze_backbones: true}
        channels_last: true
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from lightning_modules.image_classifier import ImageClassifier
from lightning_modules.nets import HybridAttentionNet
from lightning_modules.sequence_classifier import NetFactory


class HybridAttentionClassifier(ImageClassifier):
    """Image classifier on :class:`~lightning_modules.nets.HybridAttentionNet` (binary or multi-class).

    Args:
        net: the hybrid net's config (default: MobileNetV2 + ResNet50, frozen, not pretrained).
        in_channels: image channels (linked from the DataModule).
        channels_last: keep convolution inputs and weights in channels-last memory format (faster
            convolutions on GPUs with bf16/fp16).
        **kwargs: see :class:`~lightning_modules.base.BaseClassifier`.
    """

    def __init__(
        self,
        net: NetFactory = partial(HybridAttentionNet),
        in_channels: int = 3,
        channels_last: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(net=net, in_channels=in_channels, channels_last=channels_last, **kwargs)

    def attention_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """CLS attention over each backbone's spatial grid (for explanation plots)."""
        return self.net.attention_maps(x)
