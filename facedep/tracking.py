"""Experiment tracking: Weights & Biases (offline without an account) beside a CSV logger.

W&B never waits for a login: without ``WANDB_API_KEY`` (or a ``~/.netrc`` entry for the W&B
host) the run is written offline under the run folder and can be synced later with
``wandb sync <run_dir>/wandb/offline-run-*``.
"""

from __future__ import annotations

import csv
import netrc
import os
from pathlib import Path
from typing import Literal

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

WandbMode = Literal["auto", "online", "offline", "disabled"]


def _has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(mode: WandbMode = "auto") -> str:
    """``online`` only with credentials and no ``WANDB_MODE=offline|disabled`` in the environment."""
    env = os.environ.get("WANDB_MODE", "").lower()
    if mode == "disabled" or env in ("disabled", "dryrun"):
        return "disabled"
    if mode == "offline" or env == "offline":
        return "offline"
    if mode == "online":
        return "online" if _has_wandb_credentials() else "offline"
    return "online" if _has_wandb_credentials() else "offline"


class _AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing ``metrics.csv`` is kept and appended to.

    Lightning's writer deletes ``metrics.csv`` when it starts; here its header becomes the known
    columns, so new rows are appended (and a new column rewrites the file with the old rows kept).
    """

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
            self.metrics_keys = next(csv.reader(handle), [])


class AppendingCSVLogger(CSVLogger):
    """CSVLogger that appends to the run's ``metrics.csv`` (a resumed run keeps its earlier epochs)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment


def make_loggers(
    run_dir: Path, run_name: str, project: str, wandb_mode: WandbMode = "auto", resume: bool = False
) -> list[Logger]:
    """CSV logger first (its folder is the run folder: ``trainer.log_dir == run_dir``), then W&B.

    With ``resume`` the CSV logger appends to the existing ``metrics.csv`` instead of replacing it.
    """
    csv_logger = AppendingCSVLogger if resume else CSVLogger
    loggers: list[Logger] = [csv_logger(save_dir=str(run_dir), name="", version="")]
    mode = resolve_wandb_mode(wandb_mode)
    if mode != "disabled":
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(
            WandbLogger(
                project=project,
                name=run_name,
                save_dir=str(run_dir),
                offline=mode == "offline",
                settings=_wandb_settings(),
            )
        )
    return loggers


def _wandb_settings():  # noqa: ANN202 (wandb.Settings is imported lazily)
    import wandb

    return wandb.Settings(console="off", x_disable_stats=True)


def wandb_run_dir(loggers: list[Logger]) -> str | None:
    """Folder of the W&B run, if one was started."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            return str(Path(logger.experiment.dir).parent)
    return None
