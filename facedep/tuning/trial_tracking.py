"""One W&B run per tuning trial (``group`` = the study, ``job_type`` = ``trial``).

The inner-fold trainings of a trial log to their ``metrics.csv`` only; the trial's run carries the sampled
parameters as its config, each inner fold's validation curve (``inner<k>/val/selection_score`` at step
``k * max_epochs + epoch``, the steps the pruner sees), and the outcome (objective, state, inner scores, error).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from facedep.experiment.cli import MONITOR
from facedep.experiment.tracking import resolve_wandb_mode, wandb_settings


def validation_curve(metrics_csv: Path, monitor: str = MONITOR) -> list[tuple[int, float]]:
    """``[(epoch, score), ...]`` of ``monitor`` in a run's ``metrics.csv`` (empty when absent)."""
    try:
        frame = pd.read_csv(metrics_csv)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return []
    if monitor not in frame.columns or "epoch" not in frame.columns:
        return []
    rows = frame[["epoch", monitor]].dropna()
    return [(int(e), float(v)) for e, v in zip(rows["epoch"], rows[monitor])]


class TrialTracker:
    """The W&B run of one trial (a no-op when W&B is disabled)."""

    def __init__(self, run: Any, max_epochs: int) -> None:
        self.run, self.max_epochs = run, max_epochs

    @classmethod
    def start(cls, setup: Any, number: int, params: dict[str, Any]) -> TrialTracker:
        """Open the trial's run; ``setup`` is the study's :class:`facedep.tuning.objective.TuningSetup` (not
        imported here: the objective imports this module)."""
        tracking = setup.tracking or {}
        mode = resolve_wandb_mode(tracking.get("mode", "disabled"))
        if mode == "disabled":
            return cls(None, setup.max_epochs)
        import wandb

        setup.study_dir.mkdir(parents=True, exist_ok=True)
        run = wandb.init(
            project=tracking.get("project", "facedep"), name=f"{setup.study_name}/trial_{number:04d}",
            dir=str(setup.study_dir), mode=mode, group=setup.study_name, job_type="trial",
            tags=list(tracking.get("tags") or []), settings=wandb_settings(bool(tracking.get("private"))),
            config={**params, "trial": number, "outer_fold": setup.fold, "inner_folds": setup.inner_folds},
        )
        return cls(run, setup.max_epochs)

    def finish(self, record: dict[str, Any], metrics_files: Sequence[Path]) -> None:
        """Log the inner folds' validation curves and the trial's outcome, then close the run."""
        if self.run is None:
            return
        for path in metrics_files:
            inner = int(path.parent.name.removeprefix("inner") or 0)
            for epoch, score in validation_curve(path):
                self.run.log({f"inner{inner}/{MONITOR}": score, "epoch": epoch}, step=inner * self.max_epochs + epoch)
        summary = {"state": record.get("state"), "inner_scores": record.get("inner_scores")}
        if record.get("value") is not None:
            summary["objective"] = record["value"]
        if record.get("error"):
            summary["error"] = record["error"][:1000]
        self.run.summary.update(summary)
        self.run.finish(exit_code=0 if record.get("state") in ("COMPLETE", "PRUNED") else 1)
