"""Cross-validation summary: per-fold metrics (mean/std) by level, pooling over folds or seeds, bootstrap CIs.

The decision and pooling rules are described in :mod:`facedep.evaluation.report`. Ordinal runs (ordered
classes, ``loss: coral | corn``) add ``qwk``, ``mae_classes`` and ``recall_<class>`` at every level and
bootstrap CIs for ``qwk`` and ``mae_classes`` in the pooled subject-level table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from facedep.evaluation.bootstrap import bootstrap_ci_over_runs
from facedep.evaluation.classification_metrics import (
    FAST_METRICS,
    METRIC_NAMES,
    ORDINAL_FAST_METRICS,
    ORDINAL_METRIC_NAMES,
    RANKING_METRICS,
    compute_metrics,
    confusion,
    ordinal_metric_names,
)
from facedep.evaluation.levels import Design, FoldResult, LevelPredictions, levels_of

CI_METRICS: tuple[str, ...] = ("macro_f1", "accuracy", "balanced_accuracy", "auroc")
"""Subject-level pooled metrics that get a bootstrap confidence interval (ordinal runs: also :data:`ORDINAL_METRIC_NAMES`)."""
CI_ALPHA = 0.05


def summarize_folds(
    folds: list[FoldResult], class_names: list[str], n_boot: int = 1000, seed: int = 0, design: Design = "folds",
    ordinal: bool | None = None,
) -> dict[str, Any]:
    """JSON-able summary: per level, per-fold metrics with mean/std, class counts, pooled confusion;
    at subject level also pooled metrics with stratified bootstrap 95% CIs.

    NaN values (e.g. AUROC of a single-class fold) are stored as ``None`` and left out of mean/std.
    ``design="seeds"``: the entries of ``folds`` are seeds of one fixed split (same test subjects); each
    pooled number counts a subject once (see :func:`pooled_over_seeds`). With ``"folds"`` a subject in two
    folds' test sets is an error. ``ordinal`` (ordered classes: ``metrics.json["ordinal"]``) adds the ordinal
    metrics; None: ordinal when a fold's logged metrics have a ``qwk`` (see :func:`is_ordinal`).

    Example:
        >>> p = LevelPredictions(["s1", "s2"], [0, 1], [[0.6, 0.4], [0.6, 0.4]])
        >>> s = summarize_folds([FoldResult(0, {"subject": p})], ["hc", "dep"], n_boot=20)
        >>> s["levels"]["subject"]["metrics"]["accuracy"], s["levels"]["subject"]["confusion"]
        ({'per_fold': [0.5], 'mean': 0.5, 'std': 0.0, 'n_valid': 1}, [[1, 0], [1, 0]])
    """
    if not folds:
        raise ValueError("summarize_folds needs at least one fold")
    if design not in ("folds", "seeds"):
        raise ValueError(f"design must be 'folds' or 'seeds', got {design!r}")
    leakage = any((f.data or {}).get("identity_leakage") for f in folds)
    ordinal = is_ordinal(folds) if ordinal is None else ordinal
    # No level predictions (a model with its own tables, e.g. a regressor): only its logged metrics are summarised.
    metric_names = list(METRIC_NAMES) + [f"f1_{c}" for c in class_names] if levels_of(folds) else []
    if metric_names and ordinal:
        metric_names += ordinal_metric_names(class_names)
    summary: dict[str, Any] = {
        "class_names": list(class_names),
        "design": design,
        "ordinal": ordinal,
        "folds": [f.fold for f in folds],
        "metric_names": metric_names,
        "identity_leakage": leakage,
        "unit": "frame" if leakage else "subject",
        "decision": _decision_rule(folds),
        "levels": {},
        "bootstrap": {"n_boot": n_boot, "alpha": CI_ALPHA, "seed": seed, "stratified": True,
                      "unit": "frame" if leakage else "subject"},
    }
    if design == "seeds":
        summary["bootstrap"]["runs"] = "mean over seeds; each subject drawn once per resample for all seeds"
    for level in levels_of(folds):
        summary["levels"][level] = _summarize_level(folds, level, class_names, metric_names, design, ordinal)
    if "subject" in summary["levels"]:
        parts = [(f.fold, f.predictions["subject"]) for f in folds if "subject" in f.predictions]
        pool = pooled_over_seeds if design == "seeds" else pooled_over_folds
        pooled = pool(parts, class_names, n_boot, seed, ordinal=ordinal)
        summary["levels"]["subject"]["pooled"] = pooled
    trainer = _trainer_metrics(folds)
    if trainer:
        summary["trainer_metrics"] = trainer
    return jsonable(summary)


def is_ordinal(folds: Sequence[FoldResult]) -> bool:
    """True when any fold's logged test metrics include a quadratic-weighted kappa (an ordinal model's run).

    Example:
        >>> is_ordinal([FoldResult(0, {}, metrics={"test/subject/qwk": 0.5})]), is_ordinal([FoldResult(0, {})])
        (True, False)
    """
    return any(name.split("/")[-1] == "qwk" for f in folds for name in (f.metrics or {}))


def _decision_rule(folds: Sequence[FoldResult]) -> dict[str, Any]:
    """``{"rule": "threshold" | "argmax", "thresholds": [one per fold, None for argmax folds]}``."""
    per_fold = []
    for f in folds:
        values = {p.fold_threshold() for p in f.predictions.values() if p is not None} - {None}
        if len(values) > 1:
            raise ValueError(f"fold {f.fold}: levels carry different decision thresholds {sorted(values)}")
        per_fold.append(values.pop() if values else None)
    rule = "threshold" if any(t is not None for t in per_fold) else "argmax"
    return {"rule": rule, "thresholds": per_fold}


def aggregate(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"per_fold", "mean", "std" (ddof=1, 0 for one value), "n_valid"}`` over the finite values.

    Example:
        >>> aggregate([0.5, 0.7, float("nan")])
        {'per_fold': [0.5, 0.7, None], 'mean': 0.6, 'std': 0.14142135623730948, 'n_valid': 2}
    """
    per_fold = [_num(v) for v in values]
    finite = np.array([v for v in per_fold if v is not None], dtype=float)
    mean = float(finite.mean()) if finite.size else None
    std = float(finite.std(ddof=1)) if finite.size > 1 else (0.0 if finite.size else None)
    return {"per_fold": per_fold, "mean": mean, "std": std, "n_valid": int(finite.size)}


def class_counts(y_true: np.ndarray, class_names: Sequence[str]) -> dict[str, int]:
    """Samples per class name.

    Example:
        >>> class_counts(np.array([0, 1, 1]), ["hc", "dep"])
        {'hc': 1, 'dep': 2}
    """
    counts = np.bincount(np.asarray(y_true, dtype=int), minlength=len(class_names))
    return {name: int(c) for name, c in zip(class_names, counts)}


def _summarize_level(
    folds: Sequence[FoldResult], level: str, class_names: list[str], metric_names: list[str], design: Design = "folds",
    ordinal: bool = False,
) -> dict[str, Any]:
    """Per-fold metrics (mean/std), counts and pooled confusion of one level (decisions at each fold's threshold).

    Over seeds the counts are those of one seed's test set and the confusion is the mean over seeds,
    so that every sample counts once.
    """
    k = len(class_names)
    parts = [(f.fold, f.predictions[level]) for f in folds if level in f.predictions]
    per_fold = [compute_metrics(p.y_true, p.probs, k, class_names, threshold=p.threshold, ordinal=ordinal) for _, p in parts]
    matrices = [confusion(p.y_true, p.decisions(), k) for _, p in parts]
    pooled = parts[0][1] if design == "seeds" else LevelPredictions.concat([p for _, p in parts])
    return {
        "folds": [fold for fold, _ in parts],
        "n": len(pooled.y_true),
        "n_per_fold": [len(p.y_true) for _, p in parts],
        "metrics": {name: aggregate([m[name] for m in per_fold]) for name in metric_names},
        "counts": {
            "pooled": class_counts(pooled.y_true, class_names),
            "per_fold": [class_counts(p.y_true, class_names) for _, p in parts],
        },
        "confusion": (np.mean(matrices, axis=0) if design == "seeds" else np.sum(matrices, axis=0)).tolist(),
    }


def duplicated_ids(parts: Sequence[tuple[int, LevelPredictions]]) -> dict[str, list[int]]:
    """Ids that occur more than once in the pooled table, with the folds they occur in.

    Example:
        >>> a, b = LevelPredictions(["s1", "s2"], [0, 1], np.eye(2)), LevelPredictions(["s2"], [1], [[0, 1]])
        >>> duplicated_ids([(0, a), (1, b)])
        {'s2': [0, 1]}
    """
    where: dict[str, list[int]] = defaultdict(list)
    for fold, p in parts:
        for i in p.ids:
            where[i].append(fold)
    return {i: folds for i, folds in where.items() if len(folds) > 1}


def pooled_over_folds(
    parts: Sequence[tuple[int, LevelPredictions]], class_names: list[str], n_boot: int, seed: int, ordinal: bool = False
) -> dict[str, Any]:
    """Metrics of all folds' test subjects together, with bootstrap CIs for :data:`CI_METRICS`.

    Raises ValueError when a subject is in more than one fold's test set (it would count twice).
    """
    duplicates = duplicated_ids(parts)
    if duplicates:
        shown = ", ".join(f"{i} (folds {', '.join(map(str, f))})" for i, f in list(duplicates.items())[:5])
        raise ValueError(
            f"{len(duplicates)} subject id(s) are in more than one fold's test set: {shown}"
            f"{' ...' if len(duplicates) > 5 else ''}. A pooled table must hold each subject once: k-fold over a "
            "fixed split repeats one partition; evaluate a fixed split with repeated seeds (--seeds 0 1 2)."
        )
    pooled = LevelPredictions.concat([p for _, p in parts])
    return _pooled_metrics(pooled.y_true, [pooled], class_names, n_boot, seed, ordinal)


def pooled_over_seeds(
    parts: Sequence[tuple[int, LevelPredictions]], class_names: list[str], n_boot: int, seed: int, ordinal: bool = False
) -> dict[str, Any]:
    """One fixed test set scored by several seeds: each metric is the mean over seeds, each subject counted once.

    The bootstrap draws subjects once per resample and scores every seed on that same resample
    (:func:`facedep.evaluation.bootstrap.bootstrap_ci_over_runs`). Raises ValueError when the seeds' test sets
    (subjects or labels) differ.
    """
    (first_seed, reference), aligned = parts[0], []
    order = {i: n for n, i in enumerate(reference.ids)}
    if len(order) != len(reference.ids):
        raise ValueError(f"seed {first_seed}: the test table holds a subject twice: {sorted(duplicated_ids([parts[0]]))}")
    for run_seed, p in parts:
        if sorted(p.ids) != sorted(reference.ids):
            diff = sorted(set(p.ids) ^ set(reference.ids))[:5]
            raise ValueError(f"seeds {first_seed} and {run_seed} tested different subjects (e.g. {diff}): "
                             "--seeds needs one fixed split (split: column)")
        rows = np.argsort([order[i] for i in p.ids])
        if not np.array_equal(p.y_true[rows], reference.y_true):
            raise ValueError(f"seeds {first_seed} and {run_seed} give the same subjects different labels")
        aligned.append(LevelPredictions([p.ids[r] for r in rows], p.y_true[rows], p.probs[rows],
                                        None if p.threshold is None else p.threshold[rows]))
    pooled = _pooled_metrics(reference.y_true, aligned, class_names, n_boot, seed, ordinal)
    pooled["seeds"] = len(aligned)
    return pooled


def _pooled_metrics(
    y_true: np.ndarray, runs: Sequence[LevelPredictions], class_names: list[str], n_boot: int, seed: int,
    ordinal: bool = False,
) -> dict[str, Any]:
    """Mean over ``runs`` (one per seed; one for pooled folds) of every metric on the same subjects, with CIs."""
    per_run = [compute_metrics(y_true, r.probs, len(class_names), class_names, threshold=r.threshold, ordinal=ordinal)
               for r in runs]
    metrics: dict[str, dict[str, float | None]] = {
        name: {"value": float(np.mean([m[name] for m in per_run]))} for name in per_run[0]
    }
    for name in CI_METRICS + (ORDINAL_METRIC_NAMES if ordinal else ()):
        scores = [r.probs if name in RANKING_METRICS else r.decision_scores() for r in runs]
        _, low, high = bootstrap_ci_over_runs(y_true, scores, {**FAST_METRICS, **ORDINAL_FAST_METRICS}[name], n_boot=n_boot, alpha=CI_ALPHA, seed=seed)
        metrics[name].update(ci_low=low, ci_high=high)
    return {"n": len(y_true), "n_unique_ids": len(set(runs[0].ids)), "metrics": metrics}


def _trainer_metrics(folds: Sequence[FoldResult]) -> dict[str, dict[str, Any]]:
    """Extra metrics the trainer logged, aggregated like the others (``None`` where a fold lacks one)."""
    names = sorted({name for f in folds for name in (f.metrics or {})})
    return {name: aggregate([(f.metrics or {}).get(name) for f in folds]) for name in names}


def _num(value: Any) -> float | None:
    """A finite Python float, or None for None/NaN/inf."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def jsonable(obj: Any) -> Any:
    """Recursively turn numpy types into Python ones and non-finite floats into None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj
