"""Callbacks: ``SampleAudit`` records which training samples each rank saw (to audit data sharding).

Example (YAML):
    trainer:
      callbacks:
        - class_path: facedep.callbacks.SampleAudit
"""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch


class SampleAudit(pl.Callback):
    """Writes ``<log_dir>/samples_rank<r>.json``: the training sample indices this rank saw, per epoch."""

    def __init__(self) -> None:
        self.seen: dict[int, list[int]] = {}

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict, batch_idx: int) -> None:
        index = batch.get("index") if isinstance(batch, dict) else None
        if isinstance(index, torch.Tensor):
            self.seen.setdefault(trainer.current_epoch, []).extend(index.tolist())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        folder = Path(trainer.log_dir or trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"samples_rank{trainer.global_rank}.json").write_text(json.dumps(self.seen))
