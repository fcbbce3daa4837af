"""Out-of-fold subject scores of one view on an outer fold's training subjects (the stacker's training data).

The outer training subjects' rows go to a sub-manifest (:mod:`facedep.fusion.submanifest`); an ordinary J-fold
subject cross-validation of the view runs on it (``--data.init_args.manifest <sub> --data.init_args.fold j
--data.init_args.num_folds J``, run folders ``<out_dir>/fold<j>``), and each inner test fold's
``predictions_test_subject.csv`` gives its subjects' out-of-fold scores. Every inner run is checked: no stage of
it holds an outer test subject.

Example:
    >>> oof = inner_oof("aus", ["--config", "configs/demo.yaml"], Path("data/manifest.csv"), train, test, 3,
    ...                 Path("runs/lf/fold0/inner/aus"), run_training)  # doctest: +SKIP
    >>> oof.features.columns.tolist(), oof.info["oof_subjects"]  # doctest: +SKIP
    (['log_odds'], 40)
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from facedep.fusion.runs import FusionError, read_view_run, stage_subjects
from facedep.fusion.stacking import view_features
from facedep.fusion.submanifest import read_raw_manifest, write_submanifest

Runner = Callable[[list[str]], dict]


@dataclass
class InnerOOF:
    """One view's out-of-fold features and labels on the outer training subjects, and how they were made."""

    view: str
    features: pd.DataFrame
    labels: pd.Series
    info: dict[str, Any]


def inner_args(args: list[str], manifest: Path, fold: int, folds: int, out_dir: Path, tracking: bool = False) -> list[str]:
    """The view's training arguments for inner fold ``fold`` on the sub-manifest (no explanations; W&B off
    unless ``tracking``).

    Example:
        >>> inner_args(["--config", "c.yaml"], Path("m.csv"), 1, 3, Path("out"))[2:8]
        ['--data.init_args.manifest', 'm.csv', '--data.init_args.fold', '1', '--data.init_args.num_folds', '3']
    """
    return [*args, "--data.init_args.manifest", str(manifest), "--data.init_args.fold", str(fold),
            "--data.init_args.num_folds", str(folds), "--run.name", f"fold{fold}", "--run.output_dir", str(out_dir),
            "--run.explain", "false", *([] if tracking else ["--tracking.wandb", "disabled"])]


def inner_oof(
    view: str,
    args: list[str],
    manifest: Path,
    train_subjects: Collection[str],
    outer_test: Collection[str],
    folds: int,
    out_dir: Path,
    runner: Runner,
    tracking: bool = False,
) -> InnerOOF:
    """Run the view's inner ``folds``-fold CV on ``train_subjects`` only and collect its out-of-fold subject scores.

    Raises FusionError when the sub-manifest or an inner run holds an outer test subject, or an inner run
    tests a subject twice or outside its test stage.
    """
    outer_test = {str(s) for s in outer_test}
    train_subjects = {str(s) for s in train_subjects}
    if train_subjects & outer_test:
        raise FusionError(f"view {view!r}: subjects {sorted(train_subjects & outer_test)[:5]} are both outer training and test subjects")
    out_dir = Path(out_dir)
    sub = write_submanifest(manifest, train_subjects, out_dir / "manifest.csv")
    written = set(read_raw_manifest(sub["path"])["subject_id"])
    if written & outer_test or written != train_subjects:
        raise FusionError(f"view {view!r}: the sub-manifest {sub['path']} does not hold exactly the outer training subjects")
    parts, runs = [], []
    for fold in range(folds):
        runner(inner_args(args, Path(sub["path"]), fold, folds, out_dir, tracking))
        run_dir = out_dir / f"fold{fold}"
        stages = stage_subjects(run_dir)
        seen = {s for ids in stages.values() for s in ids}
        if seen & outer_test:
            raise FusionError(f"{run_dir}: the inner run saw outer test subject(s) {sorted(seen & outer_test)[:5]}")
        run = read_view_run(view, run_dir)
        predicted = set(run.predictions.index)
        if not predicted <= set(stages["test"]):
            raise FusionError(f"{run_dir}: predicted subjects {sorted(predicted - set(stages['test']))[:5]} outside its test stage")
        parts.append(run)
        runs.append({"fold": fold, "run_dir": str(run_dir), **{stage: len(ids) for stage, ids in stages.items()},
                     "predicted": len(predicted)})
    table = pd.concat([run.predictions for run in parts])
    if not table.index.is_unique:
        raise FusionError(f"view {view!r}: an inner CV tested subject(s) {table.index[table.index.duplicated()].tolist()[:5]} twice")
    labels = pd.concat([run.labels for run in parts])
    info = {"manifest": sub, "folds": runs, "oof_subjects": len(table),
            "not_predicted": sorted(train_subjects - set(table.index))}
    return InnerOOF(view, view_features(table), labels, info)
