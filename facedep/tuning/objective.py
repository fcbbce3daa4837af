"""The tuning objective: one trial = the mean best validation selection score over inner subject folds.

A trial trains ``inner_folds`` runs on the training subjects of one outer fold (``data.init_args.inner_fold``:
inner fold k validates, the others train; the outer test subjects are dropped before any file is read), never
tests (``run.test false``), and prunes on ``val/selection_score`` (:class:`~facedep.tuning.pruning.TrialPruning`).
Its folder ``<study>/trials/trial_NNNN/`` holds the inner run folders ``inner0..`` and ``trial.json``.
"""

from __future__ import annotations

import json
import math
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from facedep.experiment.cli import MONITOR
from facedep.tuning.pruning import TrialPruning
from facedep.tuning.space import Param, as_overrides, suggest
from facedep.tuning.trial_tracking import TrialTracker

Runner = Callable[..., dict]
"""``runner(args, callbacks=[...]) -> metrics.json`` (:func:`facedep.experiment.train.run_training`)."""


@dataclass
class TuningSetup:
    """Everything a trial needs: the base config and overrides, the space, where trials go, which outer fold."""

    config: str | None
    overrides: list[str]
    space: list[Param]
    study_dir: Path
    study_name: str
    fold: int
    num_folds: int
    inner_folds: int = 3
    max_epochs: int = 1000
    tracking: dict[str, Any] = field(default_factory=dict)  # project, mode, private, tags (W&B of each trial)
    runner: Runner | None = None
    identity: dict[str, Any] = field(default_factory=dict)  # what the study searches (facedep.tuning.identity)
    keep_checkpoints: bool = False  # else each inner run's checkpoints/ is deleted once its score is read

    def trial_dir(self, number: int) -> Path:
        return self.study_dir / "trials" / f"trial_{number:04d}"

    def trial_args(self, params: dict[str, Any], number: int, inner: int) -> list[str]:
        """Training arguments of inner fold ``inner`` of trial ``number`` (the tuned values after the overrides)."""
        return [
            *(["--config", self.config] if self.config else []), *self.overrides, *as_overrides(params),
            "--data.init_args.fold", str(self.fold), "--data.init_args.num_folds", str(self.num_folds),
            "--data.init_args.inner_fold", str(inner), "--data.init_args.inner_folds", str(self.inner_folds),
            "--run.test", "false", "--run.resume", "false",
            "--run.output_dir", str(self.trial_dir(number)), "--run.name", f"inner{inner}",
            "--tracking.wandb", "disabled",  # the trial is one W&B run (TrialTracker), not one per inner fold
        ]


def inner_score(metrics: dict, inner: int) -> float:
    """The best ``val/selection_score`` of an inner run; an error when it logged none (no validation subjects)."""
    score = metrics.get("best_val_score")
    if score is None or not math.isfinite(float(score)):
        raise RuntimeError(f"inner fold {inner} logged no finite {MONITOR} ({metrics.get('run_dir')}): "
                           "too few subjects for this many inner folds?")
    return float(score)


def make_objective(setup: TuningSetup) -> Callable[[optuna.Trial], float]:
    """The Optuna objective of ``setup``; failures are recorded in the trial (``error``) and re-raised for Optuna."""
    if setup.runner is None:
        from facedep.experiment.train import run_training

        setup.runner = run_training

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, setup.space)
        trial_dir = setup.trial_dir(trial.number)
        record: dict[str, Any] = {"number": trial.number, "study": setup.study_name, "outer_fold": setup.fold,
                                  "params": params, "inner_scores": [], "run_dirs": [], "state": "RUNNING"}
        tracker = TrialTracker.start(setup, trial.number, params)
        try:
            for inner in range(setup.inner_folds):
                pruning = TrialPruning(trial, MONITOR, step_offset=inner * setup.max_epochs)
                metrics = setup.runner(setup.trial_args(params, trial.number, inner), callbacks=[pruning])
                record["run_dirs"].append(str(metrics["run_dir"]))
                record["inner_scores"].append(inner_score(metrics, inner))
                trial.set_user_attr("inner_scores", record["inner_scores"])
            value = sum(record["inner_scores"]) / len(record["inner_scores"])
            record.update(state="COMPLETE", value=value)
            return value
        except optuna.TrialPruned as exc:
            record.update(state="PRUNED", pruned=str(exc))
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("error", error[:4000])
            record.update(state="FAIL", error=error, traceback=traceback.format_exc())
            raise
        finally:
            if not setup.keep_checkpoints:  # pruned and failed runs too
                for folder in trial_dir.glob("inner*/checkpoints"):
                    shutil.rmtree(folder, ignore_errors=True)
            trial_dir.mkdir(parents=True, exist_ok=True)
            (trial_dir / "trial.json").write_text(json.dumps(record, indent=2, default=str))
            tracker.finish(record, sorted(trial_dir.glob("inner*/metrics.csv")))

    return objective
