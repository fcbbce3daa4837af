"""Cross-validation report: per-fold predictions at window/video/subject level -> JSON, Markdown, PNGs.

Pure functions, no Lightning. The trainer hands over one :class:`FoldResult` per subject-level fold,
or per seed when a fixed split (``split: column``) is trained with several seeds (``design="seeds"``).

Decisions use the threshold stored with each fold's predictions (tuned on validation) wherever one
is given, argmax otherwise, so the report's metrics and confusion matrices are the fold's
``metrics.json`` ones. A pooled table counts each subject once: a subject in two folds' test sets is
an error; over seeds, each pooled statistic is the mean over seeds on the same subjects, and the
bootstrap draws each subject once for all seeds.

Example:
    >>> import numpy as np
    >>> preds = LevelPredictions(["s1", "s2"], np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]))
    >>> summary = summarize_folds([FoldResult(0, {"subject": preds})], ["healthy", "depressed"], n_boot=50)
    >>> summary["levels"]["subject"]["metrics"]["macro_f1"]["mean"]
    1.0
    >>> paths = write_report(summary, [FoldResult(0, {"subject": preds})], ["healthy", "depressed"],
    ...                      Path("/tmp/cv_report"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from facedep.evaluation.bootstrap import bootstrap_ci_over_runs
from facedep.evaluation.classification_metrics import FAST_METRICS, METRIC_NAMES, RANKING_METRICS, compute_metrics, confusion, predict

LEVELS: tuple[str, ...] = ("window", "video", "subject")
"""Known prediction levels, in report order (others follow alphabetically)."""
CI_METRICS: tuple[str, ...] = ("macro_f1", "accuracy", "balanced_accuracy", "auroc")
"""Subject-level pooled metrics that get a bootstrap confidence interval."""
CI_ALPHA = 0.05
Design = Literal["folds", "seeds"]
"""``folds``: disjoint test sets (k-fold); ``seeds``: one fixed split trained once per seed."""


@dataclass
class LevelPredictions:
    """One fold's test predictions at one level: ids, int labels (N,), class probabilities (N, K).

    ``threshold`` (binary only): the decision threshold on ``probs[:, 1]`` the fold's model used (a
    number, or one per row once folds are pooled); None decides by argmax.

    Example:
        >>> LevelPredictions(["a"], np.array([1]), np.array([[0.2, 0.8]])).probs.shape
        (1, 2)
        >>> LevelPredictions(["a", "b"], [0, 1], [[0.7, 0.3], [0.6, 0.4]], threshold=0.35).decisions().tolist()
        [0, 1]
    """

    ids: list[str]
    y_true: np.ndarray
    probs: np.ndarray
    threshold: np.ndarray | float | None = None

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        self.y_true = np.asarray(self.y_true).astype(int).reshape(-1)
        self.probs = np.asarray(self.probs, dtype=float)
        if self.probs.ndim != 2 or not len(self.ids) == len(self.y_true) == len(self.probs):
            raise ValueError(
                f"LevelPredictions: {len(self.ids)} ids, y_true {self.y_true.shape}, probs {self.probs.shape}"
            )
        if self.threshold is not None:
            threshold = np.broadcast_to(np.asarray(self.threshold, dtype=float), (len(self.ids),)).copy()
            if self.probs.shape[1] != 2:
                raise ValueError(f"a decision threshold needs binary probabilities, got {self.probs.shape[1]} classes")
            if not np.all((threshold >= 0) & (threshold <= 1)):
                raise ValueError(f"decision thresholds must lie in [0, 1], got {np.unique(threshold).tolist()}")
            self.threshold = threshold

    def decisions(self) -> np.ndarray:
        """Predicted class per row: ``probs[:, 1] >= threshold``, or argmax without a threshold."""
        return predict(self.probs, self.threshold)

    def decision_scores(self) -> np.ndarray:
        """One-hot decisions (N, K): what the argmax-based fast metrics need to score the thresholded decisions."""
        return np.eye(self.probs.shape[1])[self.decisions()]

    def fold_threshold(self) -> float | None:
        """The single threshold of a fold's predictions (None without one)."""
        if self.threshold is None or not len(self.threshold):
            return None
        values = np.unique(self.threshold)
        if len(values) > 1:
            raise ValueError(f"one fold's predictions carry several thresholds: {values.tolist()}")
        return float(values[0])

    @classmethod
    def concat(cls, parts: Sequence[LevelPredictions]) -> LevelPredictions:
        """Stack several prediction sets (e.g. all folds' test subjects) into one; thresholds stay per row."""
        thresholded = any(p.threshold is not None for p in parts)
        return cls(
            ids=[i for p in parts for i in p.ids],
            y_true=np.concatenate([p.y_true for p in parts]),
            probs=np.concatenate([p.probs for p in parts]),
            threshold=np.concatenate([p.threshold if p.threshold is not None else np.full(len(p.ids), 0.5) for p in parts])
            if thresholded else None,
        )


@dataclass
class FoldResult:
    """One fold's (or seed's) test predictions by level (``"window"``, ``"video"``, ``"subject"``), extra
    metrics, and its data report (``metrics.json["data"]``: ``identity_leakage`` is read from it)."""

    fold: int
    predictions: dict[str, LevelPredictions]
    metrics: dict[str, float] | None = field(default=None)
    data: dict[str, Any] | None = field(default=None)


# --------------------------------------------------------------------------------------------- summary


def summarize_folds(
    folds: list[FoldResult], class_names: list[str], n_boot: int = 1000, seed: int = 0, design: Design = "folds"
) -> dict[str, Any]:
    """JSON-able summary: per level, per-fold metrics with mean/std, class counts, pooled confusion;
    at subject level also pooled metrics with stratified bootstrap 95% CIs.

    NaN values (e.g. AUROC of a single-class fold) are stored as ``None`` and left out of mean/std.
    ``design="seeds"``: the entries of ``folds`` are seeds of one fixed split (same test subjects); each
    pooled number counts a subject once (see :func:`pooled_over_seeds`). With ``"folds"`` a subject in two
    folds' test sets is an error.

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
    # No level predictions (a model with its own tables, e.g. a regressor): only its logged metrics are summarised.
    metric_names = list(METRIC_NAMES) + [f"f1_{c}" for c in class_names] if levels_of(folds) else []
    summary: dict[str, Any] = {
        "class_names": list(class_names),
        "design": design,
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
        summary["levels"][level] = _summarize_level(folds, level, class_names, metric_names, design)
    if "subject" in summary["levels"]:
        parts = [(f.fold, f.predictions["subject"]) for f in folds if "subject" in f.predictions]
        pooled = pooled_over_seeds(parts, class_names, n_boot, seed) if design == "seeds" else pooled_over_folds(parts, class_names, n_boot, seed)
        summary["levels"]["subject"]["pooled"] = pooled
    trainer = _trainer_metrics(folds)
    if trainer:
        summary["trainer_metrics"] = trainer
    return _jsonable(summary)


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


def levels_of(folds: Sequence[FoldResult]) -> list[str]:
    """Levels present in any fold, known ones first (window, video, subject), then alphabetically.

    Example:
        >>> levels_of([FoldResult(0, {"subject": None, "window": None})])
        ['window', 'subject']
    """
    present = {lv for f in folds for lv in f.predictions}
    return [lv for lv in LEVELS if lv in present] + sorted(present - set(LEVELS))


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
    folds: Sequence[FoldResult], level: str, class_names: list[str], metric_names: list[str], design: Design = "folds"
) -> dict[str, Any]:
    """Per-fold metrics (mean/std), counts and pooled confusion of one level (decisions at each fold's threshold).

    Over seeds the counts are those of one seed's test set and the confusion is the mean over seeds,
    so that every sample counts once.
    """
    k = len(class_names)
    parts = [(f.fold, f.predictions[level]) for f in folds if level in f.predictions]
    per_fold = [compute_metrics(p.y_true, p.probs, k, class_names, threshold=p.threshold) for _, p in parts]
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
    parts: Sequence[tuple[int, LevelPredictions]], class_names: list[str], n_boot: int, seed: int
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
    return _pooled_metrics(pooled.y_true, [pooled], class_names, n_boot, seed)


def pooled_over_seeds(
    parts: Sequence[tuple[int, LevelPredictions]], class_names: list[str], n_boot: int, seed: int
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
    pooled = _pooled_metrics(reference.y_true, aligned, class_names, n_boot, seed)
    pooled["seeds"] = len(aligned)
    return pooled


def _pooled_metrics(
    y_true: np.ndarray, runs: Sequence[LevelPredictions], class_names: list[str], n_boot: int, seed: int
) -> dict[str, Any]:
    """Mean over ``runs`` (one per seed; one for pooled folds) of every metric on the same subjects, with CIs."""
    per_run = [compute_metrics(y_true, r.probs, len(class_names), class_names, threshold=r.threshold) for r in runs]
    metrics: dict[str, dict[str, float | None]] = {
        name: {"value": float(np.mean([m[name] for m in per_run]))} for name in per_run[0]
    }
    for name in CI_METRICS:
        scores = [r.probs if name in RANKING_METRICS else r.decision_scores() for r in runs]
        _, low, high = bootstrap_ci_over_runs(y_true, scores, FAST_METRICS[name], n_boot=n_boot, alpha=CI_ALPHA, seed=seed)
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


def _jsonable(obj: Any) -> Any:
    """Recursively turn numpy types into Python ones and non-finite floats into None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


# --------------------------------------------------------------------------------------------- writing


def write_report(
    summary: dict[str, Any],
    folds: list[FoldResult],
    class_names: list[str],
    out_dir: Path,
    title: str = "Cross-validation report",
    config_text: str | None = None,
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``confusion_<level>.png`` and ``roc_<level>.png``.

    Returns ``{"json": ..., "markdown": ..., "confusion_<level>": ..., "roc_<level>": ...}``; a ROC plot
    is skipped for a level whose pooled labels hold a single class.

    Example:
        >>> paths = write_report(summary, folds, ["hc", "dep"], Path("runs/cv"))  # doctest: +SKIP
        >>> sorted(paths)  # doctest: +SKIP
        ['confusion_subject', 'json', 'markdown', 'roc_subject']
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for level, info in summary["levels"].items():
        over = "mean over seeds" if summary.get("design") == "seeds" else "pooled"
        paths[f"confusion_{level}"] = plot_confusion(
            np.array(info["confusion"]), class_names, out_dir / f"confusion_{level}.png",
            title=f"{level_label(summary, level)} level ({over})",
        )
        roc = plot_roc(folds, level, class_names, out_dir / f"roc_{level}.png", summary.get("design", "folds"))
        if roc is not None:
            paths[f"roc_{level}"] = roc
    paths["json"] = out_dir / "report.json"
    paths["json"].write_text(json.dumps(_jsonable(summary), indent=2, allow_nan=False) + "\n")
    paths["markdown"] = out_dir / "report.md"
    images = {k: p.name for k, p in paths.items() if p.suffix == ".png"}
    paths["markdown"].write_text(render_markdown(summary, title, images, config_text))
    return paths


def fmt_mean_std(entry: dict[str, Any] | None, digits: int = 3) -> str:
    """``"0.812 ± 0.041"`` from an :func:`aggregate` entry, ``"n/a"`` without a value.

    Example:
        >>> fmt_mean_std({"mean": 0.8123, "std": 0.0414})
        '0.812 ± 0.041'
    """
    if not entry or entry.get("mean") is None:
        return "n/a"
    return f"{entry['mean']:.{digits}f} ± {entry['std']:.{digits}f}"


def fmt_value(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``"n/a"`` for None."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_ci(entry: dict[str, Any], digits: int = 3) -> str:
    """``"[0.700, 0.890]"`` from a pooled entry with ``ci_low``/``ci_high``, ``"—"`` without a CI."""
    if "ci_low" not in entry:
        return "—"
    return f"[{fmt_value(entry['ci_low'], digits)}, {fmt_value(entry['ci_high'], digits)}]"


def render_markdown(
    summary: dict[str, Any],
    title: str = "Cross-validation report",
    images: dict[str, str] | None = None,
    config_text: str | None = None,
) -> str:
    """The Markdown report; ``images`` maps plot keys to file names relative to the report."""
    levels = list(summary["levels"])
    runs = runs_label(summary)
    lines = [
        f"# {title}",
        "",
        f"{runs} · classes: {', '.join(summary['class_names'])} · levels: {', '.join(level_label(summary, lv) for lv in levels)}",
        "",
        *_md_notes(summary),
        f"## Metrics (mean ± std over {runs})",
        "",
        *_md_table(
            ["metric", *(level_label(summary, lv) for lv in levels)],
            [
                [name, *(fmt_mean_std(summary["levels"][lv]["metrics"].get(name)) for lv in levels)]
                for name in summary["metric_names"]
            ],
        ),
    ]
    if "pooled" in summary["levels"].get("subject", {}):
        lines += ["", *_md_pooled(summary)]
    if levels:
        counted = "the test set, the same in every seed" if summary.get("design") == "seeds" else "pooled over folds"
        lines += ["", f"## Class counts ({counted})", "", *_md_counts(summary)]
        lines += ["", f"## Per {run_word(summary)}", ""]
        for level in levels:
            lines += [f"### {level_label(summary, level)}", "", *_md_per_fold(summary, level), ""]
    else:  # no level predictions (a model with its own tables): the trainer's metrics are the summary
        lines = lines[:4] + _md_notes(summary)
    if summary.get("pooled_regression"):
        from facedep.evaluation.regression_summary import markdown_lines

        lines += ["## Pooled over folds (bootstrap 95% CI)", "", *markdown_lines(summary["pooled_regression"]), ""]
    if summary.get("trainer_metrics"):
        lines += ["## Metrics logged by the trainer", "", *_md_trainer(summary), ""]
    if images:
        lines += ["## Plots", ""]
        for key, name in images.items():
            lines += [f"[![{key}]({name})]({name})", ""]
    if config_text:
        lines += [
            "## Config",
            "",
            "<details><summary>Config</summary>",
            "",
            "```yaml",
            config_text.rstrip("\n"),
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def run_word(summary: dict[str, Any]) -> str:
    """``"seed"`` for repeated seeds of a fixed split, else ``"fold"``."""
    return "seed" if summary.get("design") == "seeds" else "fold"


def runs_label(summary: dict[str, Any]) -> str:
    """``"5 folds"`` or ``"3 seeds of one fixed split"``.

    Example:
        >>> runs_label({"design": "seeds", "folds": [0, 1, 2]})
        '3 seeds of one fixed split'
    """
    n = len(summary["folds"])
    return f"{n} seeds of one fixed split" if summary.get("design") == "seeds" else f"{n} folds"


def level_label(summary: dict[str, Any], level: str) -> str:
    """The level's name, saying what a "subject" is when it is a frame (no subject ids: identity leaks).

    Example:
        >>> level_label({"unit": "frame"}, "subject"), level_label({"unit": "subject"}, "subject")
        ('frame (no subject ids)', 'subject')
    """
    if summary.get("unit") == "frame" and level in ("video", "subject"):
        return "frame (no subject ids)"
    return level


def leakage_note(summary: dict[str, Any]) -> str | None:
    """The identity-leakage warning for a summary whose data had no subject ids, else None."""
    if not summary.get("identity_leakage"):
        return None
    return ("**Identity leakage** (`identity_leakage: true` in the data report): the data names no subject "
            "(e.g. an AU severity CSV without a group column), so the split is frame-level and the same "
            "person's frames are in training and test. Every 'subject' below is one frame; these numbers "
            "overestimate performance on new people.")


def _md_notes(summary: dict[str, Any]) -> list[str]:
    """Leakage warning, the decision rule (thresholds per fold) and how seeds are pooled, as paragraphs."""
    notes = [leakage_note(summary)] if summary.get("identity_leakage") else []
    decision = summary.get("decision") or {}
    if decision.get("rule") == "threshold":
        shown = ", ".join(fmt_value(t) for t in decision["thresholds"])
        notes.append(f"Decisions: P({summary['class_names'][-1]}) >= the threshold tuned on validation, per "
                     f"{run_word(summary)}: {shown} (the runs' metrics.json use the same).")
    if summary.get("design") == "seeds":
        notes.append("Repeated seeds of one fixed split: every seed tests the same subjects. Pooled values are the "
                     "mean over seeds; each subject counts once in every pooled statistic and the bootstrap draws "
                     "each subject once per resample for all seeds.")
    return [line for note in notes for line in (note, "")]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Markdown table lines."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def _md_pooled(summary: dict[str, Any]) -> list[str]:
    """Subject-level pooled metrics with CIs."""
    pooled = summary["levels"]["subject"]["pooled"]
    boot = summary["bootstrap"]
    pct = round(100 * (1 - boot["alpha"]))
    rows = [
        [name, fmt_value(pooled["metrics"][name]["value"]), fmt_ci(pooled["metrics"][name])]
        for name in summary["metric_names"]
        if name in pooled["metrics"]
    ]
    unit = boot.get("unit", "subject")
    level = "Frame level (no subject ids)" if unit == "frame" else "Subject level"
    over = f"mean over {len(summary['folds'])} seeds" if summary.get("design") == "seeds" else "pooled over folds"
    return [
        f"## {level}, {over} (n = {pooled['n']} {unit}s, each counted once)",
        "",
        f"{pct}% CI: stratified percentile bootstrap over {unit}s, {boot['n_boot']} resamples, seed {boot['seed']}.",
        "",
        *_md_table(["metric", "pooled", f"{pct}% CI"], rows),
    ]


def _md_counts(summary: dict[str, Any]) -> list[str]:
    """Per-class counts table, rows = levels."""
    names = summary["class_names"]
    rows = [
        [level_label(summary, lv), *(info["counts"]["pooled"][c] for c in names), info["n"]]
        for lv, info in summary["levels"].items()
    ]
    return _md_table(["level", *names, "total"], rows)


def _md_per_fold(summary: dict[str, Any], level: str) -> list[str]:
    """Per-fold table of one level: n, class counts, every metric."""
    info = summary["levels"][level]
    names, metrics = summary["class_names"], summary["metric_names"]
    rows = [
        [
            fold,
            info["n_per_fold"][i],
            *(info["counts"]["per_fold"][i][c] for c in names),
            *(fmt_value(info["metrics"][m]["per_fold"][i]) for m in metrics),
        ]
        for i, fold in enumerate(info["folds"])
    ]
    return _md_table([run_word(summary), "n", *(f"n_{c}" for c in names), *metrics], rows)


def _md_trainer(summary: dict[str, Any]) -> list[str]:
    """Trainer-logged metrics: mean ± std and per-fold values."""
    folds = summary["folds"]
    rows = [
        [name, fmt_mean_std(entry), *(fmt_value(v) for v in entry["per_fold"])]
        for name, entry in summary["trainer_metrics"].items()
    ]
    return _md_table(["metric", "mean ± std", *(f"{run_word(summary)} {f}" for f in folds)], rows)


def format_metrics_table(summary: dict[str, Any], digits: int = 3) -> str:
    """Compact plain-text table (metrics × levels, mean ± std; subject pooled value and CI) for a console.

    Example:
        >>> p = LevelPredictions(["s1", "s2"], [0, 1], [[0.8, 0.2], [0.3, 0.7]])
        >>> print(format_metrics_table(summarize_folds([FoldResult(0, {"subject": p})], ["hc", "dep"], n_boot=20)))
        ... # doctest: +NORMALIZE_WHITESPACE
        metric             subject        subject pooled [95% CI]
        macro_f1           1.000 ± 0.000  1.000 [1.000, 1.000]
        accuracy           1.000 ± 0.000  1.000 [1.000, 1.000]
        balanced_accuracy  1.000 ± 0.000  1.000 [1.000, 1.000]
        macro_precision    1.000 ± 0.000  1.000
        macro_recall       1.000 ± 0.000  1.000
        auroc              1.000 ± 0.000  1.000 [1.000, 1.000]
        f1_hc              1.000 ± 0.000  1.000
        f1_dep             1.000 ± 0.000  1.000
    """
    levels = list(summary["levels"])
    pooled = summary["levels"].get("subject", {}).get("pooled")
    pct = round(100 * (1 - summary.get("bootstrap", {}).get("alpha", CI_ALPHA)))
    unit = summary.get("unit", "subject")
    header = ["metric", *(level_label(summary, lv) for lv in levels)] + ([f"{unit} pooled [{pct}% CI]"] if pooled else [])
    rows = [header]
    for name in summary["metric_names"]:
        row = [name, *(fmt_mean_std(summary["levels"][lv]["metrics"].get(name), digits) for lv in levels)]
        if pooled:
            entry = pooled["metrics"].get(name, {"value": None})
            ci = fmt_ci(entry, digits)
            row.append(fmt_value(entry["value"], digits) + ("" if ci == "—" else f" {ci}"))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def format_trainer_table(summary: dict[str, Any], digits: int = 3) -> str:
    """Plain-text table of the trainer-logged metrics: ``test/<level>/<metric>`` as metric × level, mean ± std.

    Example:
        >>> s = {"trainer_metrics": {"test/video/mae": {"mean": 0.5, "std": 0.1}, "test/loss": {"mean": 0.2, "std": 0.0}}}
        >>> print(format_trainer_table(s))  # doctest: +NORMALIZE_WHITESPACE
        metric  video          (no level)
        loss    n/a            0.200 ± 0.000
        mae     0.500 ± 0.100  n/a
    """
    entries = summary.get("trainer_metrics", {})
    split = {name: (name.split("/")[1], name.split("/")[2]) if name.count("/") == 2 else ("(no level)", name.split("/")[-1])
             for name in entries}
    present = {lv for lv, _ in split.values()}
    levels = [lv for lv in LEVELS if lv in present] + sorted(present - set(LEVELS))
    cells = {split[name]: fmt_mean_std(entry, digits) for name, entry in entries.items()}
    rows = [["metric", *levels]] + [[m, *(cells.get((lv, m), "n/a") for lv in levels)]
                                    for m in sorted({m for _, m in split.values()})]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# --------------------------------------------------------------------------------------------- plots


def _new_figure(size: tuple[float, float]) -> Figure:
    """A pyplot-free figure on the Agg canvas (no global backend switch, nothing leaks)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], path: Path, title: str = "") -> Path:
    """Save a confusion-matrix heat map with counts annotated; rows = true, columns = predicted."""
    k = len(class_names)
    size = max(3.5, 1.0 + 0.8 * k)
    fig = _new_figure((size + 0.8, size))
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, shrink=0.8)
    threshold = cm.max() / 2 if cm.size and cm.max() > 0 else 0.5
    for i in range(k):
        for j in range(k):
            color = "white" if cm[i, j] > threshold else "black"
            value = cm[i, j]
            text = str(int(value)) if float(value).is_integer() else f"{value:.1f}"
            ax.text(j, i, text, ha="center", va="center", color=color)
    ax.set_xticks(range(k), list(class_names), rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k), list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion, {title}" if title else "Confusion")
    fig.savefig(path, dpi=120)
    return path


def plot_roc(
    folds: Sequence[FoldResult], level: str, class_names: Sequence[str], path: Path, design: Design = "folds"
) -> Path | None:
    """Save ROC curves of one level: binary, one per fold plus pooled; multi-class, one-vs-rest pooled.

    Over seeds (``design="seeds"``) the runs score the same subjects: one curve per seed, no pooled curve
    (binary), and the first seed's one-vs-rest curves (multi-class). Returns None (and writes nothing)
    when the pooled labels hold a single class.
    """
    parts = [(f.fold, f.predictions[level]) for f in folds if level in f.predictions]
    if not parts:
        return None
    seeds = design == "seeds"
    pooled = parts[0][1] if seeds else LevelPredictions.concat([p for _, p in parts])
    if len(np.unique(pooled.y_true)) < 2:
        return None
    fig = _new_figure((5.0, 4.5))
    ax = fig.subplots()
    if len(class_names) == 2:
        for fold, p in parts:
            _roc_line(ax, p.y_true == 1, p.probs[:, 1], f"{'seed' if seeds else 'fold'} {fold}", lw=1.0, alpha=0.6)
        if not seeds:
            _roc_line(ax, pooled.y_true == 1, pooled.probs[:, 1], "pooled", lw=2.5, color="black")
        ax.set_title(f"ROC, {level} level ({class_names[1]} vs {class_names[0]})")
    else:
        for k, name in enumerate(class_names):
            _roc_line(ax, pooled.y_true == k, pooled.probs[:, k], f"{name} vs rest", lw=1.8)
        ax.set_title(f"ROC, {level} level (one-vs-rest, {f'seed {parts[0][0]}' if seeds else 'pooled'})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=120)
    return path


def _roc_line(ax: Any, positive: np.ndarray, scores: np.ndarray, label: str, **style: Any) -> None:
    """Draw one ROC curve with its AUC in the label; skipped when ``positive`` is all one value."""
    if positive.all() or not positive.any():
        return
    fpr, tpr, _ = roc_curve(positive, scores)
    ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(positive, scores):.3f})", **style)
