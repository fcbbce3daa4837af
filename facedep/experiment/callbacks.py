"""Callbacks: ``SampleAudit`` records which training samples each rank saw (to audit data sharding);
``CompileModel`` runs the model through ``torch.compile``.

Example (YAML):
    trainer:
      callbacks:
        - class_path: facedep.experiment.callbacks.SampleAudit
        - class_path: facedep.experiment.callbacks.CompileModel
          init_args: {mode: max-autotune-no-cudagraphs}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


class CompileModel(pl.Callback):
    """``torch.compile`` the LightningModule's forward, in place (``nn.Module.compile``), before fitting.

    Compiling in place keeps the parameter names (no ``_orig_mod.`` prefix), so checkpoints load into an
    uncompiled model and ``predict.py`` as usual. The first steps are slow (compilation); a smaller last
    batch recompiles once with dynamic shapes. Needs a C++ compiler on CPU (inductor); on a GPU, Triton.
    Add it on the command line without touching a task's callbacks:
    ``--trainer.callbacks+=facedep.experiment.callbacks.CompileModel``.

    Args:
        mode / dynamic / fullgraph / backend: passed to ``torch.compile``.
    """

    def __init__(self, mode: str | None = None, dynamic: bool | None = None, fullgraph: bool = False,
                 backend: str = "inductor") -> None:
        self.options: dict[str, Any] = {"mode": mode, "dynamic": dynamic, "fullgraph": fullgraph, "backend": backend}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if getattr(pl_module, "_compiled_call_impl", None) is None:
            pl_module.compile(**self.options)
