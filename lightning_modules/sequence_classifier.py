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
from typing import Literal

import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from lightning_modules.base import BaseClassifier
from lightning_modules.nets import RecurrentNet

NetFactory = Callable[[int, int], nn.Module]
"""A net class (or partial) called as ``net(in_channels, num_outputs)``."""


class SequenceClassifier(BaseClassifier):
    """Classifies windows ``(batch, time, channels)`` with a plain ``nn.Module`` net.

    Args:
        net: the net's ``class_path``/``init_args`` without ``in_channels``/``num_classes``,
            which come from the data.
        in_channels: channels per frame (linked from the DataModule by the CLI).
        Other arguments: see :class:`BaseClassifier`.
    """

    def __init__(
        self,
        net: NetFactory = RecurrentNet,
        in_channels: int = 17,
        num_classes: int = 2,
        class_names: list[str] | None = None,
        loss: Literal["ce", "bce"] = "ce",
        focal_gamma: float = 0.0,
        class_weights: Literal["auto", "none"] | list[float] = "auto",
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(num_classes, class_names, loss, focal_gamma, class_weights, optimizer, lr_scheduler)
        self.save_hyperparameters()
        self.in_channels = in_channels
        self.net = net(in_channels, self.num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
