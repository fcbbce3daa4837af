"""The regression part of a cross-validation report: mean ± std over folds/seeds, the mean baseline, pooled CIs.

Input: each run's ``metrics.json`` content (``test/<level>/<metric>`` incl. ``ccc``, the thresholded-score
binary metrics and ``baseline_*``; ``target`` = ``TargetScale.as_dict()`` with the training mean) and its
subject-level prediction table (``predictions_test_subject.csv``: ``id, name, target, prediction``).

Pooled numbers are subject-level with a cluster bootstrap over subjects. Over folds the test sets are
disjoint and pooled. Over seeds (``design="seeds"``: one fixed split trained with several seeds) every
seed tests the same subjects, so a subject is counted once: each resample draws subjects, every seed is
scored on the drawn subjects and the metric is the mean over seeds (never the seeds' rows pooled as if
independent). The mean baseline (every subject predicted as its run's training mean) is scored on the
same resamples, and so is the model's MAE minus the baseline's.

Example:
    >>> import numpy as np
    >>> m = fast_metrics(np.array([1.0, 3.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    >>> [round(m[k], 4) for k in POOLED_METRICS]
    [0.6667, 0.8165, 0.7273, 0.7559]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facedep.evaluation.bootstrap import cluster_bootstrap_indices, percentile_interval
from facedep.evaluation.summary import aggregate
from lightning_modules.regression_evaluation import BASELINE_METRICS

CI_ALPHA = 0.05
LEVELS: tuple[str, ...] = ("video", "subject")
MODEL_METRICS: tuple[str, ...] = ("mae", "rmse", "ccc", "r")
BINARY_METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "sensitivity", "specificity", "auroc")
"""The thresholded-score metrics the report shows (the regressor logs balanced_accuracy too)."""
POOLED_METRICS: tuple[str, ...] = MODEL_METRICS
BASELINE_POOLED: tuple[str, ...] = ("mae", "rmse")


@dataclass
class RunTable:
    """One run's subject-level test table: ``run`` (fold or seed), names, targets, predictions, training mean."""

    run: int
    names: np.ndarray
    target: np.ndarray
    prediction: np.ndarray
    train_mean: float | None = None


def fast_metrics(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, CCC (population moments) and Pearson r of one set of rows, in numpy (called per resample).

    Same definitions as ``lightning_modules.sequence_regressor.regression_metrics``; r / CCC are NaN when undefined.
    """
    t, p = np.asarray(target, dtype=float), np.asarray(prediction, dtype=float)
    if len(t) == 0:
        return dict.fromkeys(POOLED_METRICS, float("nan"))
    err = p - t
    dp, dt = p - p.mean(), t - t.mean()
    vp, vt, cov = float((dp**2).mean()), float((dt**2).mean()), float((dp * dt).mean())
    denominator = vp + vt + float(p.mean() - t.mean()) ** 2
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "ccc": 2 * cov / denominator if denominator > 0 else float("nan"),
        "r": cov / float(np.sqrt(vp * vt)) if vp > 0 and vt > 0 else float("nan"),
    }


def train_mean_of(metrics: dict[str, Any]) -> float | None:
    """The training subjects' mean target of a run: ``metrics["target"]["mean"]`` or the data report's."""
    for source in (metrics.get("target"), (metrics.get("data") or {}).get("target")):
        if isinstance(source, dict) and source.get("mean") is not None:
            return float(source["mean"])
    return None


def read_run_table(metrics: dict[str, Any], run: int, level: str = "subject") -> RunTable | None:
    """The run's ``predictions_test_<level>`` table as a :class:`RunTable`; None when the run wrote none."""
    path = (metrics.get("predictions") or {}).get(f"predictions_test_{level}")
    if not path or not Path(path).exists():
        return None
    table = pd.read_csv(path, dtype={"name": str})
    missing = {"name", "target", "prediction"} - set(table.columns)
    if missing:
        from datamodules.io.au_table import DataFormatError

        raise DataFormatError(f"{path}: a regression prediction table needs the columns {sorted(missing)} (row 1)")
    return RunTable(run, table["name"].astype(str).to_numpy(), table["target"].to_numpy(float),
                    table["prediction"].to_numpy(float), train_mean_of(metrics))


def per_run_metrics(fold_metrics: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{level: {metric: aggregate(...)}}`` of the logged ``test/<level>/<metric>`` (model, binary, baseline)."""
    names = MODEL_METRICS + BINARY_METRICS + BASELINE_METRICS
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for level in LEVELS:
        keys = {m: f"test/{level}/{m}" for m in names}
        present = [m for m, key in keys.items() if any(key in (f.get("test") or {}) for f in fold_metrics)]
        if present:
            out[level] = {m: aggregate([(f.get("test") or {}).get(keys[m]) for f in fold_metrics]) for m in present}
    return out


def aligned_seeds(tables: Sequence[RunTable]) -> list[RunTable]:
    """The seeds' tables in the first seed's subject order; ValueError when their subjects or targets differ."""
    first = tables[0]
    order = {name: i for i, name in enumerate(first.names)}
    if len(order) != len(first.names):
        raise ValueError(f"seed {first.run}: the subject table holds a subject twice")
    aligned = []
    for t in tables:
        if sorted(t.names) != sorted(first.names):
            diff = sorted(set(t.names) ^ set(first.names))[:5]
            raise ValueError(f"seeds {first.run} and {t.run} tested different subjects (e.g. {diff}): "
                             "--seeds needs one fixed split (split: column)")
        rows = np.argsort([order[n] for n in t.names])
        if not np.allclose(t.target[rows], first.target):
            raise ValueError(f"seeds {first.run} and {t.run} give the same subjects different targets")
        aligned.append(RunTable(t.run, t.names[rows], t.target[rows], t.prediction[rows], t.train_mean))
    return aligned


def pooled_subject_metrics(tables: Sequence[RunTable], design: str = "folds", n_boot: int = 1000, seed: int = 0) -> dict:
    """Subject-level pooled MAE, RMSE, CCC, r of the model (and MAE / RMSE of the mean baseline, and the model's
    MAE minus the baseline's) with percentile cluster-bootstrap 95% CIs over subjects.

    ``design="folds"``: the tables are pooled (a subject in two folds is an error). ``"seeds"``: one row per
    subject; every value is the mean over seeds on the same (resampled) subjects.
    """
    if design == "seeds":
        runs = aligned_seeds(tables)
        names, target = runs[0].names, runs[0].target
        predictions = [r.prediction for r in runs]
        baselines = [np.full(len(target), r.train_mean) for r in runs] if all(r.train_mean is not None for r in runs) else None
    else:
        names = np.concatenate([t.names for t in tables])
        duplicated = pd.Series(names)[pd.Series(names).duplicated()].unique().tolist()
        if duplicated:
            raise ValueError(f"subject(s) {duplicated[:5]} are in more than one fold's test set; a fixed split is "
                             "evaluated with --seeds, not k-fold")
        target = np.concatenate([t.target for t in tables])
        predictions = [np.concatenate([t.prediction for t in tables])]
        baselines = ([np.concatenate([np.full(len(t.target), t.train_mean) for t in tables])]
                     if all(t.train_mean is not None for t in tables) else None)
    indices = cluster_bootstrap_indices(names, n_boot, np.random.default_rng(seed)) if n_boot > 0 else []

    def scored(preds: Sequence[np.ndarray], rows: np.ndarray | slice) -> dict[str, float]:
        per_run = [fast_metrics(target[rows], p[rows]) for p in preds]
        return {m: float(np.mean([s[m] for s in per_run])) for m in POOLED_METRICS}

    point, samples = scored(predictions, slice(None)), [scored(predictions, i) for i in indices]
    out: dict[str, Any] = {"n": len(target), "n_subjects": len(set(names)), "runs": len(predictions), "design": design,
                           "n_boot": n_boot, "seed": seed, "unit": "subject", "model": _with_ci(point, samples, POOLED_METRICS)}
    if baselines is None:
        out["baseline_note"] = "no mean baseline: a run's metrics.json names no training mean (target.mean)"
        return out
    base_point, base_samples = scored(baselines, slice(None)), [scored(baselines, i) for i in indices]
    out["baseline"] = _with_ci(base_point, base_samples, BASELINE_POOLED)
    delta = {"mae": point["mae"] - base_point["mae"]}
    out["mae_minus_baseline"] = _with_ci(delta, [{"mae": s["mae"] - b["mae"]} for s, b in zip(samples, base_samples)], ("mae",))["mae"]
    return out


def _with_ci(point: dict[str, float], samples: Sequence[dict[str, float]], names: Sequence[str]) -> dict[str, dict]:
    """``{metric: {"value", "ci_low", "ci_high"}}`` (None bounds without resamples or finite values)."""
    out = {}
    for name in names:
        low, high = percentile_interval([s[name] for s in samples], CI_ALPHA) if samples else (float("nan"), float("nan"))
        out[name] = {"value": _finite(point[name]), "ci_low": _finite(low), "ci_high": _finite(high)}
    return out


def _finite(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def regression_report(
    fold_metrics: Sequence[dict[str, Any]], runs: Sequence[int], design: str = "folds", n_boot: int = 1000, seed: int = 0
) -> tuple[dict[str, Any], list[RunTable]] | None:
    """``(summary["regression"], subject tables)`` of regression runs; None when they wrote no subject table.

    The entry holds ``metrics`` (:func:`per_run_metrics`), ``pooled`` (:func:`pooled_subject_metrics`) and
    ``alpha``; the tables feed the plots.
    """
    tables = [read_run_table(m, run) for m, run in zip(fold_metrics, runs)]
    if not tables or any(t is None for t in tables):
        return None
    entry = {"design": design, "alpha": CI_ALPHA, "metrics": per_run_metrics(fold_metrics),
             "pooled": pooled_subject_metrics(tables, design, n_boot, seed)}
    return entry, tables  # type: ignore[return-value]
