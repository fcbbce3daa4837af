"""Multimodal tasks: depression classes or scores from several face views (AUs, landmarks, face crops) at once.

Batches are the :class:`~datamodules.MultimodalDataModule`'s: ``x`` a dict of the run's views plus ``present``
``(B, V)``; ``in_channels`` (``{"aus": 17, "landmarks": 3, "faces": 3}`` or a subset) is linked from its
``num_channels``. The net (default :class:`~lightning_modules.nets.FusionNet`) is called as
``net(in_channels, num_outputs)``; nested factories in its arguments (the per-view encoders) are saved as plain
class-path dicts, so checkpoints load with ``weights_only=True``.

Example (YAML):
    model:
      class_path: lightning_modules.MultimodalClassifier
      init_args:
        net:
          class_path: lightning_modules.nets.FusionNet
          init_args:
            embed_dim: 16
            aus_encoder: {class_path: lightning_modules.nets.RecurrentNet, init_args: {hidden_size: 16, cell: gru}}
        optimizer: {class_path: torch.optim.AdamW, init_args: {lr: 0.001}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from lightning_modules.base import BaseClassifier
from lightning_modules.hparams import INSTANTIATOR, plain_callable, save_plain_callables
from lightning_modules.nets.fusion import FusionNet
from lightning_modules.sequence_regressor import SequenceRegressor

FusionFactory = Callable[[dict[str, int], int], nn.Module]
"""A net class (or partial) called as ``net(in_channels: dict[str, int], num_outputs)``."""

DEFAULT_IN_CHANNELS: dict[str, int] = {"aus": 17, "landmarks": 3, "faces": 3}
"""``in_channels`` when none is given (a CLI run links the DataModule's ``num_channels``)."""

Views = Mapping[str, torch.Tensor]


def plain_tree(value: Any) -> Any:
    """Classes and keyword partials anywhere in ``value`` (nested ``init_args`` too) -> class-path dicts.

    >>> from functools import partial
    >>> from lightning_modules.nets import FusionNet, RecurrentNet
    >>> plain_tree(partial(FusionNet, aus_encoder=partial(RecurrentNet, hidden_size=8)))["init_args"]["aus_encoder"]
    {'class_path': 'lightning_modules.nets.recurrent.RecurrentNet', 'init_args': {'hidden_size': 8}}
    """
    value = plain_callable(value)
    if isinstance(value, dict):
        return {key: plain_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain_tree(item) for item in value)
    return value


def save_plain_nets(module: pl.LightningModule) -> None:
    """After ``save_hyperparameters()``: ``net`` and the factories nested in it become class-path dicts."""
    save_plain_callables(module)
    if "net" in module.hparams:
        plain = plain_tree(module.hparams["net"])
        if plain != module.hparams["net"]:
            module.hparams["net"] = plain
            module.hparams.setdefault("_instantiator", INSTANTIATOR)


def batch_size_of(x: Views) -> int:
    """Windows in a multimodal ``x`` (the length of ``present``, else of the first view)."""
    first = x["present"] if "present" in x else next(iter(x.values()))
    return len(first)


class MultimodalClassifier(BaseClassifier):
    """Classifies windows of several views with one fused net (see the module docstring).

    Args:
        net: ``net(in_channels, num_outputs)`` factory (class_path/init_args); default
            :class:`~lightning_modules.nets.FusionNet` with its defaults.
        in_channels: channels per view, in view order (linked from the DataModule's ``num_channels``);
            None = ``{"aus": 17, "landmarks": 3, "faces": 3}``.
        **kwargs: see :class:`~lightning_modules.base.BaseClassifier` (num_classes, loss, class_weights, ...).
    """

    def __init__(self, net: FusionFactory = FusionNet, in_channels: dict[str, int] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        self.in_channels = dict(in_channels or DEFAULT_IN_CHANNELS)
        self.hparams["in_channels"] = self.in_channels  # the views a checkpoint rebuilds, even when left to the default
        save_plain_nets(self)  # checkpoints load with weights_only=True
        self.net = net(self.in_channels, self.num_outputs)

    @property
    def views(self) -> list[str]:
        """The views, in the order of ``present``'s columns."""
        return list(self.in_channels)

    def forward(self, x: Views) -> torch.Tensor:
        """``x``: views + ``present`` -> logits ``(B, num_outputs)``."""
        return self.net(x)


class MultimodalRegressor(SequenceRegressor):
    """Regresses one score per window from several views with one fused net.

    Args:
        net: ``net(in_channels, 1)`` factory; default :class:`~lightning_modules.nets.FusionNet`.
        in_channels: channels per view (linked from the DataModule); None = ``{"aus": 17, "landmarks": 3, "faces": 3}``.
        **kwargs: see :class:`~lightning_modules.sequence_regressor.SequenceRegressor` (loss, standardize_target,
            clip, selection_metric, optimizer, ...).
    """

    def __init__(self, net: FusionFactory = FusionNet, in_channels: dict[str, int] | None = None, **kwargs: Any) -> None:
        super().__init__(net=net, in_channels=dict(in_channels or DEFAULT_IN_CHANNELS), **kwargs)
        self.hparams["in_channels"] = self.in_channels
        save_plain_nets(self)  # checkpoints load with weights_only=True

    @property
    def views(self) -> list[str]:
        """The views, in the order of ``present``'s columns."""
        return list(self.in_channels)

    def net_output(self, x: Views) -> torch.Tensor:  # type: ignore[override]
        """Views + ``present`` -> ``(B,)`` raw (standardised) net outputs."""
        return self.net(x).reshape(batch_size_of(x))
