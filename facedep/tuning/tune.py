"""Tune one outer fold: open (or join) the study, run this worker's trials, write the study's artefacts.

Example:
    python scripts/tune.py --config configs/demo.yaml --space configs/search/demo.yaml --trials 20
    # -> runs/demo-tune-fold0/{study.db, trials/, best.yaml, study.md, history.png, ...}
    python scripts/train.py --config configs/demo.yaml --config runs/demo-tune-fold0/best.yaml
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console

from facedep.tuning.artefacts import write_study_artefacts
from facedep.tuning.identity import claim_study, study_identity
from facedep.tuning.objective import Runner, TuningSetup, make_objective
from facedep.tuning.space import decode_params, load_space, write_best_config
from facedep.tuning.study import counts_by_state, default_storage, make_pruner, open_study, run_worker, worker_index
from facedep.tuning.study_markdown import redact_url
from facedep.tuning.study_tracking import log_study

console = Console()


@dataclass
class TuneOptions:
    """How to search: budget, storage, pruning, inner folds, seeds (the ``tune.py`` flags)."""

    trials: int = 20
    storage: str | None = None
    study: str | None = None
    fold: int | None = None
    folds: int | None = None
    inner_folds: int = 3
    pruner: str = "median"
    prune_startup: int = 4
    prune_warmup: int = 3
    seed: int = 0
    worker: int | None = None
    max_failures: int | None = None
    timeout: float | None = None
    heartbeat: int = 60
    study_dir: Path | None = None
    keep_checkpoints: bool = False
    threads: int | None = None


@dataclass
class TuneResult:
    """A study after this worker: where it is, its best trial (None without a complete trial) and ``best.yaml``."""

    study: optuna.Study
    study_dir: Path
    storage_label: str
    counts: dict[str, int]
    ran: int
    best_params: dict[str, Any] | None = None
    best_value: float | None = None
    best_number: int | None = None
    best_config: Path | None = None
    artefacts: dict[str, Path] = field(default_factory=dict)


class TuningError(ValueError):
    """A config that cannot be tuned (its DataModule cannot hold out an outer fold and split the rest)."""


def check_tunable_data(resolved: dict[str, Any]) -> None:
    """The config's DataModule must support inner folds (``supports_inner_folds``), else every trial would fail."""
    import importlib

    path = str((resolved.get("data") or {}).get("class_path") or "")
    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise TuningError(f"cannot import the DataModule {path!r}") from None
    if not getattr(cls, "supports_inner_folds", False):
        raise TuningError(f"{name} cannot be tuned: it does not support inner subject folds (tuning runs on "
                          "AU-sequence, landmark and face-image DataModules)")


def prepare(config: str | None, space_path: str, overrides: list[str], options: TuneOptions) -> TuningSetup:
    """The trial setup of one outer fold (checks the space against the config before anything runs)."""
    from facedep.experiment.config_values import resolved_config
    from facedep.tuning.pruning import epochs_of

    space = load_space(space_path, config, overrides)
    resolved = resolved_config(config, overrides)  # every config file and override, as training parses them
    check_tunable_data(resolved)
    data = dict((resolved.get("data") or {}).get("init_args") or {})
    run, trainer, tracked = resolved.get("run") or {}, resolved.get("trainer") or {}, resolved.get("tracking") or {}
    fold = int(data.get("fold", 0)) if options.fold is None else options.fold
    num_folds = int(data.get("num_folds", 5)) if options.folds is None else options.folds
    name, output_dir = str(run.get("name") or "run"), Path(str(run.get("output_dir") or "runs"))
    split = data.get("split", "kfold")
    study_name = options.study or (f"{name}-tune" if split == "column" else f"{name}-tune-fold{fold}")
    max_epochs = epochs_of(trainer)
    tuned_epochs = [p for p in space if p.key == "trainer.max_epochs"]
    if tuned_epochs:  # the pruner's step stride between inner folds must exceed every trial's epochs
        top = tuned_epochs[0].high if tuned_epochs[0].type == "int" else max(int(c) for c in tuned_epochs[0].choices)
        max_epochs = max(epochs_of(trainer, default=0), int(top))
    tracking = {"project": str(tracked.get("project") or "facedep"), "mode": str(tracked.get("wandb") or "auto"),
                "private": bool(run.get("privacy")), "tags": [str(t) for t in (tracked.get("tags") or [])]}
    identity = study_identity(resolved, space, fold if split != "column" else None,
                              num_folds if split != "column" else None, options.inner_folds)
    return TuningSetup(config=config, overrides=list(overrides), space=space,
                       study_dir=options.study_dir or output_dir / study_name, study_name=study_name, fold=fold,
                       num_folds=num_folds, inner_folds=options.inner_folds, max_epochs=max_epochs, tracking=tracking,
                       identity=identity)


def tune(config: str | None, space_path: str, overrides: list[str], options: TuneOptions,
         runner: Runner | None = None) -> TuneResult:
    """Run this worker on the study of one outer fold, then write ``best.yaml`` and the study's artefacts."""
    if options.threads:  # several workers on one machine: each its share of the cores
        import torch

        torch.set_num_threads(int(options.threads))
    setup = prepare(config, space_path, overrides, options)
    setup.runner = runner
    setup.keep_checkpoints = options.keep_checkpoints
    setup.study_dir.mkdir(parents=True, exist_ok=True)
    storage = options.storage or default_storage(setup.study_dir)
    pruner = make_pruner(options.pruner, options.prune_startup, options.prune_warmup)
    study = open_study(setup.study_name, storage, pruner, seed=options.seed, worker=worker_index(options.worker),
                       heartbeat_interval=options.heartbeat)
    claim_study(study, setup.identity)
    study.set_user_attr("outer_fold", setup.fold)
    study.set_user_attr("inner_folds", setup.inner_folds)
    study.set_user_attr("max_epochs", setup.max_epochs)  # inner fold k reports at step k * max_epochs + epoch
    label = redact_url(storage)
    console.print(f"study {setup.study_name} ({label}): {counts_by_state(study)}; target {options.trials} trials")
    ran = run_worker(study, make_objective(setup), options.trials,
                     options.max_failures if options.max_failures is not None else max(options.trials, 3),
                     timeout=options.timeout)
    return finish(study, setup, config, label, ran)


def finish(study: optuna.Study, setup: TuningSetup, config: str | None, storage_label: str, ran: int) -> TuneResult:
    """Write ``best.yaml``, the study's plots, ``study.md`` / ``study.json`` and its W&B run."""
    result = TuneResult(study=study, study_dir=setup.study_dir, storage_label=storage_label,
                        counts=counts_by_state(study), ran=ran)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        result.best_params = decode_params(best.params, setup.space)
        result.best_value, result.best_number = float(best.value), best.number
        comment = (f"best trial {best.number} of study {setup.study_name}: mean inner validation selection score "
                   f"{best.value:.4f} (outer fold {setup.fold}, {setup.inner_folds} inner folds)")
        result.best_config = write_best_config(result.best_params, setup.study_dir / "best.yaml", comment=comment)
    result.artefacts = write_study_artefacts(study, setup.study_dir, title=f"Tuning: {setup.study_name}",
                                             storage_label=storage_label, base_config=config,
                                             best_config=result.best_config)
    tracking = setup.tracking or {}
    log_study(study, result.artefacts, str(tracking.get("project", "facedep")), f"{setup.study_name}-study",
              setup.study_dir, str(tracking.get("mode", "disabled")), bool(tracking.get("private")), group=setup.study_name)
    console.print(f"study {setup.study_name}: {result.counts}; this worker ran {ran} trial(s)")
    if result.best_config is not None:
        console.print(f"best trial {result.best_number}: {result.best_value:.4f} {result.best_params}\n"
                      f"best config: {result.best_config}  (train: --config {config} --config {result.best_config})")
    return result
