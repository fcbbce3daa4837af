"""``study.md``: the human summary of a tuning study (from :func:`facedep.tuning.artefacts.study_summary`), and
:func:`redact_url` for the storage URL it shows.

Example:
    >>> summary = {"title": "Tuning: demo", "name": "demo", "storage": "sqlite:///study.db", "direction": "maximize",
    ...            "counts": {"complete": 0, "pruned": 0, "fail": 1}, "n_trials": 1, "best": None, "trials": [
    ...            {"number": 0, "state": "FAIL", "value": None, "params": {}, "error": "ValueError: bad"}]}
    >>> text = study_markdown(summary, {})
    >>> "No complete trial" in text, "ValueError: bad" in text
    (True, True)
"""

from __future__ import annotations

import re
from typing import Any

from facedep.evaluation.report_markdown import markdown_table

TOP_TRIALS = 10
ERROR_CHARS = 200


def redact_url(url: str) -> str:
    """A storage URL without its password.

    >>> redact_url("postgresql+psycopg2://me:secret@db.example:5432/optuna")
    'postgresql+psycopg2://me:***@db.example:5432/optuna'
    """
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def fmt_param(value: Any) -> str:
    """A parameter value for a table: floats with 4 significant digits.

    >>> fmt_param(0.0123456), fmt_param(8), fmt_param("gru")
    ('0.01235', '8', 'gru')
    """
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def cell(text: Any, limit: int = ERROR_CHARS) -> str:
    """The first line of ``text``, cut at ``limit`` characters, safe inside a Markdown table cell.

    >>> cell("RuntimeError: a | b\\ntraceback ...")
    'RuntimeError: a \\\\| b'
    """
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    first = first if len(first) <= limit else first[: limit - 1] + "…"
    return first.replace("|", "\\|")


def _overview(summary: dict[str, Any]) -> list[str]:
    counts = summary.get("counts", {})
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    attrs = summary.get("user_attrs") or {}
    fold = [f"outer fold {attrs['outer_fold']}"] if "outer_fold" in attrs else []
    inner = [f"{attrs['inner_folds']} inner folds"] if "inner_folds" in attrs else []
    return [f"- study: `{summary['name']}` · storage: `{summary['storage']}`",
            f"- objective: {summary.get('objective', 'objective')} ({summary['direction']})"
            + "".join(f" · {x}" for x in fold + inner),
            f"- trials: {summary['n_trials']} ({shown or 'none'})", ""]


def _best(summary: dict[str, Any]) -> list[str]:
    best = summary.get("best")
    if best is None:
        failed = summary.get("counts", {}).get("fail", 0)
        why = " Every trial failed: see the errors below." if failed and failed == summary["n_trials"] else ""
        return ["## Best trial", "", f"No complete trial yet: no best trial, no best config.{why}", ""]
    inner = ", ".join(f"{v:.4f}" for v in best.get("inner_scores") or [])
    lines = ["## Best trial", "",
             f"Trial {best['number']}: **{_score(best['value'])}**" + (f" (inner folds: {inner})" if inner else ""), "",
             *markdown_table(["parameter", "value"], [[f"`{k}`", fmt_param(v)] for k, v in best["params"].items()]), ""]
    if summary.get("train_command"):
        lines += ["Train with the best config:", "", "```bash", summary["train_command"], "```", ""]
    return lines


def _top(summary: dict[str, Any]) -> list[str]:
    done = [r for r in summary["trials"] if r["state"] == "COMPLETE"]
    if not done:
        return []
    done.sort(key=lambda r: r["value"], reverse=summary["direction"] == "maximize")
    keys = list(dict.fromkeys(k for r in done for k in r["params"]))
    rows = [[rank, r["number"], _score(r["value"]), ", ".join(f"{v:.4f}" for v in r.get("inner_scores") or []),
             *(fmt_param(r["params"][k]) if k in r["params"] else "—" for k in keys)]
            for rank, r in enumerate(done[:TOP_TRIALS], start=1)]
    return [f"## Top trials ({min(len(done), TOP_TRIALS)} of {len(done)} complete)", "",
            *markdown_table(["rank", "trial", "objective", "inner scores", *(f"`{k}`" for k in keys)], rows), ""]


def _pruned(summary: dict[str, Any]) -> list[str]:
    pruned = [r for r in summary["trials"] if r["state"] == "PRUNED"]
    if not pruned:
        return []
    rows = [[r["number"], r.get("last_step", "—"), _score(r.get("last_intermediate"))] for r in pruned]
    return [f"## Pruned trials ({len(pruned)})", "", "Stopped by the pruner at the step shown "
            "(inner fold × max_epochs + epoch) with the validation score they had reached.", "",
            *markdown_table(["trial", "step", "last validation score"], rows), ""]


def _failed(summary: dict[str, Any]) -> list[str]:
    failed = [r for r in summary["trials"] if r["state"] == "FAIL"]
    if not failed:
        return []
    rows = [[r["number"], cell(r.get("error") or "(no error recorded: interrupted?)")] for r in failed]
    return [f"## Failed trials ({len(failed)})", "", *markdown_table(["trial", "error (first line)"], rows), ""]


def _importances(summary: dict[str, Any]) -> list[str]:
    note = summary.get("importances_note")
    importances = summary.get("importances")
    if not importances:
        return ["## Parameter importances", "", f"Not computed: {note}." if note else "Not computed.", ""]
    rows = [[f"`{k}`", f"{v:.3f}"] for k, v in sorted(importances.items(), key=lambda kv: -kv[1])]
    return ["## Parameter importances", "", *([f"{note}.", ""] if note else []),
            *markdown_table(["parameter", "importance"], rows), ""]


def study_markdown(summary: dict[str, Any], images: dict[str, str]) -> str:
    """The Markdown summary of a study; ``images`` maps plot keys to file names beside ``study.md``."""
    lines = [f"# {summary['title']}", "", *_overview(summary), *_best(summary), *_top(summary), *_pruned(summary),
             *_failed(summary)]
    if "importances" in summary:
        lines += _importances(summary)
    if images:
        lines += ["## Plots", ""]
        lines += [line for key, name in images.items() for line in (f"![{key}]({name})", "")]
    return "\n".join(lines).rstrip("\n") + "\n"
