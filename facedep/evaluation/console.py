"""Plain-text tables of a cross-validation summary for the console."""

from __future__ import annotations

from typing import Any

from facedep.evaluation.formatting import fmt_ci, fmt_mean_std, fmt_value, level_label
from facedep.evaluation.levels import LEVELS
from facedep.evaluation.summary import CI_ALPHA


def format_metrics_table(summary: dict[str, Any], digits: int = 3) -> str:
    """Compact plain-text table (metrics × levels, mean ± std; subject pooled value and CI) for a console.

    Example:
        >>> from facedep.evaluation.levels import FoldResult, LevelPredictions
        >>> from facedep.evaluation.summary import summarize_folds
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
