"""What late fusion reads from a finished run folder: its subjects per stage, its fold, its subject predictions.

Any run that writes the usual artefacts works (``facedep.experiment.train.run_training``, the classic baselines of
``facedep.baselines.fold``): ``predictions_test_subject.csv`` (``name`` = subject id; ``prob_<class>`` columns or,
for a regressor, ``target`` and ``prediction``), ``metrics.json`` and ``subjects.json`` or ``data_report.json``.

Example:
    >>> stage_subjects(Path("runs/late_fusion/views/aus/fold0"))  # doctest: +SKIP
    {'train': ['sub005', ...], 'val': [...], 'test': [...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from facedep.experiment.privacy import PSEUDONYM_PREFIX

STAGES: tuple[str, ...] = ("train", "val", "test")


class FusionError(ValueError):
    """The views cannot be fused as given (different folds or subjects, a missing table, a leaked subject)."""


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def stage_subjects(run_dir: Path) -> dict[str, list[str]]:
    """Subject ids per stage: ``subjects.json``, or the data report's ``subject_ids`` where ``subjects.json`` is
    absent (classic baselines) or holds pseudonyms (``run.privacy``: the data report keeps the ids)."""
    run_dir = Path(run_dir)
    listed = _json(run_dir / "subjects.json")
    pseudonyms = any(str(s).startswith(PSEUDONYM_PREFIX) for ids in listed.values() for s in ids)
    if listed and not pseudonyms:
        return {stage: [str(s) for s in listed.get(stage, [])] for stage in STAGES}
    report = _json(run_dir / "data_report.json") or _json(run_dir / "metrics.json").get("data") or {}
    found = {stage: [str(s) for s in (report.get(stage) or {}).get("subject_ids", [])] for stage in STAGES}
    if not any(found.values()):
        raise FusionError(f"{run_dir}: no subjects.json with subject ids and no data report naming the subjects per stage")
    if listed and any(len(listed.get(s, [])) != len(found[s]) for s in STAGES):
        raise FusionError(f"{run_dir}: subjects.json and data_report.json count different subjects per stage")
    return found


def run_split(run_dir: Path) -> dict[str, Any]:
    """The data report's split (``method``, ``fold``, ``num_folds``, ``seed``), ``{}`` when not recorded."""
    run_dir = Path(run_dir)
    report = _json(run_dir / "data_report.json") or _json(run_dir / "metrics.json").get("data") or {}
    return dict(report.get("split") or {})


@dataclass
class ViewRun:
    """One view's finished run of one fold: subject predictions (index = subject id) and its metrics.json."""

    view: str
    run_dir: Path
    predictions: pd.DataFrame
    metrics: dict[str, Any]

    @property
    def kind(self) -> str:
        return "score" if "prediction" in self.predictions.columns else "classes"

    @property
    def labels(self) -> pd.Series:
        """The subjects' true class index (``y_true``) or score (``target``)."""
        return self.predictions["target" if self.kind == "score" else "y_true"]

    @property
    def class_names(self) -> list[str]:
        if self.kind == "classes":
            return [c.removeprefix("prob_") for c in self.predictions.columns if c.startswith("prob_")]
        return [str(c) for c in self.metrics.get("class_names", [])]


def read_view_run(view: str, run_dir: Path) -> ViewRun:
    """The run's ``predictions_test_subject.csv`` and ``metrics.json``; FusionError naming what is missing."""
    run_dir = Path(run_dir)
    path = run_dir / "predictions_test_subject.csv"
    if not path.is_file():
        raise FusionError(f"view {view!r}: {path} does not exist (did the run finish and test?)")
    table = pd.read_csv(path, dtype={"name": str})
    if "name" not in table.columns:
        raise FusionError(f"view {view!r}: {path} has no 'name' (subject id) column")
    table["name"] = table["name"].astype(str)
    if not table["name"].is_unique:
        raise FusionError(f"view {view!r}: {path} lists a subject twice")
    return ViewRun(view, run_dir, table.set_index("name"), _json(run_dir / "metrics.json"))
