"""The W&B run of a tuning study: one run in the study's group (``job_type="study"``) beside its trial runs.

It carries the study's plots as images, ``trials.csv`` as a table, the counts by state and the best trial in its
summary, and ``study.md`` / ``study.json`` as files. Mode and settings follow the rest of facedep
(:func:`~facedep.experiment.tracking.resolve_wandb_mode`, :func:`~facedep.experiment.tracking.wandb_settings`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from facedep.experiment.tracking import resolve_wandb_mode, wandb_settings
from facedep.tuning.artefacts import scalar_attrs
from facedep.tuning.study import counts_by_state


def study_run_summary(study: optuna.Study) -> dict[str, Any]:
    """``trials/<state>`` counts and, with a complete trial, ``best/value``, ``best/trial`` and ``best/<param>``."""
    summary: dict[str, Any] = {f"trials/{state}": n for state, n in counts_by_state(study).items()}
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        best = study.best_trial
        summary.update({"best/value": float(best.value), "best/trial": best.number,
                        **{f"best/{key}": value for key, value in best.params.items()}})
    return summary


def log_study(study: optuna.Study, artefacts: dict[str, Path], project: str, name: str, study_dir: Path, mode: str,
              private: bool, group: str | None = None) -> None:
    """One W&B run for the study (in ``group``, default the study's name; ``job_type="study"``) under
    ``study_dir/wandb``; nothing when the mode resolves to ``disabled``. An artefact that W&B refuses is a warning."""
    mode = resolve_wandb_mode(mode)  # type: ignore[arg-type]
    if mode == "disabled":
        return
    import wandb

    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=project, name=name, dir=str(study_dir), mode=mode, group=group or study.study_name,
                     job_type="study", settings=wandb_settings(private),
                     config={"study": study.study_name, **scalar_attrs(study)})
    try:
        run.summary.update(study_run_summary(study))
        for key, path in artefacts.items():
            if Path(path).suffix == ".png":
                _try(f"image {key}", lambda: run.log({f"study/{key}": wandb.Image(str(path))}))
        if "csv" in artefacts:
            _try("trials table", lambda: run.log({"study/trials": wandb.Table(dataframe=_table(artefacts["csv"]))}))
        for key in ("markdown", "json"):
            if key in artefacts:
                _try(key, lambda: run.save(str(artefacts[key]), base_path=str(study_dir), policy="now"))
    finally:
        run.finish()


def _table(csv: Path) -> pd.DataFrame:
    """``trials.csv`` with text columns free of NaN (W&B tables want one type per column)."""
    frame = pd.read_csv(csv)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].fillna("").astype(str)
    return frame


def _try(what: str, log: Any) -> None:
    """Run ``log()``; a failure is a warning (the study's files are already written)."""
    try:
        log()
    except Exception as exc:
        warnings.warn(f"W&B study run: could not log {what}: {type(exc).__name__}: {exc}")
