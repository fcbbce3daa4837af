"""The Markdown cross-validation report (``report.md``) from a summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from facedep.evaluation.formatting import fmt_ci, fmt_mean_std, fmt_value, leakage_note, level_label, run_word, runs_label


def render_markdown(
    summary: dict[str, Any],
    title: str = "Cross-validation report",
    images: dict[str, str] | None = None,
    config_text: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """The Markdown report; ``images`` maps plot keys to file names relative to the report; ``extra`` lines (e.g.
    the nested-CV section) come before the config."""
    levels = list(summary["levels"])
    shown = levels or list((summary.get("regression") or {}).get("metrics", {}))  # a regressor's levels
    runs = runs_label(summary)
    lines = [
        f"# {title}",
        "",
        f"{runs} · classes: {', '.join(summary['class_names'])} · levels: {', '.join(level_label(summary, lv) for lv in shown)}",
        "",
        *_md_notes(summary),
        f"## Metrics (mean ± std over {runs})",
        "",
        *markdown_table(
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
    if summary.get("regression"):
        from facedep.evaluation.regression_markdown import regression_markdown

        lines += regression_markdown(summary["regression"], run_word(summary))
    if summary.get("pooled_regression"):
        from facedep.evaluation.regression_summary import markdown_lines

        lines += ["## Pooled over folds (bootstrap 95% CI)", "", *markdown_lines(summary["pooled_regression"]), ""]
    if summary.get("trainer_metrics"):
        lines += ["## Metrics logged by the trainer", "", *_md_trainer(summary), ""]
    if images:
        lines += ["## Plots", ""]
        for key, name in images.items():
            lines += [f"[![{key}]({name})]({name})", ""]
    if extra:
        lines += [*extra, ""]
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


def _md_notes(summary: dict[str, Any]) -> list[str]:
    """Leakage warning, the decision rule (thresholds per fold) and how seeds are pooled, as paragraphs."""
    notes = [leakage_note(summary)] if summary.get("identity_leakage") else []
    decision = summary.get("decision") or {}
    if decision.get("rule") == "threshold":
        shown = ", ".join(fmt_value(t) for t in decision["thresholds"])
        notes.append(f"Decisions: P({summary['class_names'][-1]}) >= the threshold tuned on validation, per "
                     f"{run_word(summary)}: {shown} (the runs' metrics.json use the same).")
    if summary.get("ordinal"):
        notes.append(f"Ordered classes ({' < '.join(summary['class_names'])}): qwk = quadratic-weighted Cohen's kappa, "
                     "mae_classes = mean |decided - true| class distance, recall_<class> = that class's recall.")
    if summary.get("design") == "seeds":
        notes.append("Repeated seeds of one fixed split: every seed tests the same subjects. Pooled values are the "
                     "mean over seeds; each subject counts once in every pooled statistic and the bootstrap draws "
                     "each subject once per resample for all seeds.")
    return [line for note in notes for line in (note, "")]


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
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
        *markdown_table(["metric", "pooled", f"{pct}% CI"], rows),
    ]


def _md_counts(summary: dict[str, Any]) -> list[str]:
    """Per-class counts table, rows = levels."""
    names = summary["class_names"]
    rows = [
        [level_label(summary, lv), *(info["counts"]["pooled"][c] for c in names), info["n"]]
        for lv, info in summary["levels"].items()
    ]
    return markdown_table(["level", *names, "total"], rows)


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
    return markdown_table([run_word(summary), "n", *(f"n_{c}" for c in names), *metrics], rows)


def _md_trainer(summary: dict[str, Any]) -> list[str]:
    """Trainer-logged metrics: mean ± std and per-fold values."""
    folds = summary["folds"]
    rows = [
        [name, fmt_mean_std(entry), *(fmt_value(v) for v in entry["per_fold"])]
        for name, entry in summary["trainer_metrics"].items()
    ]
    return markdown_table(["metric", "mean ± std", *(f"{run_word(summary)} {f}" for f in folds)], rows)
