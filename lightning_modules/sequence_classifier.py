"""SequenceClassifier: any sequence net (LSTM/GRU, InceptionTime, Transformer) as a facedep task.

Example (YAML):
    model:
      class_path: lightning_modules.SequenceClassifier
      init_args:
        net: {class_path: lightning_modules.nets.InceptionTime, init_args: {num_filters: 16}}
        optimizer: {class_path: torch.optim.AdamW, init_args: {lr: 0.001}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lightning_modules.base import BaseClassifier
from lightning_modules.hparams import save_plain_callables
from lightning_modules.nets import RecurrentNet

NetFactory = Callable[[int, int], nn.Module]
"""A net class (or partial) called as ``net(in_channels, num_outputs)``."""


class SequenceClassifier(BaseClassifier):
    """Classifies windows ``(batch, time, channels)`` with a plain ``nn.Module`` net.

    Args:
        net: the net's ``class_path``/``init_args`` without ``in_channels``/``num_classes``,
            which come from the data.
        in_channels: channels per frame (linked from the DataModule by the CLI).
        **kwargs: see :class:`~lightning_modules.base.BaseClassifier` (num_classes, loss,
            focal_gamma, class_weights, optimizer, lr_scheduler, ...).
    """

    def __init__(self, net: NetFactory = RecurrentNet, in_channels: int = 17, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        save_plain_callables(self)  # checkpoints load with weights_only=True
        self.in_channels = in_channels
        self.net = net(in_channels, self.num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
