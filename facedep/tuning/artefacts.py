"""The artefacts of a tuning study, written into its folder: plots (:mod:`facedep.tuning.study_plots`),
``trials.csv``, ``study.json``, ``study.md`` (:mod:`facedep.tuning.study_markdown`).

A plot that the study cannot support is left out (``study.md`` says why); nothing here raises because a study
has no complete trial.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from facedep.tuning.atomic import replaced, write_text_atomic
from facedep.tuning.study import counts_by_state
from facedep.tuning.study_plots import OBJECTIVE, plot_history, plot_importances, plot_intermediate, plot_parallel
from facedep.tuning.study_markdown import study_markdown



def _number(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def scalar_attrs(study: optuna.Study) -> dict[str, Any]:
    """The study's scalar user attributes (``outer_fold``, ``inner_folds``, ...; not the stored config identity)."""
    return {k: v for k, v in study.user_attrs.items() if isinstance(v, (int, float, str, bool))}


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    """One trial as plain data; ``value`` only for a complete trial (Optuna stores a pruned trial's last report)."""
    steps = sorted(trial.intermediate_values)
    error = trial.user_attrs.get("error")
    return {
        "number": trial.number, "state": trial.state.name,
        "value": _number(trial.value) if trial.state == TrialState.COMPLETE else None,
        "params": dict(trial.params), "inner_scores": [float(v) for v in trial.user_attrs.get("inner_scores") or []],
        "duration_s": trial.duration.total_seconds() if trial.duration is not None else None,
        "last_step": steps[-1] if steps else None,
        "last_intermediate": _number(trial.intermediate_values[steps[-1]]) if steps else None,
        "error": str(error) if error else None,
    }


def param_importances(study: optuna.Study, complete: Sequence[FrozenTrial]) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances (seed 0) of the parameters that varied in every complete trial, or None and why not."""
    if len(complete) < 2:
        return None, f"importances need at least 2 complete trials ({len(complete)} here)"
    common = set.intersection(*(set(t.params) for t in complete))
    varied = [k for k in dict.fromkeys(k for t in complete for k in t.params)
              if k in common and len({json.dumps(t.params[k], default=str) for t in complete}) > 1]
    if not varied:
        return None, "no parameter took two values in the complete trials: nothing to attribute"
    if len(varied) == 1:
        return None, f"only one parameter varied ({varied[0]}): its importance is trivially 1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), params=varied)
    except Exception as exc:  # e.g. "zero total variance" when every complete trial scored the same
        return None, f"importances could not be computed: {type(exc).__name__}: {exc}"
    return {k: float(v) for k, v in raw.items()}, f"fANOVA (seed 0) over {len(complete)} complete trials"


def study_summary(study: optuna.Study, title: str, storage_label: str, base_config: str | None = None,
                  best_config: Path | None = None) -> dict[str, Any]:
    """Everything ``study.json`` and ``study.md`` hold: counts, best trial, importances and one entry per trial."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    direction = study.direction.name.lower()
    records = [trial_record(t) for t in trials]
    best = None
    if complete:
        trial = study.best_trial
        best = {"number": trial.number, "value": float(trial.value), "params": dict(trial.params),
                "inner_scores": trial_record(trial)["inner_scores"]}
    importances, note = param_importances(study, complete)
    command = None
    if best_config is not None:
        command = " ".join(["python scripts/train.py", *([f"--config {base_config}"] if base_config else []),
                            f"--config {best_config}"])
    return {
        "title": title, "name": study.study_name, "storage": storage_label, "direction": direction,
        "objective": OBJECTIVE, "user_attrs": scalar_attrs(study), "counts": counts_by_state(study),
        "n_trials": len(trials), "param_keys": list(dict.fromkeys(k for t in trials for k in t.params)),
        "best": best, "best_config": str(best_config) if best_config else None, "base_config": base_config,
        "train_command": command, "importances": importances, "importances_note": note, "trials": records,
    }


def trials_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per trial: number, state, value, one column per parameter (full key), inner scores, duration, error."""
    keys = summary["param_keys"]
    rows = [{"number": r["number"], "state": r["state"], "value": r["value"],
             **{k: r["params"].get(k) for k in keys}, "inner_scores": json.dumps(r["inner_scores"]),
             "duration_s": r["duration_s"], "last_step": r["last_step"], "last_intermediate": r["last_intermediate"],
             "error": r["error"]} for r in summary["trials"]]
    columns = ["number", "state", "value", *keys, "inner_scores", "duration_s", "last_step", "last_intermediate", "error"]
    return pd.DataFrame(rows, columns=columns)


def write_study_artefacts(study: optuna.Study, study_dir: Path, title: str, storage_label: str,
                          base_config: str | None = None, best_config: Path | None = None) -> dict[str, Path]:
    """Write the plots the study supports, ``trials.csv``, ``study.json`` and ``study.md`` into ``study_dir``;
    returns ``{"history": ..., "importances": ..., "parallel_coordinates": ..., "intermediate_values": ...,
    "csv": ..., "json": ..., "markdown": ...}`` for what was written."""
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    summary = study_summary(study, title, storage_label, base_config, best_config)
    has_best = summary["best"] is not None
    plots: dict[str, tuple[bool, Callable[[Path], Path]]] = {
        "history": (has_best, lambda p: plot_history(summary, p)),
        "importances": (summary["importances"] is not None, lambda p: plot_importances(summary, p)),
        "parallel_coordinates": (has_best and bool(summary["param_keys"]), lambda p: plot_parallel(study, summary, p)),
        "intermediate_values": (any(r["last_step"] is not None for r in summary["trials"]),
                                lambda p: plot_intermediate(study, summary, p)),
    }
    written: dict[str, Path] = {}
    for key, (possible, plot) in plots.items():
        if not possible:
            continue
        try:
            with replaced(study_dir / f"{key}.png") as tmp:
                plot(tmp)
            written[key] = study_dir / f"{key}.png"
        except Exception as exc:  # a plot must never cost the study its report
            warnings.warn(f"study plot {key} failed: {type(exc).__name__}: {exc}")
    written["csv"] = study_dir / "trials.csv"
    with replaced(written["csv"]) as tmp:
        trials_frame(summary).to_csv(tmp, index=False)
    written["json"] = study_dir / "study.json"
    write_text_atomic(written["json"], json.dumps(summary, indent=2, default=str))
    written["markdown"] = study_dir / "study.md"
    images = {key: path.name for key, path in written.items() if path.suffix == ".png"}
    write_text_atomic(written["markdown"], study_markdown(summary, images))
    return written
