"""``StepTimer``: where training time goes, waiting for data vs computing, per epoch.

Example (command line, added to a task's callbacks):
    python scripts/train.py --config configs/images/hybrid_affectnet.yaml \\
        --trainer.callbacks+=facedep.experiment.step_timer.StepTimer --trainer.callbacks.synchronize=true
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

FED_BELOW = 0.10  # a loader "keeps the device fed" when under 10 % of the epoch is spent waiting for it


def batch_size_of(batch: Any) -> int | None:
    """Samples in a batch: the length of ``batch["x"]`` (or of the first tensor), else ``None``.

    >>> batch_size_of({"x": torch.zeros(5, 3)})
    5
    """
    if isinstance(batch, dict):
        batch = batch.get("x", next((v for v in batch.values() if isinstance(v, torch.Tensor)), None))
    elif isinstance(batch, (list, tuple)) and batch:
        batch = batch[0]
    return len(batch) if isinstance(batch, torch.Tensor) and batch.ndim > 0 else None


def summarize_epoch(waits: list[float], steps: list[float], samples: int, startup: float) -> dict[str, float]:
    """Totals and medians (ms) of one epoch; ``wait_fraction`` = waiting / (waiting + stepping).

    >>> summarize_epoch([0.01, 0.03], [0.09, 0.07], 64, 0.5)["wait_fraction"]
    0.2
    """
    wait, step = sum(waits), sum(steps)
    total = wait + step
    return {
        "steps": len(steps),
        "wait_fraction": round(wait / total, 4) if total else 0.0,
        "wait_ms": round(1000 * statistics.median(waits), 3) if waits else 0.0,
        "step_ms": round(1000 * statistics.median(steps), 3) if steps else 0.0,
        "samples_per_s": round(samples / total, 1) if total else 0.0,
        "startup_ms": round(1000 * startup, 1),
    }


class StepTimer(pl.Callback):
    """Per training step: *wait* (end of one batch -> start of the next: DataLoader fetch + transfer to the
    device) and *step* (forward, backward, optimizer). The first batch of an epoch is timed from the epoch
    start and reported as ``startup_ms`` (iterator and worker start-up), not as wait.

    Logs ``perf/wait_fraction``, ``perf/wait_ms``, ``perf/step_ms`` (medians), ``perf/samples_per_s`` each
    epoch and writes ``<log_dir>/step_times.json`` at the end, with ``fed`` = the last epoch's wait
    fraction below 10 %. ``synchronize``: wait for queued CUDA work at the end of every step, so GPU time is
    not counted as waiting (exact split, slightly slower training); off by default.

    Args:
        synchronize: ``torch.cuda.synchronize()`` after each step when training on CUDA.
    """

    def __init__(self, synchronize: bool = False) -> None:
        self.synchronize = synchronize
        self.epochs: list[dict[str, float]] = []
        self._reset(time.perf_counter())

    def _reset(self, now: float) -> None:
        self._epoch_start, self._last_end, self._step_start = now, None, None
        self._waits: list[float] = []
        self._steps: list[float] = []
        self._samples, self._startup = 0, 0.0

    def _sync(self, pl_module: pl.LightningModule) -> None:
        if self.synchronize and pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._reset(time.perf_counter())

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._last_end is None:
            self._startup = now - self._epoch_start
        else:
            self._waits.append(now - self._last_end)
        self._step_start = now
        self._samples += batch_size_of(batch) or 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._sync(pl_module)
        now = time.perf_counter()
        if self._step_start is not None:
            self._steps.append(now - self._step_start)
        self._last_end = now

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._steps:
            return
        summary = summarize_epoch(self._waits, self._steps, self._samples, self._startup)
        self.epochs.append({"epoch": trainer.current_epoch, **summary})
        pl_module.log_dict({f"perf/{k}": float(summary[k]) for k in ("wait_fraction", "wait_ms", "step_ms", "samples_per_s")})

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or not self.epochs:
            return
        folder = Path(trainer.log_dir or trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        last = self.epochs[-1]
        report = {"device": str(pl_module.device), "synchronized": self.synchronize,
                  "fed": last["wait_fraction"] < FED_BELOW, "epochs": self.epochs}
        (folder / "step_times.json").write_text(json.dumps(report, indent=2))
