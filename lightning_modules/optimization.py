"""Optimiser and scheduler from the config's callables, shared by every facedep LightningModule.

Example:
    >>> import functools, torch
    >>> params = [torch.nn.Parameter(torch.zeros(1))]
    >>> config = optimizers_from(params, torch.optim.AdamW, functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau))
    >>> config["lr_scheduler"]["monitor"], config["lr_scheduler"]["interval"]
    ('val/loss', 'epoch')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable


def optimizers_from(
    parameters: Iterable[torch.nn.Parameter], optimizer: OptimizerCallable, scheduler: LRSchedulerCallable | None
) -> torch.optim.Optimizer | dict[str, Any]:
    """What ``configure_optimizers`` returns: the optimiser alone, or with its epoch-wise scheduler
    (``ReduceLROnPlateau`` watches ``val/loss``)."""
    built = optimizer(parameters)
    if scheduler is None:
        return built
    schedule = scheduler(built)
    config: dict[str, Any] = {"scheduler": schedule, "interval": "epoch"}
    if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
        config["monitor"] = "val/loss"
    return {"optimizer": built, "lr_scheduler": config}
