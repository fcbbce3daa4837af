"""Markdown / plain-text tables of the regression part of a CV report (``summary["regression"]``).

The mean baseline (every subject predicted as the training mean) sits under the model's row, so a model
that does not beat it shows at once.
"""

from __future__ import annotations

from typing import Any

from facedep.evaluation.formatting import fmt_mean_std, fmt_value
from facedep.evaluation.regression_report import BINARY_METRICS, MODEL_METRICS, POOLED_METRICS

LABELS = {"mae": "MAE", "rmse": "RMSE", "ccc": "CCC", "r": "r"}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def per_run_lines(entry: dict[str, Any], word: str = "fold") -> list[str]:
    """Per level: model row and mean-baseline row of MAE / RMSE / CCC / r (mean ± std over runs), then the
    thresholded-score binary metrics (mean ± std) by level."""
    lines: list[str] = []
    metrics = entry.get("metrics", {})
    for level, body in metrics.items():
        model = [fmt_mean_std(body.get(m)) for m in MODEL_METRICS]
        baseline = [fmt_mean_std(body.get(f"baseline_{m}")) if f"baseline_{m}" in body else "—" for m in MODEL_METRICS]
        lines += [f"### {level} level (mean ± std over {word}s)", "",
                  *_table(["", *(LABELS[m] for m in MODEL_METRICS)], [["model", *model], ["mean baseline", *baseline]]), ""]
    binary = [m for m in BINARY_METRICS if any(m in body for body in metrics.values())]
    if binary:
        levels = [lv for lv in metrics if any(m in metrics[lv] for m in binary)]
        lines += [f"### Thresholded score (positive = score >= threshold), mean ± std over {word}s", "",
                  *_table(["metric", *levels], [[m, *(fmt_mean_std(metrics[lv].get(m)) for lv in levels)] for m in binary]), ""]
    return lines


def _cell(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    ci = f" [{fmt_value(e['ci_low'])}, {fmt_value(e['ci_high'])}]" if e.get("ci_low") is not None else ""
    return fmt_value(e["value"]) + ci


def pooled_lines(entry: dict[str, Any]) -> list[str]:
    """Subject-level pooled metrics of the model and the mean baseline with their bootstrap CIs."""
    pooled = entry.get("pooled")
    if not pooled:
        return []
    pct = round(100 * (1 - entry.get("alpha", 0.05)))
    how = (f"mean over {pooled['runs']} seeds on the same subjects, each subject drawn once per resample for all seeds"
           if pooled["design"] == "seeds" else "pooled over folds")
    baseline = pooled.get("baseline", {})
    rows = [["model", *(_cell(pooled["model"].get(m)) for m in POOLED_METRICS)],
            ["mean baseline", *(_cell(baseline.get(m)) if m in baseline else "—" for m in POOLED_METRICS)]]
    lines = [f"### Subject level, {how} (n = {pooled['n_subjects']} subjects)", "",
             f"{pct}% CI: percentile cluster bootstrap over subjects, {pooled['n_boot']} resamples, seed {pooled['seed']}; "
             "the baseline is scored on the same resamples.", "",
             *_table(["", *(f"{LABELS[m]} [{pct}% CI]" for m in POOLED_METRICS)], rows), ""]
    if pooled.get("mae_minus_baseline"):
        lines += [f"Model MAE - baseline MAE: {_cell(pooled['mae_minus_baseline'])} (below 0: the model beats the mean).", ""]
    if pooled.get("baseline_note"):
        lines += [pooled["baseline_note"], ""]
    return lines


def regression_markdown(entry: dict[str, Any], word: str = "fold") -> list[str]:
    """The report's ``## Regression`` section."""
    return ["## Regression", "", *per_run_lines(entry, word), *pooled_lines(entry)]
