"""Late fusion by nested stacking: per-view models' subject scores -> one subject prediction per outer fold.

For outer fold k of a K-fold subject cross-validation, every view (a training config + overrides over the same
subjects) has its outer run ``<view cv dir>/fold<k>`` (cross_validate's fold k: the folds depend only on the
manifest's subjects, the classes and the data seed, and the views' test lists are checked to agree). The stacker
learns from OUT-OF-FOLD scores of the outer TRAINING subjects only: their rows are written to a sub-manifest, each
view runs an inner J-fold subject CV on it (``<fold dir>/inner/<view>/fold<j>``; the outer test subjects are in no
inner run, which is checked), and each inner test fold's subject predictions give one out-of-fold score per
training subject and view. The stacker (:mod:`facedep.fusion.stacking`: logistic regression on per-view log-odds,
or ridge on per-view scores) is then applied to the outer runs' test-subject predictions. Each fold writes the
usual ``predictions_test_subject.csv`` and ``metrics.json`` (so :func:`facedep.experiment.cross_validate.cross_validate`
reports it like any run, at subject level only) plus ``stacker.json`` (coefficients per view, missing views, inner
CV sizes) and ``stacker_train.csv`` (the out-of-fold features it was fitted on).

Example:
    >>> views = {"aus": ["--config", "configs/demo.yaml", "--data.init_args.channels", "[AU04_r, AU15_r]"],
    ...          "smile": ["--config", "configs/demo.yaml", "--data.init_args.channels", "[AU06_r, AU12_r]"]}
    >>> summary = late_fusion_cv(views, folds=5, root=Path("runs"), inner_folds=3)  # doctest: +SKIP
    >>> # -> runs/late_fusion/views/{aus,smile}/fold0..4, runs/late_fusion/fold0..4/{stacker.json, inner/...}, report.md
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facedep.evaluation.classification_metrics import compute_metrics
from facedep.evaluation.predictions import write_level_predictions
from facedep.evaluation.summary import jsonable
from facedep.experiment.config_values import arg_value, config_value, resolved_data_args
from facedep.experiment.cross_validate import cross_validate
from facedep.experiment.train import run_training
from facedep.fusion.inner import InnerOOF, Runner, inner_oof
from facedep.fusion.report import append_section, late_fusion_entry
from facedep.fusion.runs import FusionError, ViewRun, read_view_run, run_split, stage_subjects
from facedep.fusion.stacking import DEFAULT_ALPHAS, Stacker, fit_stacker, view_features
from lightning_modules.regression_evaluation import TargetScale, level_scores, regression_tables


def split_config(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``(first --config value, the other arguments)``, as cross_validate takes them.

    Example:
        >>> split_config(["--config", "a.yaml", "--trainer.max_epochs", "1"])
        ('a.yaml', ['--trainer.max_epochs', '1'])
    """
    args = list(args)
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            return args[i + 1], args[:i] + args[i + 2:]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1], args[:i] + args[i + 1:]
    return None, args


def _agree(values: Mapping[str, Any], what: str, run: str) -> Any:
    """The views' common value of ``what``; FusionError listing each view's when they differ."""
    distinct = {json.dumps(v, sort_keys=True, default=str) for v in values.values()}
    if len(distinct) > 1:
        shown = "; ".join(f"{view}: {value}" for view, value in values.items())
        raise FusionError(f"outer {run}: the views' {what} differ ({shown}); late fusion needs the same "
                          "subject folds in every view (same manifest subjects, classes, data seed and --folds)")
    return next(iter(values.values()))


def _labels(parts: Mapping[str, pd.Series], kind: str, where: str) -> pd.Series:
    """One label per subject from the views' tables; FusionError when two views give a subject different labels."""
    frame = pd.concat(parts, axis=1)
    first = frame.bfill(axis=1).iloc[:, 0]
    values = frame.to_numpy(dtype=np.float64)
    reference = first.to_numpy(dtype=np.float64)[:, None]
    differ = ~np.isnan(values) & ~np.isclose(values, reference)
    if differ.any():
        bad = frame.index[differ.any(axis=1)].tolist()[:5]
        raise FusionError(f"{where}: the views give subject(s) {bad} different labels")
    return first.astype(int) if kind == "classes" else first.astype(float)


def write_fused(subjects: list[str], target: np.ndarray, prediction: np.ndarray, class_names: list[str],
                scale: TargetScale | None, out_dir: Path) -> tuple[dict[str, float], dict[str, Any]]:
    """The fused test predictions as every run writes them, and their subject-level metrics.

    Classes (``scale`` None; ``prediction`` = probabilities): ``predictions_test_subject.csv`` by
    :func:`write_level_predictions` (argmax decisions). Score: ``predictions_test_subject.csv`` (``id, name, target,
    prediction``) and ``metrics_test.csv`` as a regressor writes them, metrics with the mean baseline and the
    thresholded-score ones. Returns ``(metrics, metrics.json entries)``.
    """
    names = {"subject": dict(enumerate(subjects))}
    ids = np.arange(len(subjects))
    if scale is None:
        scores = compute_metrics(target, prediction, len(class_names), class_names)
        written = write_level_predictions({"subject": {"ids": ids, "y": target, "probs": prediction}}, names, class_names,
                                          "test", out_dir)
        return scores, {"decision_threshold": None, "predictions": {k: str(v) for k, v in written.items()}}
    scores = level_scores(prediction, target, scale)
    tables = regression_tables({"subject": {"ids": ids, "y": target, "pred": prediction}}, {"subject": scores}, names, "test")
    for key, table in tables.items():
        table.to_csv(out_dir / f"{key}.csv", index=False)
    return scores, {"target": scale.as_dict(), "predictions": {k: str(out_dir / f"{k}.csv") for k in tables if k.startswith("predictions_")}}


@dataclass
class LateFusionFold:
    """The fold runner :func:`cross_validate` calls: reads ``--data.init_args.fold`` / ``num_folds`` /
    ``--run.name`` / ``--run.output_dir`` from its arguments and runs :meth:`run_fold`; returns its metrics.json.

    ``runners``: the training function per view (default :func:`run_training`; a classic baseline's fold runner,
    ``functools.partial(run_classic_fold, model_name=...)``, works too).
    """

    views: dict[str, list[str]]
    view_cv_dirs: dict[str, Path]
    inner_folds: int = 3
    C: float = 1.0
    alphas: Sequence[float] = DEFAULT_ALPHAS
    runners: Mapping[str, Runner] = field(default_factory=dict)
    inner_tracking: bool = False
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    _manifests: dict[str, Path] = field(default_factory=dict, repr=False)

    def __call__(self, args: list[str]) -> dict:
        name = arg_value(args, "--run.name", "late_fusion/fold0")
        label = Path(name).name  # cross_validate's fold<k>, or seed<s> for repeated seeds of a fixed split
        seeds = label.startswith("seed") and label[4:].isdigit()
        fold = int(label[4:]) if seeds else int(arg_value(args, "--data.init_args.fold", "0"))
        label = label if seeds else f"fold{fold}"  # the views' run folder
        num_folds = 0 if seeds else int(arg_value(args, "--data.init_args.num_folds", "0"))
        # a seed run's seeds reach the inner runs too (their folds and training)
        inner = [x for flag in ("--seed_everything", "--data.init_args.seed") if seeds and arg_value(args, flag, "")
                 for x in (flag, arg_value(args, flag, ""))]
        output_dir = arg_value(args, "--run.output_dir", "runs")
        return self.run_fold(fold, num_folds, Path(output_dir) / name, label=label, inner_extra=inner)

    def manifest(self, view: str) -> Path:
        """The view's manifest (its config + overrides resolved as training resolves them)."""
        if view not in self._manifests:
            self._manifests[view] = Path(str(resolved_data_args(None, self.views[view])["manifest"]))
        return self._manifests[view]

    def outer_runs(self, fold: int, num_folds: int, label: str | None = None) -> tuple[dict[str, ViewRun], dict[str, list[str]]]:
        """Each view's outer run ``label`` (default ``fold<fold>``; ``seed<s>`` of a fixed split, ``num_folds`` 0) and the
        outer subjects: ``train`` (train + val) and ``test``, each the union over the views (a view lists only the
        subjects it had usable data for). FusionError when the views' folds differ (a subject tested in one view and
        trained on in another, another fold or data seed) or their targets or classes do."""
        label = label or f"fold{fold}"
        runs = {view: read_view_run(view, Path(self.view_cv_dirs[view]) / label) for view in self.views}
        for view, run in runs.items():
            split = run_split(run.run_dir)
            if not split:
                continue
            if num_folds and (split.get("method", "kfold") != "kfold" or split.get("fold", fold) != fold
                              or split.get("num_folds", num_folds) != num_folds):
                raise FusionError(f"view {view!r}: {run.run_dir} is {split.get('method')} fold {split.get('fold')} of "
                                  f"{split.get('num_folds')}, not fold {fold} of {num_folds}")
            if not num_folds and split.get("method") != "column":
                raise FusionError(f"view {view!r}: {run.run_dir} is a k-fold run, not a seed of the fixed split (split: column)")
        _agree({v: run_split(r.run_dir).get("seed") for v, r in runs.items()}, "data seeds", label)
        stages = {view: stage_subjects(run.run_dir) for view, run in runs.items()}
        test = {v: set(s["test"]) for v, s in stages.items()}
        train = {v: set(s["train"]) | set(s["val"]) for v, s in stages.items()}
        # A view lacks the subjects it has no usable data for (they are imputed); a subject that is a test subject in
        # one view and a training subject in another means different folds.
        for v in self.views:
            for w in self.views:
                crossed = sorted(test[v] & train[w])
                if crossed:
                    raise FusionError(
                        f"outer {label}: subject(s) {crossed[:5]} are test subjects of view {v!r} but training subjects of "
                        f"view {w!r}: the views' subject folds differ; late fusion needs the same folds in every view (same "
                        "manifest subjects, labels, classes, data seed and --folds)")
        _agree({v: r.kind for v, r in runs.items()}, "targets (classes or score)", label)
        _agree({v: r.class_names for v, r in runs.items()}, "class names", label)
        for view, run in runs.items():
            extra = set(run.predictions.index) - test[view]
            if extra:
                raise FusionError(f"view {view!r}: {run.run_dir} predicted subject(s) {sorted(extra)[:5]} outside its test stage")
        return runs, {"train": sorted(set().union(*train.values())), "test": sorted(set().union(*test.values()))}

    def run_fold(self, fold: int, num_folds: int, fold_dir: Path, label: str | None = None,
                 inner_extra: Sequence[str] = ()) -> dict:
        """Inner CVs, stacker fit on the out-of-fold scores, stacked test predictions; writes the fold's files.

        ``label``: the views' run folder (``fold<k>``, or ``seed<s>`` with ``num_folds`` 0); ``inner_extra``: arguments
        every inner run gets too (a seed run's seeds).
        """
        started = time.perf_counter()
        fold_dir = Path(fold_dir)
        fold_dir.mkdir(parents=True, exist_ok=True)
        label = label or f"fold{fold}"
        runs, subjects = self.outer_runs(fold, num_folds, label)
        first = next(iter(runs.values()))
        kind, class_names = first.kind, first.class_names
        inner: dict[str, InnerOOF] = {}
        for view, args in self.views.items():
            # inner runs: always k-fold subject folds (a fixed split's config too), on the sub-manifest
            view_args = [*args, "--data.init_args.split", "kfold", *inner_extra]
            inner[view] = inner_oof(view, view_args, self.manifest(view), subjects["train"], subjects["test"], self.inner_folds,
                                    fold_dir / "inner" / view, self.runners.get(view, run_training), self.inner_tracking)
        y_train = _labels({v: o.labels for v, o in inner.items()}, kind, f"outer {label}, inner CV")
        scale = TargetScale.from_stats(first.metrics.get("target")) if kind == "score" else None
        if kind == "score" and (scale is None or scale.mean is None):  # no recorded training mean: the stacker's subjects
            scale = TargetScale(**{**(scale.as_dict() if scale else {}), "mean": float(y_train.mean()), "std": float(y_train.std(ddof=0))})
        stacker = fit_stacker({v: o.features for v, o in inner.items()}, y_train, kind, class_names, C=self.C, alphas=self.alphas,
                              low=scale.low if scale else None, high=scale.high if scale else None)
        test_features = {v: view_features(r.predictions) for v, r in runs.items()}
        y_test = _labels({v: r.labels for v, r in runs.items()}, kind, f"outer {label}, view test predictions")
        tested = [s for s in subjects["test"] if s in y_test.index]
        prediction = stacker.predict(test_features, tested)
        target = y_test.loc[tested].to_numpy()
        result: dict[str, Any] = {"run_dir": str(fold_dir), "model": "late_fusion", "views": list(self.views),
                                  "class_names": class_names, "ordinal": False}
        scores, written = write_fused(tested, target, prediction, class_names, scale, fold_dir)
        result.update(written)
        record = self._record(fold, label, num_folds, stacker, runs, inner, subjects, test_features, tested, y_train)
        test = {f"test/subject/{k}": float(v) for k, v in scores.items() if v is not None and np.isfinite(v)}
        test.update({f"stacker/weight_share_{v}": e["share"] for v, e in record["stacker"]["views"].items() if e["share"] is not None})
        test.update({f"stacker/missing_test_{v}": float(n) for v, n in record["missing"]["test"].items()})
        leakage = any((r.metrics.get("data") or {}).get("identity_leakage") for r in runs.values())
        result.update(test=test, data={"identity_leakage": leakage, "late_fusion": {k: record[k] for k in ("missing", "sizes")}},
                      stacker=str(fold_dir / "stacker.json"), total_seconds=round(time.perf_counter() - started, 2))
        self._write(fold_dir, record, result, inner, y_train, subjects, tested)
        self.records[fold] = record
        return result

    def _record(self, fold: int, label: str, num_folds: int, stacker: Stacker, runs: Mapping[str, ViewRun], inner: Mapping[str, InnerOOF],
                subjects: Mapping[str, list[str]], test_features: Mapping[str, pd.DataFrame], tested: list[str],
                y_train: pd.Series) -> dict[str, Any]:
        """``stacker.json``: the fold, the views' outer runs, inner CV sizes, missing views, coefficients per view."""
        oof = set(y_train.index)
        return {
            "fold": fold, "run": label, "num_folds": num_folds or None, "inner_folds": self.inner_folds, "kind": stacker.kind,
            "class_names": stacker.class_names, "views": list(self.views),
            "outer_runs": {v: str(r.run_dir) for v, r in runs.items()},
            "sizes": {"outer_train_subjects": len(subjects["train"]), "outer_test_subjects": len(subjects["test"]),
                      "stacker_train_subjects": stacker.n_train, "tested_subjects": len(tested)},
            "inner": {v: o.info for v, o in inner.items()},
            "missing": {
                "train": stacker.missing_train, "test": stacker.missing_counts(test_features, tested),
                "train_without_any_view": sorted(set(subjects["train"]) - oof),
                "test_without_any_view": sorted(set(subjects["test"]) - set(tested)),
                "handling": "imputed with the view's training mean feature; a per-view missing indicator joins the "
                            "features when a training subject lacks the view; subjects no view predicted are left out",
            },
            "leakage_checks": {"submanifests_exclude_outer_test": True, "inner_runs_exclude_outer_test": True,
                               "stacker_fitted_on": "out-of-fold predictions of outer training subjects only"},
            "stacker": stacker.explain(),
        }

    def _write(self, fold_dir: Path, record: dict, result: dict, inner: Mapping[str, InnerOOF], y_train: pd.Series,
               subjects: Mapping[str, list[str]], tested: list[str]) -> None:
        """``stacker.json``, ``stacker_train.csv`` (out-of-fold features + label), ``subjects.json``, ``metrics.json``."""
        (fold_dir / "stacker.json").write_text(json.dumps(jsonable(record), indent=2))
        frame = pd.concat({v: o.features for v, o in inner.items()}, axis=1)
        frame.columns = [f"{v}/{f}" for v, f in frame.columns]
        frame.reindex(y_train.index).assign(y=y_train).rename_axis("subject").to_csv(fold_dir / "stacker_train.csv")
        (fold_dir / "subjects.json").write_text(json.dumps({"train": sorted(y_train.index), "test": tested}, indent=1))
        (fold_dir / "metrics.json").write_text(json.dumps(jsonable(result), indent=2))


def late_fusion_cv(
    views: dict[str, list[str]],
    folds: int,
    root: Path,
    inner_folds: int = 3,
    view_cv_dirs: dict[str, Path] | None = None,
    n_boot: int = 1000,
    name: str = "late_fusion",
    C: float = 1.0,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    runners: Mapping[str, Runner] | None = None,
    explain_views: bool = False,
    inner_tracking: bool = False,
    seeds: Sequence[int] | None = None,
) -> dict:
    """Late-fusion K-fold CV of ``views`` (view name -> full training arguments incl. ``--config``).

    (a) Every view not in ``view_cv_dirs`` (``{view: cv folder holding fold0..fold<K-1>}``, reused as they are) is
    cross-validated first (``<root>/<name>/views/<view>/fold<k>``, its own report there). (b) The late-fusion
    CV runs through :func:`cross_validate` with a :class:`LateFusionFold` runner: ``<root>/<name>/fold<k>/`` and
    ``report.{md,json}`` (subject level; a "## Late fusion" section with the views' weights and the per-view CVs
    beside the fused one). Returns the CV summary with ``summary["late_fusion"]``.

    ``seeds`` (a fixed split, ``split: column``): the views and the fusion run once per seed (``seed<s>`` folders);
    the inner CVs are k-fold subject folds of each seed's training subjects. ``runners``: a training function per
    view (default :func:`facedep.experiment.train.run_training`); ``C``: the logistic stacker's inverse penalty;
    ``alphas``: the ridge penalties; ``explain_views``: per-fold explanations of the view CVs; ``inner_tracking``:
    W&B for the inner runs (off by default).
    """
    if not views:
        raise ValueError("late_fusion_cv needs at least one view")
    if (seeds is None and folds < 2) or inner_folds < 2:
        raise ValueError(f"folds (without seeds) and inner_folds must be >= 2, got {folds} and {inner_folds}")
    bad = [v for v in views if not v or "/" in v or v.startswith(".")]
    if bad:
        raise ValueError(f"view names must be plain folder names, got {bad}")
    root = Path(root)
    cv_dir = root / name
    runners = dict(runners or {})
    started = time.perf_counter()
    view_cv_dirs = {v: Path(p) for v, p in (view_cv_dirs or {}).items()}
    unknown = sorted(set(view_cv_dirs) - set(views))
    if unknown:
        raise ValueError(f"view_cv_dirs names {unknown}, which are not views ({sorted(views)})")
    for view, args in views.items():
        if view in view_cv_dirs:
            continue
        config, overrides = split_config(args)
        cross_validate(config, folds, [*overrides, "--run.name", view, "--run.output_dir", str(cv_dir / "views")], n_boot,
                       runner=runners.get(view, run_training), title=f"View {view!r} of late fusion {name!r}", seeds=seeds,
                       explain=explain_views)
        view_cv_dirs[view] = cv_dir / "views" / view
    runner = LateFusionFold(dict(views), view_cv_dirs, inner_folds, C, alphas, runners, inner_tracking)
    config, overrides = split_config(next(iter(views.values())))
    settings = [("--tracking.wandb", "tracking", "wandb", "auto"), ("--run.privacy", "run", "privacy", "false"),
                ("--tracking.project", "tracking", "project", "facedep")]
    resolved = [x for flag, section, key, default in settings
                for x in (flag, arg_value(overrides, flag, config_value(config, section, key, default)))]
    args = [*(["--config", config] if config else []), *overrides, *resolved, "--run.name", name, "--run.output_dir", str(root)]
    summary = cross_validate(None, folds, args, n_boot, runner=runner, title=f"Late fusion of {', '.join(views)} ({name})",
                             seeds=seeds, explain=False)
    summary["late_fusion"] = late_fusion_entry(summary, runner.records, view_cv_dirs, inner_folds, C,
                                               round(time.perf_counter() - started, 1))
    append_section(cv_dir, summary)
    return summary
