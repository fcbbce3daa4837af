"""StepTimer splits training time into waiting for data and stepping; a slow loader shows up as waiting."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from facedep.experiment.step_timer import StepTimer


class SleepyData(torch.utils.data.Dataset):
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __len__(self) -> int:
        return 32

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        time.sleep(self.delay)
        return {"x": torch.full((4,), float(i)), "y": torch.tensor(i % 2)}


class Tiny(pl.LightningModule):
    def __init__(self, step_delay: float) -> None:
        super().__init__()
        self.layer, self.step_delay = nn.Linear(4, 2), step_delay

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        time.sleep(self.step_delay)
        return nn.functional.cross_entropy(self.layer(batch["x"]), batch["y"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(tmp_path: Path, item_delay: float, step_delay: float) -> tuple[StepTimer, dict]:
    timer = StepTimer()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                         callbacks=[timer])
    trainer.fit(Tiny(step_delay), torch.utils.data.DataLoader(SleepyData(item_delay), batch_size=8))
    return timer, json.loads((tmp_path / "step_times.json").read_text())


def test_slow_loader_is_waiting_and_slow_step_is_not(tmp_path: Path) -> None:
    # Delays far above a step's own cost (a few ms, tens on a loaded 2-core machine) so that the
    # fractions hold under load: ~160 ms per batch fetch, then ~100 ms per step.
    slow_loader, report = fit(tmp_path / "a", item_delay=0.02, step_delay=0.0)
    slow_step, report_b = fit(tmp_path / "b", item_delay=0.0, step_delay=0.1)
    loader_epoch, step_epoch = slow_loader.epochs[-1], slow_step.epochs[-1]
    assert loader_epoch["steps"] == 4 and loader_epoch["wait_fraction"] > 0.6
    assert loader_epoch["wait_ms"] >= 120
    assert step_epoch["wait_fraction"] < 0.2 and step_epoch["step_ms"] >= 90
    assert report["fed"] is False and report_b["fed"] is (step_epoch["wait_fraction"] < 0.1)
    assert [e["epoch"] for e in report["epochs"]] == [0, 1]
    # first batch: from the epoch start, kept out of the waits
    assert loader_epoch["startup_ms"] >= 120
