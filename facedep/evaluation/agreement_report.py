"""The agreement table as console text, Markdown (``agreement.md``) and CSV (``agreement.csv``)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from facedep.evaluation.agreement import AgreementSummary
from facedep.evaluation.formatting import fmt_value
from facedep.evaluation.report_markdown import markdown_table

SHOWN: tuple[tuple[str, str], ...] = (
    ("au", "AU"), ("n", "n"), ("pearson_r", "r"), ("icc_3_1", "ICC(3,1)"), ("mad", "MAD"),
    ("reference_std", "ref std"), ("ours_std", "our std"), ("presence_f1", "F1 (_c)"), ("moving", "moving"),
    ("note", "note"),
)


def _cell(value: object) -> str:
    """A table cell: floats with 3 decimals, NaN as ``n/a``, booleans as yes/no.

    Example:
        >>> _cell(0.12345), _cell(float("nan")), _cell(True), _cell(158)
        ('0.123', 'n/a', 'yes', '158')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt_value(None if math.isnan(value) else value)
    return str(value)


def table_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of an :func:`~facedep.evaluation.agreement.au_agreement` table
    (a ``video`` column first when the table has one)."""
    shown = (("video", "video"),) * ("video" in table.columns) + SHOWN
    header = [title for _, title in shown]
    rows = [[_cell(record[key]) for key, _ in shown] for record in table.to_dict("records")]
    return header, rows


def format_agreement_table(table: pd.DataFrame) -> str:
    """Plain-text aligned table for the console."""
    header, rows = table_rows(table)
    lines = [header, *rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines)


def agreement_markdown(table: pd.DataFrame, summary: AgreementSummary, matching: str,
                       per_video: pd.DataFrame | None = None, plots: dict[str, str] | None = None) -> str:
    """``agreement.md``: the goal line, how frames were matched, the table, per-video rows and plot links."""
    lines = ["# AU agreement", "", f"**{summary.line()}**", "", matching, "",
             "r: Pearson correlation of the `_r` intensities; ICC(3,1): two-way mixed, consistency, single "
             "rater; MAD: mean absolute difference of `_r`; F1 (_c): presence F1 with the reference as truth; "
             f"moving: reference std >= {summary.moving_std:g}.", "", *markdown_table(*table_rows(table))]
    if per_video is not None and len(per_video):
        lines += ["", "## Per video", "", *markdown_table(*table_rows(per_video))]
    if plots:
        lines += ["", "## Plots", ""] + [f"[![{au}]({name})]({name})" for au, name in plots.items()]
    return "\n".join(lines) + "\n"


def write_agreement(out_dir: Path, table: pd.DataFrame, markdown: str, per_video: pd.DataFrame | None = None) -> list[Path]:
    """Write ``agreement.csv`` (the table, plus ``agreement_per_video.csv`` when given) and ``agreement.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "agreement.csv", out_dir / "agreement.md"]
    table.to_csv(written[0], index=False)
    written[1].write_text(markdown, encoding="utf-8")
    if per_video is not None:
        written.append(out_dir / "agreement_per_video.csv")
        per_video.to_csv(written[-1], index=False)
    return written
