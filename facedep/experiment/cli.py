"""The facedep command line: LightningCLI with class_path configs, dotted overrides and run folders.

Every run lives in ``<run.output_dir>/<run.name>/``: ``config.yaml`` (fully resolved),
``metrics.csv``, ``checkpoints/{best-*,last}.ckpt``, ``wandb/``, ``data_report.json``,
``metrics.json`` and ``predictions_test_<level>.csv``. With ``--run.privacy true`` these hold no
absolute path and the tracker gets no host name, command line or subject id (see facedep/experiment/privacy.py).

Before the trainer and loggers exist (so before anything is written), the run folder must be
writable and a ``--run.resume true`` must pass :func:`facedep.experiment.resume.check_resume`.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning import Callback, LightningDataModule, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import WandbLogger

from datamodules.output_folder import check_output_folder
from facedep.experiment.config_hints import hints_for_args
from facedep.experiment.privacy import SALT_FILE, PrivateCheckpointPaths, RunPrivacy
from facedep.experiment.resume import check_resume
from facedep.experiment.tracking import make_loggers

MONITOR = "val/selection_score"
"""Validation subject-level macro-F1, ties broken by validation NLL (see BaseClassifier)."""

# Cross-validation calls the CLI in-process with ``args``; Lightning warns about that every time.
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")


def run_privacy(config: Any) -> RunPrivacy | None:
    """The run's :class:`RunPrivacy` when ``run.privacy`` is on (``config``: the CLI's parsed config)."""
    if not config["run"]["privacy"]:
        return None
    manifest = config.get("data.init_args.manifest") if hasattr(config, "get") else None
    if not manifest:
        raise ValueError("run.privacy needs data.init_args.manifest: data paths are written relative to the manifest's folder")
    output_dir = Path(config["run"]["output_dir"])
    run_dir = output_dir / config["run"]["name"]
    return RunPrivacy(manifest, run_dir, config["run"]["salt_file"] or output_dir / SALT_FILE)


def private_config(config: Any, privacy: RunPrivacy) -> Any:
    """A copy of the parsed config with data paths relative to the manifest folder, run paths to the run folder."""
    clone = privacy.scrub(config)
    for key in ("data.init_args.manifest", "data.init_args.cache_dir"):
        if clone.get(key):
            clone[key] = privacy.data_path(config[key])
    clone["run.output_dir"] = privacy.run_path(config["run"]["output_dir"])
    return clone


class TrackerConfigCallback(SaveConfigCallback):
    """Saves ``config.yaml`` in the run folder and sends the resolved config to W&B (rank zero).

    With ``after_restore`` (a resumed run) it is written when training starts, once the checkpoint
    has been restored, so a resume that fails while loading leaves the saved config untouched.
    """

    def __init__(self, *args: Any, after_restore: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after_restore = after_restore

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if not (self.after_restore and stage == "fit"):
            self._save_once(trainer, pl_module, stage)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.after_restore:
            self._save_once(trainer, pl_module, "fit")

    def _save_once(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Lightning's save (once per run); with ``run.privacy`` the saved config has relative paths."""
        privacy = None if self.already_saved else run_privacy(self.config)
        if privacy is not None:
            self.config = private_config(self.config, privacy)
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.parser.dump(self.config, skip_none=False, format="yaml")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import yaml

                logger.experiment.config.update(yaml.safe_load(config), allow_val_change=True)


class FacedepCLI(LightningCLI):
    """LightningCLI that links data dimensions into the model and builds run folders and loggers."""

    def __init__(self, args: list[str] | None = None, extra_callbacks: Sequence[Callback] = (), **kwargs: Any) -> None:
        self.extra_callbacks = list(extra_callbacks)  # e.g. a tuning trial's pruning callback (not in any config)
        super().__init__(
            model_class=LightningModule,
            datamodule_class=LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=TrackerConfigCallback,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"parser_mode": "omegaconf"},
            seed_everything_default=0,
            run=False,
            args=args,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--run.output_dir", type=str, default="runs", help="Folder that holds run folders.")
        parser.add_argument("--run.name", type=str, default="run", help="Run folder name (and tracker run name).")
        parser.add_argument("--run.resume", type=bool, default=False, help="Resume from the run's last.ckpt if any.")
        parser.add_argument("--run.test", type=bool, default=True, help="Test the best checkpoint after fitting.")
        parser.add_argument(
            "--run.privacy", type=bool, default=False,
            help="No absolute path in the run folder (data paths relative to the manifest), no host name or command "
                 "line in W&B, subject ids in tracker tables replaced by stable pseudonyms (facedep/experiment/privacy.py).",
        )
        parser.add_argument(
            "--run.salt_file", type=str | None, default=None,
            help="Salt of the subject pseudonyms (made if missing); default <run.output_dir>/.privacy_salt.",
        )
        parser.add_argument(
            "--run.log_checkpoints", type=bool, default=False,
            help="Log the best and last checkpoints as a W&B artifact when training ends.",
        )
        parser.add_argument(
            "--run.explain", type=bool, default=False,
            help="After testing, explain the model on the test subjects only: <run_dir>/explanations/ (AU models: "
                 "permutation importance per AU and integrated gradients over time; landmark models: region occlusion; "
                 "face-image models: Grad-CAM or attention on test faces; fusion models: each view's contribution).",
        )
        parser.add_argument("--tracking.project", type=str, default="facedep", help="W&B project.")
        parser.add_argument("--tracking.tags", type=list[str], default=[], help="W&B tags of the run.")
        parser.add_argument(
            "--tracking.group", type=str | None, default=None,
            help="W&B group (set by cross-validation: its name; not needed on the command line).",
        )
        parser.add_argument(
            "--tracking.job_type", type=str | None, default=None,
            help="W&B job type (set by cross-validation: fold or seed; not needed on the command line).",
        )
        parser.add_argument(
            "--tracking.wandb", type=str, default="auto", help="W&B mode: auto (offline without login), online, offline, disabled."
        )
        parser.link_arguments("data.num_channels", "model.init_args.in_channels", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.init_args.class_names", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse; on failure also name mistyped keys and list the valid ones."""
        try:
            super().parse_arguments(parser, args)
        except SystemExit as exc:
            if exc.code and isinstance(args, list):
                try:
                    hints = hints_for_args(args)
                except Exception:  # noqa: BLE001 (hints are best effort; the parser's error stands)
                    hints = []
                for hint in hints:
                    sys.stderr.write(f"error: {hint}\n")
            raise

    @property
    def run_dir(self) -> Path:
        return Path(self.config["run"]["output_dir"]) / self.config["run"]["name"]

    @property
    def privacy(self) -> RunPrivacy | None:
        """What ``run.privacy`` asks for (None when off)."""
        if not hasattr(self, "_privacy"):
            self._privacy = run_privacy(self.config)
        return self._privacy

    def resolved_config(self) -> dict[str, Any]:
        """The parsed config as ``config.yaml`` records it (with ``run.privacy``: its relative paths)."""
        import yaml

        config = self.config if self.privacy is None else private_config(self.config, self.privacy)
        return yaml.safe_load(self.parser.dump(config, skip_none=False, format="yaml"))

    def before_instantiate_classes(self) -> None:
        """Refuse a bad resume or an unwritable run folder before the trainer, loggers or config.yaml exist."""
        resume = bool(self.config["run"]["resume"])
        if resume:
            check_resume(self.run_dir, self.resolved_config())
        check_output_folder(self.run_dir)
        self.save_config_kwargs = {**self.save_config_kwargs, "after_restore": resume}

    def instantiate_classes(self) -> None:
        """Instantiate; with privacy, the DataModule's recorded hyper-parameters (checkpoints, hparams.yaml,
        W&B config) get relative data paths; the live DataModule keeps the paths it reads."""
        super().instantiate_classes()
        if self.privacy is not None:
            for store in (self.datamodule.hparams, getattr(self.datamodule, "_hparams_initial", None)):
                if store is not None:
                    self.privacy.scrub_datamodule_hparams(store)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        if trainer_config.get("logger") in (None, True):
            tracking = self.config["tracking"]
            kwargs["logger"] = make_loggers(
                self.run_dir,
                self.config["run"]["name"],
                tracking["project"],
                tracking["wandb"],
                resume=bool(self.config["run"]["resume"]),
                private=self.config["run"]["privacy"],
                group=tracking["group"],
                job_type=tracking["job_type"],
                tags=tracking["tags"] or (),
            )
        callbacks = list(trainer_config.get("callbacks") or [])
        if not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            callbacks.append(
                ModelCheckpoint(
                    dirpath=self.run_dir / "checkpoints",
                    filename="best-epoch{epoch:03d}",
                    auto_insert_metric_name=False,
                    monitor=MONITOR,
                    mode="max",
                    save_last=True,
                )
            )
        if self.privacy is not None:
            callbacks.append(PrivateCheckpointPaths(self.run_dir))
        kwargs["callbacks"] = callbacks + self.extra_callbacks
        kwargs.setdefault("default_root_dir", str(self.run_dir))
        return super().instantiate_trainer(**kwargs)
