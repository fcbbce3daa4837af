"""Experiment tracking: Weights & Biases (offline without an account) beside a CSV logger.

W&B never waits for a login: without ``WANDB_API_KEY`` (or a ``~/.netrc`` entry for the W&B
host) the run is written offline under the run folder and can be synced later with
``wandb sync <run_dir>/wandb/offline-run-*``.

Private runs (``run.privacy``) start W&B without host name, user, program path, command line, git
state, code, requirements or machine information (:func:`wandb_settings`), and their tracker
tables carry subject pseudonyms (:func:`log_subject_predictions`).
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
from pytorch_lightning.loggers import Logger, WandbLogger

from facedep.experiment.csv_logs import AppendingCSVLogger, RunFolderCSVLogger

if TYPE_CHECKING:
    from facedep.experiment.privacy import RunPrivacy

WandbMode = Literal["auto", "online", "offline", "disabled"]


def _has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(mode: WandbMode = "auto") -> str:
    """``online`` only with credentials and no ``WANDB_MODE=offline|disabled`` in the environment.

    ``dryrun`` is W&B's old name for offline (Lightning's WandbLogger sets it for every offline run, so
    the next run in the process, e.g. the next fold, sees it): it means offline, not disabled.
    """
    env = os.environ.get("WANDB_MODE", "").lower()
    if mode == "disabled" or env == "disabled":
        return "disabled"
    if mode == "offline" or env in ("offline", "dryrun"):
        return "offline"
    if mode == "online":
        return "online" if _has_wandb_credentials() else "offline"
    return "online" if _has_wandb_credentials() else "offline"


def make_loggers(
    run_dir: Path, run_name: str, project: str, wandb_mode: WandbMode = "auto", resume: bool = False,
    private: bool = False, group: str | None = None, job_type: str | None = None, tags: Sequence[str] = (),
) -> list[Logger]:
    """CSV logger first (its folder is the run folder: ``trainer.log_dir == run_dir``), then W&B.

    With ``resume`` the CSV logger appends to the existing ``metrics.csv`` instead of replacing it;
    ``private`` (``run.privacy``) keeps host name, command line and code out of the W&B run. ``group`` and
    ``job_type`` (a cross-validation's name and ``fold``/``seed``) group the W&B runs and ``tags`` label them.
    """
    csv_logger = AppendingCSVLogger if resume else RunFolderCSVLogger
    loggers: list[Logger] = [csv_logger(save_dir=str(run_dir), name="", version="")]
    mode = resolve_wandb_mode(wandb_mode)
    if mode != "disabled":
        os.environ.setdefault("WANDB_SILENT", "true")
        wandb_logger = WandbLogger(
            project=project,
            name=run_name,
            save_dir=str(run_dir),
            offline=mode == "offline",
            settings=wandb_settings(private),
            group=group,
            job_type=job_type,
            tags=list(tags),
        )
        # Lightning always passes ``anonymous`` (None by default); W&B then warns that the setting has no effect.
        wandb_logger._wandb_init.pop("anonymous", None)
        loggers.append(wandb_logger)
    return loggers


PRIVATE_WANDB_SETTINGS: dict[str, object] = {
    "x_disable_meta": True,  # no wandb-metadata.json: host, username, program, args, root, GPU, ...
    "x_disable_machine_info": True,
    "disable_git": True,
    "disable_code": True,
    "save_code": False,
    "x_save_requirements": False,
    "host": "",
    "username": "",
    "email": "",
    "program": "",
}
"""``wandb.Settings`` fields that keep the host, user and command line out of a private run."""


def wandb_settings(private: bool = False):  # noqa: ANN201 (wandb.Settings is imported lazily)
    """Our W&B settings: console and system stats off; with ``private`` also :data:`PRIVATE_WANDB_SETTINGS`."""
    import wandb

    return wandb.Settings(console="off", x_disable_stats=True, **(PRIVATE_WANDB_SETTINGS if private else {}))


def log_subject_predictions(loggers: list[Logger], table: pd.DataFrame, privacy: RunPrivacy | None = None,
                            key: str = "test/predictions_subject") -> None:
    """The subject-level prediction table (``name`` = subject id) as a W&B table ``key``.

    Columns: ``subject`` (the id, or its pseudonym with ``privacy``), ``y_true``, ``prob_<class>``.
    """
    experiments = [logger.experiment for logger in loggers if isinstance(logger, WandbLogger)]
    if not experiments:
        return
    import wandb

    subjects = table["name"].astype(str)
    rows = table.drop(columns=[c for c in ("id", "name") if c in table.columns])
    rows.insert(0, "subject", subjects.map(privacy.pseudonym) if privacy is not None else subjects)
    for experiment in experiments:
        experiment.log({key: wandb.Table(dataframe=rows)})


def log_checkpoint_artifact(loggers: list[Logger], checkpoints: dict[str, str], metadata: dict[str, object]) -> None:
    """``checkpoints`` (``{alias: path}``, e.g. best and last) as one W&B ``model`` artifact of each W&B run.

    Logged when training ends (``run.log_checkpoints``); offline runs record it and ``wandb sync`` uploads it.
    Lightning's own ``log_model`` refuses offline runs, hence this.
    """
    experiments = [logger.experiment for logger in loggers if isinstance(logger, WandbLogger)]
    files = {alias: Path(path) for alias, path in checkpoints.items() if path and Path(path).is_file()}
    if not experiments or not files:
        return
    import wandb

    for experiment in experiments:
        artifact = wandb.Artifact(name=f"model-{experiment.id}", type="model", metadata=metadata)
        for path in dict.fromkeys(files.values()):
            artifact.add_file(str(path), name=path.name)
        experiment.log_artifact(artifact, aliases=list(files))


def wandb_run_dir(loggers: list[Logger]) -> str | None:
    """Folder of the W&B run, if one was started."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            return str(Path(logger.experiment.dir).parent)
    return None
