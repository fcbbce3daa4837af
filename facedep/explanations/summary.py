"""Explanations over cross-validation folds: the report's ``## Explanations`` section (:func:`write_cv_explanations`).

AU importance (here): mean ± std of each fold's test-subject permutation importance; landmark regions, fusion views
and face-image figures: :mod:`facedep.explanations.summary_views`. Each fold's importance comes from its own test
subjects only (``--run.explain true``), so the spread over folds says how stable the ranking is across disjoint test
sets.

Example:
    >>> summary = importance_over_folds(fold_metrics, [0, 1, 2])  # doctest: +SKIP
    >>> list(summary.columns)[:3]  # doctest: +SKIP
    ['channel', 'mean', 'std']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facedep.explanations.fold_tables import has_fold_tables, table_over_folds
from facedep.explanations.plots import plot_channel_importance
from facedep.explanations.summary_views import grad_cam_part, region_part, view_part

IMAGE = "au_importance.png"


def has_explanations(fold_metrics: Sequence[dict[str, Any]]) -> bool:
    """Every fold's ``metrics["explanations"]`` names a channel-importance CSV that exists."""
    return has_fold_tables(fold_metrics, "channel_importance")


def importance_over_folds(fold_metrics: Sequence[dict[str, Any]], folds: Sequence[int] | None = None,
                          word: str = "fold") -> pd.DataFrame:
    """``channel, mean, std, <word><k>...`` (and ``log_loss_mean, log_loss_std`` for classifiers), most important first
    (:func:`~facedep.explanations.channel_importance.ranked`: by mean, ties by the log-loss increase)."""
    return table_over_folds(fold_metrics, "channel_importance", "channel", folds, word)


def cv_method(table: pd.DataFrame, word: str = "fold") -> str:
    """The report's method line (the metric follows from the table: a log-loss companion means a classifier)."""
    classifier = "log_loss_mean" in table
    metric = "drop in subject macro-F1 (at the model's decision threshold)" if classifier else "increase in subject MAE"
    ties = "; ties ranked by the increase in subject log-loss" if classifier else ""
    return (f"permutation importance of each AU channel, computed in every {word} on that {word}'s test subjects only "
            f"(no training subject's label is used): {metric} when the channel's whole time series is swapped between "
            f"test windows, mean of 5 seeded permutations; the table gives mean ± std over {word}s{ties}")


def write_importance_figure(table: pd.DataFrame, cv_dir: Path, word: str = "fold") -> Path:
    """``<cv_dir>/au_importance.png``: bars of the mean over folds with std error bars."""
    worse = "drop in subject macro-F1" if "log_loss_mean" in table else "increase in subject MAE"
    panels = [("mean", "std", f"{worse} when permuted")]
    if "log_loss_mean" in table:
        panels.append(("log_loss_mean", "log_loss_std", "increase in subject log-loss"))
    return plot_channel_importance(table, Path(cv_dir) / IMAGE, title="AU importance on test subjects",
                                   spread=f"std over {word}s", panels=panels)


def explanation_markdown(table: pd.DataFrame, method: str, image: str = IMAGE, top: int = 10,
                         word: str = "fold") -> list[str]:
    """The report's ``## Explanations`` lines: method, the top channels (mean ± std over folds), the image.

    >>> t = pd.DataFrame({"channel": ["AU04_r"], "mean": [0.25], "std": [0.05]})
    >>> explanation_markdown(t, "permutation importance")[6]
    '| 1 | AU04_r | 0.250 ± 0.050 |'
    """
    has_loss = "log_loss_mean" in table
    header = f"| rank | channel | importance (mean ± std over {word}s) |" + (" log-loss increase |" if has_loss else "")
    lines = ["## Explanations", "", f"Method: {method}.", "", header, "|---|---|---|" + ("---|" if has_loss else "")]
    for rank, row in enumerate(table.head(top).itertuples(index=False), start=1):
        cell = f"| {rank} | {row.channel} | {row.mean:.3f} ± {row.std:.3f} |"
        lines.append(cell + (f" {row.log_loss_mean:.3f} ± {row.log_loss_std:.3f} |" if has_loss else ""))
    return lines + ["", f"![AU importance]({image})", ""]


def importance_summary(table: pd.DataFrame, method: str, image: Path) -> dict[str, Any]:
    """``summary["explanations"]`` of ``report.json``: method, image name and the ranked table as records."""
    records = table.replace({np.nan: None}).to_dict("records")
    return {"method": method, "image": Path(image).name, "channels": records}


def au_part(fold_metrics: Sequence[dict[str, Any]], cv_dir: Path, folds: Sequence[int] | None = None,
            word: str = "fold") -> tuple[dict[str, Any], list[str]] | None:
    """``au_importance.png/.csv`` over folds (every fold wrote ``channel_importance``): the entry and its report lines
    (``### AU channels`` and the table), else None."""
    if not has_explanations(fold_metrics):
        return None
    table = importance_over_folds(fold_metrics, folds, word)
    table.to_csv(Path(cv_dir) / "au_importance.csv", index=False)
    image = write_importance_figure(table, cv_dir, word)
    method = cv_method(table, word)
    lines = explanation_markdown(table, method, image.name, word=word)
    return importance_summary(table, method, image), ["### AU channels", *lines[1:]]


def write_cv_explanations(fold_metrics: Sequence[dict[str, Any]], cv_dir: Path, folds: Sequence[int] | None = None,
                          word: str = "fold") -> tuple[dict[str, Any], list[str]] | None:
    """The report's ``## Explanations`` from what every fold wrote: AU channels (``au_importance.png/.csv``), landmark
    regions (``region_importance.png/.csv``), views of a fusion model (``view_contribution.png/.csv``), and the face
    images' Grad-CAM figures of each fold (listed by path). Returns ``(summary["explanations"], report lines)``, or
    None when no fold explained anything (nothing written).

    ``summary["explanations"]``: the AU part at the top level (``method``, ``image``, ``channels``), ``regions``,
    ``views``, ``grad_cam`` entries, and ``images``: the figures written into ``cv_dir``.
    """
    if not fold_metrics or not any(m.get("explanations") for m in fold_metrics):
        return None
    cv_dir = Path(cv_dir)
    cv_dir.mkdir(parents=True, exist_ok=True)
    folds = list(folds) if folds is not None else list(range(len(fold_metrics)))
    summary: dict[str, Any] = {}
    lines: list[str] = []
    au = au_part(fold_metrics, cv_dir, folds, word)
    if au is not None:
        summary.update(au[0])
        lines += au[1]
    for key, part in (("regions", region_part), ("views", view_part), ("grad_cam", grad_cam_part)):
        found = part(fold_metrics, cv_dir, folds, word)
        if found is not None:
            summary[key] = found[0]
            lines += found[1]
    if not lines:
        return None
    summary["images"] = [entry["image"] for entry in (summary, summary.get("regions"), summary.get("views"))
                         if entry and entry.get("image")]
    return summary, ["## Explanations", "", *lines]
