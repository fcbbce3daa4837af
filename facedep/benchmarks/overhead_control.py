"""The control of ``benchmark.py overhead``: the smallest LightningModule that trains the same net.

``training_step`` is forward + the same loss, nothing logged, no metrics, AdamW (lr 1e-3) as the plain
loop: what it loses against the plain loop is Lightning's own per-step cost (hooks, closure, batch
transfer, progress tracking); what our module loses beyond it is ours.

Example:
    >>> import torch
    >>> m = MinimalModule(torch.nn.Linear(3, 2), torch.nn.CrossEntropyLoss())
    >>> float(m.training_step({"x": torch.zeros(4, 3), "y": torch.zeros(4, dtype=torch.long)}, 0).detach()) > 0
    True
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn


class MinimalModule(pl.LightningModule):
    """forward + loss per step, AdamW; ``channels_last`` converts image inputs as our image module does."""

    def __init__(self, net: nn.Module, loss_fn: nn.Module, channels_last: bool = False, lr: float = 1e-3) -> None:
        super().__init__()
        self.net, self.loss_fn, self.channels_last, self.lr = net, loss_fn, channels_last, lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.loss_fn(self(batch["x"]), batch["y"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr)
