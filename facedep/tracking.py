"""Experiment tracking: Weights & Biases (offline without an account) beside a CSV logger.

W&B never waits for a login: without ``WANDB_API_KEY`` (or a ``~/.netrc`` entry for the W&B
host) the run is written offline under the run folder and can be synced later with
``wandb sync <run_dir>/wandb/offline-run-*``.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Literal

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

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


def make_loggers(run_dir: Path, run_name: str, project: str, wandb_mode: WandbMode = "auto") -> list[Logger]:
    """CSV logger first (its folder is the run folder: ``trainer.log_dir == run_dir``), then W&B."""
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="", version="")]
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
