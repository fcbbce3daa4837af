"""ImageClassifier: one face image per sample through any image net (e.g. a timm ResNet50).

The image counterpart of :class:`~lightning_modules.sequence_classifier.SequenceClassifier`, with the
channels-last memory format (faster convolutions on GPUs under bf16/fp16) as an option.

Example (YAML, a fine-tuned ResNet50):
    model:
      class_path: lightning_modules.ImageClassifier
      init_args:
        net:
          class_path: lightning_modules.nets.ImageCNN
          init_args: {backbone: resnet50, pretrained: true, dropout: 0.0}
        channels_last: true
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from lightning_modules.nets import ImageCNN
from lightning_modules.sequence_classifier import NetFactory, SequenceClassifier


class ImageClassifier(SequenceClassifier):
    """Classifier of ``(batch, 3, H, W)`` images (binary or multi-class).

    Args:
        net: the net's config without ``in_channels``/``num_classes`` (default: ``ImageCNN`` on timm ResNet50).
        in_channels: image channels (linked from the DataModule).
        channels_last: keep convolution inputs and weights in channels-last memory format.
        **kwargs: see :class:`~lightning_modules.base.BaseClassifier`.
    """

    def __init__(
        self,
        net: NetFactory = partial(ImageCNN, backbone="resnet50"),
        in_channels: int = 3,
        channels_last: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(net=net, in_channels=in_channels, **kwargs)
        self.channels_last = channels_last
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)
