"""Hyper-parameters that a ``torch.load(weights_only=True)`` can read back.

A LightningModule built by hand (``SequenceClassifier(net=partial(ImageCNN, ...))``) would save the
class or ``functools.partial`` itself, a pickled global that a safe load refuses. :func:`save_plain_callables`
stores such values as the ``{"class_path", "init_args"}`` dicts a LightningCLI config holds, and marks the
hyper-parameters with Lightning's ``instantiate_module`` so that ``load_from_checkpoint`` (and
:mod:`facedep.inference.checkpoints`) rebuild them through jsonargparse as the CLI does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import pytorch_lightning as pl

INSTANTIATOR = "pytorch_lightning.cli.instantiate_module"
"""What LightningCLI writes as ``_instantiator``: builds class-path dicts with jsonargparse."""


def plain_callable(value: Any) -> Any:
    """A class or a keyword-only ``partial`` of a class -> ``{"class_path", "init_args"}``; anything else unchanged.

    >>> from torch.optim import AdamW
    >>> plain_callable(functools.partial(AdamW, lr=0.1))
    {'class_path': 'torch.optim.adamw.AdamW', 'init_args': {'lr': 0.1}}
    >>> plain_callable(None) is None
    True
    """
    func, kwargs = value, {}
    if isinstance(value, functools.partial) and not value.args:
        func, kwargs = value.func, dict(value.keywords)
    if not isinstance(func, type):
        return value
    return {"class_path": f"{func.__module__}.{func.__qualname__}", "init_args": kwargs}


def save_plain_callables(module: pl.LightningModule, names: Iterable[str] = ("net", "optimizer", "lr_scheduler")) -> None:
    """After ``save_hyperparameters()``: classes/partials among ``names`` become class-path dicts (see module doc)."""
    changed = False
    for name in names:
        if name in module.hparams:
            plain = plain_callable(module.hparams[name])
            if plain is not module.hparams[name]:
                module.hparams[name] = plain
                changed = True
    if changed:
        module.hparams.setdefault("_instantiator", INSTANTIATOR)
