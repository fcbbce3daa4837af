"""The "## Late fusion" part of a late-fusion CV report: view weights per fold, missing views, the views alone.

Example:
    >>> fmt_share({"mean": 0.61, "std": 0.05, "per_fold": [0.6, 0.62], "n_valid": 2})
    '0.610 ± 0.050'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from facedep.evaluation.formatting import fmt_ci, fmt_mean_std, fmt_value
from facedep.evaluation.report_markdown import markdown_table
from facedep.evaluation.summary import aggregate, jsonable

CLASS_METRICS: tuple[str, ...] = ("macro_f1", "balanced_accuracy", "auroc")
SCORE_METRICS: tuple[str, ...] = ("mae", "rmse", "ccc")


def fmt_share(entry: dict[str, Any] | None) -> str:
    return fmt_mean_std(entry)


def _view_row(summary: dict[str, Any], kind: str) -> dict[str, Any]:
    """Subject-level mean ± std entries and the pooled headline entry of one CV summary (classes or score)."""
    if kind == "score":
        regression = summary.get("regression") or {}
        subject = (regression.get("metrics") or {}).get("subject", {})
        metrics = {m: subject.get(m) or (summary.get("trainer_metrics") or {}).get(f"test/subject/{m}") for m in SCORE_METRICS}
        return {"metrics": metrics, "pooled": ((regression.get("pooled") or {}).get("model") or {}).get("mae")}
    subject = (summary.get("levels") or {}).get("subject") or {}
    return {"metrics": {m: (subject.get("metrics") or {}).get(m) for m in CLASS_METRICS},
            "pooled": ((subject.get("pooled") or {}).get("metrics") or {}).get("macro_f1")}


def late_fusion_entry(summary: dict[str, Any], records: Mapping[int, dict[str, Any]], view_cv_dirs: Mapping[str, Path],
                      inner_folds: int, C: float, seconds: float) -> dict[str, Any]:
    """``summary["late_fusion"]``: per view the weight share and coefficients per fold, missing counts, inner
    out-of-fold sizes, and the views' own subject-level CV results beside the fused one."""
    folds = [f for f in summary["folds"] if f in records]
    first = records[folds[0]]
    kind, views = first["kind"], first["views"]
    model = first["stacker"]["model"]
    per_view: dict[str, Any] = {}
    for view in views:
        stats = [records[f]["stacker"]["views"][view] for f in folds]
        per_view[view] = {
            "share": aggregate([s["share"] for s in stats]),
            "weight": aggregate([s["weight"] for s in stats]),
            "missing_train": [records[f]["missing"]["train"][view] for f in folds],
            "missing_test": [records[f]["missing"]["test"][view] for f in folds],
            "oof_subjects": [records[f]["inner"][view]["oof_subjects"] for f in folds],
        }
    comparison = {}
    for view, path in view_cv_dirs.items():
        report = Path(path) / "report.json"
        comparison[view] = _view_row(json.loads(report.read_text()), kind) if report.is_file() else None
    comparison["late fusion"] = _view_row(summary, kind)
    return jsonable({
        "kind": kind, "views": views, "inner_folds": inner_folds, "folds": folds,
        "stacker": {"name": model["name"], **({"C": C} if kind == "classes" else
                                              {"alpha_per_fold": [records[f]["stacker"]["model"]["alpha"] for f in folds]})},
        "per_view": per_view, "comparison": comparison,
        "word": "seed" if summary.get("design") == "seeds" else "fold",
        "stacker_files": [f"{records[f].get('run', f'fold{f}')}/stacker.json" for f in folds], "seconds": seconds,
        "view_cv_dirs": {v: str(p) for v, p in view_cv_dirs.items()},
    })


def late_fusion_markdown(entry: dict[str, Any]) -> list[str]:
    """The report section: how the stacker was fitted, view weights, missing views, views alone vs fused."""
    kind, folds, word = entry["kind"], entry["folds"], entry.get("word", "fold")
    stacker = entry["stacker"]
    how = (f"logistic regression (C = {fmt_value(stacker['C'])}) on each view's subject log-odds (log-probabilities "
           "for more than two classes)" if kind == "classes" else
           "ridge regression (penalty chosen by leave-one-out, per fold: "
           + ", ".join(fmt_value(a) for a in stacker["alpha_per_fold"]) + ") on each view's predicted subject score")
    lines = ["## Late fusion", "",
             f"Stacker: {how}, standardized with the outer training subjects' statistics. In every outer fold it is fitted "
             f"on out-of-fold scores of the outer training subjects only (an inner {entry['inner_folds']}-fold subject CV of "
             "each view on a sub-manifest without the outer test subjects), then applied to the outer runs' test-subject "
             f"scores. Details per {word}: " + ", ".join(f"`{p}`" for p in entry["stacker_files"]) + ".", "",
             "### View weights", "",
             "Share = the view's coefficient norm over the sum of all views' (standardized features; the missing "
             "indicator excluded).", ""]
    rows = [[view, fmt_share(body["share"]), *(fmt_value(v) for v in body["share"]["per_fold"])]
            for view, body in entry["per_view"].items()]
    lines += markdown_table(["view", "share (mean ± std)", *(f"{word} {f}" for f in folds)], rows)
    rows = [[view, *(f"{n} ({tr} / {te})" for n, tr, te in zip(body["oof_subjects"], body["missing_train"], body["missing_test"]))]
            for view, body in entry["per_view"].items()]
    lines += ["", "### Out-of-fold subjects per view (subjects imputed for a missing view: training / test)", "",
              *markdown_table(["view", *(f"{word} {f}" for f in folds)], rows)]
    metrics = CLASS_METRICS if kind == "classes" else SCORE_METRICS
    pooled_name = "pooled macro_f1 [95% CI]" if kind == "classes" else "pooled MAE [95% CI]"
    rows = []
    for run, row in entry["comparison"].items():
        if row is None:
            rows.append([run, *(["n/a"] * (len(metrics) + 1))])
            continue
        pooled = row.get("pooled")
        ci = fmt_ci(pooled) if pooled and pooled.get("ci_low") is not None else ""
        rows.append([run, *(fmt_mean_std(row["metrics"].get(m)) for m in metrics),
                     "n/a" if not pooled else f"{fmt_value(pooled.get('value'))} {ci}".strip()])
    lines += ["", f"### Views alone and fused (subject level, mean ± std over {word}s)", "",
              *markdown_table(["run", *metrics, pooled_name], rows), ""]
    return lines


def append_section(cv_dir: Path, summary: dict[str, Any]) -> None:
    """Add the late-fusion section to ``report.md`` and ``summary["late_fusion"]`` to ``report.json``."""
    cv_dir = Path(cv_dir)
    markdown = cv_dir / "report.md"
    markdown.write_text(markdown.read_text().rstrip("\n") + "\n\n" + "\n".join(late_fusion_markdown(summary["late_fusion"])))
    report = cv_dir / "report.json"
    data = json.loads(report.read_text())
    data["late_fusion"] = summary["late_fusion"]
    report.write_text(json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")
