"""The facedep command line: LightningCLI with class_path configs, dotted overrides and run folders.

Every run lives in ``<run.output_dir>/<run.name>/``: ``config.yaml`` (fully resolved),
``metrics.csv``, ``checkpoints/{best-*,last}.ckpt``, ``wandb/``, ``data_report.json``,
``metrics.json`` and ``predictions_test_<level>.csv``.

Before the trainer and loggers exist (so before anything is written), the run folder must be
writable and a ``--run.resume true`` must pass :func:`facedep.resume.check_resume`.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from pytorch_lightning import LightningDataModule, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import WandbLogger

from datamodules.output_folder import check_output_folder
from facedep.config_hints import hints_for_args
from facedep.resume import check_resume
from facedep.tracking import make_loggers

MONITOR = "val/selection_score"
"""Validation subject-level macro-F1, ties broken by validation NLL (see BaseClassifier)."""

# Cross-validation calls the CLI in-process with ``args``; Lightning warns about that every time.
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")


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
            super().setup(trainer, pl_module, stage)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.after_restore:
            super().setup(trainer, pl_module, "fit")

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.parser.dump(self.config, skip_none=False, format="yaml")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import yaml

                logger.experiment.config.update(yaml.safe_load(config), allow_val_change=True)


class FacedepCLI(LightningCLI):
    """LightningCLI that links data dimensions into the model and builds run folders and loggers."""

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
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
        parser.add_argument("--tracking.project", type=str, default="facedep", help="W&B project.")
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

    def resolved_config(self) -> dict[str, Any]:
        """The parsed config as ``config.yaml`` records it."""
        import yaml

        return yaml.safe_load(self.parser.dump(self.config, skip_none=False, format="yaml"))

    def before_instantiate_classes(self) -> None:
        """Refuse a bad resume or an unwritable run folder before the trainer, loggers or config.yaml exist."""
        resume = bool(self.config["run"]["resume"])
        if resume:
            check_resume(self.run_dir, self.resolved_config())
        check_output_folder(self.run_dir)
        self.save_config_kwargs = {**self.save_config_kwargs, "after_restore": resume}

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        if trainer_config.get("logger") in (None, True):
            kwargs["logger"] = make_loggers(
                self.run_dir,
                self.config["run"]["name"],
                self.config["tracking"]["project"],
                self.config["tracking"]["wandb"],
                resume=bool(self.config["run"]["resume"]),
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
        kwargs["callbacks"] = callbacks
        kwargs.setdefault("default_root_dir", str(self.run_dir))
        return super().instantiate_trainer(**kwargs)
