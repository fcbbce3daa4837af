"""Cross-validation summaries of the landmark, face-image and fusion explanations (AU channels: ``summary.py``).

- ``region_importance.png`` / ``.csv``: each landmark region's permutation importance, mean ± std over folds;
- ``view_contribution.png`` / ``.csv``: each view's metric drop when masked (and the attention it receives), mean ±
  std over folds;
- Grad-CAM / attention figures: one per fold (faces are not copied to the CV folder), listed in the report by path.

Each part returns ``(summary entry, report lines)``; the lines start with a ``###`` heading.

Example:
    >>> t = pd.DataFrame({"region": ["mouth"], "mean": [0.25], "std": [0.05]})
    >>> table_markdown(t, "region")[2]
    '| 1 | mouth | 0.250 ± 0.050 |'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facedep.explanations.channel_importance import DEFAULT_REPEATS
from facedep.explanations.fold_tables import has_fold_tables, table_over_folds
from facedep.explanations.plots import plot_channel_importance

REGION_IMAGE = "region_importance.png"
VIEW_IMAGE = "view_contribution.png"
Part = tuple[dict[str, Any], list[str]]


def _worse(table: pd.DataFrame) -> str:
    return "drop in subject macro-F1" if "log_loss_mean" in table else "increase in subject MAE"


def table_markdown(table: pd.DataFrame, label: str, word: str = "fold", top: int = 10) -> list[str]:
    """A ranked markdown table: rank, name, mean ± std (+ log-loss increase, + attention received when present)."""
    extra = [(c, t) for c, t in (("log_loss_mean", "log-loss increase"), ("attention_mean", "attention received"))
             if c in table]
    header = f"| rank | {label} | importance (mean ± std over {word}s) |" + "".join(f" {t} |" for _, t in extra)
    lines = [header, "|---|---|---|" + "---|" * len(extra)]
    for rank, row in enumerate(table.head(top).to_dict("records"), start=1):
        cells = "".join(f" {row[c]:.3f} ± {row[c.replace('_mean', '_std')]:.3f} |" for c, _ in extra)
        lines.append(f"| {rank} | {row[label]} | {row['mean']:.3f} ± {row['std']:.3f} |{cells}")
    return lines


def _figure(table: pd.DataFrame, path: Path, title: str, label: str, word: str, when: str) -> Path:
    panels = [("mean", "std", f"{_worse(table)} when {when}")]
    if "log_loss_mean" in table:
        panels.append(("log_loss_mean", "log_loss_std", "increase in subject log-loss"))
    return plot_channel_importance(table, path, title=title, spread=f"std over {word}s", panels=panels, label=label)


def _entry(table: pd.DataFrame, method: str, image: Path, key: str) -> dict[str, Any]:
    return {"method": method, "image": image.name, key: table.replace({np.nan: None}).to_dict("records")}


def region_part(fold_metrics: Sequence[dict[str, Any]], cv_dir: Path, folds: Sequence[int], word: str = "fold"
                ) -> Part | None:
    """``region_importance.png/.csv`` over folds (every fold wrote ``region_importance``), else None."""
    if not has_fold_tables(fold_metrics, "region_importance"):
        return None
    table = table_over_folds(fold_metrics, "region_importance", "region", folds, word)
    table.to_csv(cv_dir / "region_importance.csv", index=False)
    image = _figure(table, cv_dir / REGION_IMAGE, "Landmark region importance on test subjects", "region", word,
                    "its points are swapped")
    ties = "; ties ranked by the increase in subject log-loss" if "log_loss_mean" in table else ""
    method = (f"permutation importance of each face region of the landmarks (68 points: jaw 0-16, brows 17-26, nose "
              f"27-35, eyes 36-47, mouth 48-67), computed in every {word} on that {word}'s test subjects only: "
              f"{_worse(table)} when the region's points (whole trajectory, before rendering) are swapped between test "
              f"windows, mean of {DEFAULT_REPEATS} seeded permutations; mean ± std over {word}s{ties}")
    lines = ["### Landmark regions", "", f"Method: {method}.", "", *table_markdown(table, "region", word), "",
             f"![Landmark region importance]({image.name})", ""]
    return _entry(table, method, image, "regions"), lines


def view_part(fold_metrics: Sequence[dict[str, Any]], cv_dir: Path, folds: Sequence[int], word: str = "fold"
              ) -> Part | None:
    """``view_contribution.png/.csv`` over folds (every fold wrote ``view_contribution``), else None."""
    if not has_fold_tables(fold_metrics, "view_contribution"):
        return None
    table = table_over_folds(fold_metrics, "view_contribution", "view", folds, word)
    table.to_csv(cv_dir / "view_contribution.csv", index=False)
    image = _figure(table, cv_dir / VIEW_IMAGE, "View contribution on test subjects", "view", word, "masked")
    method = (f"view contribution, computed in every {word} on that {word}'s test subjects only: {_worse(table)} "
              f"when the view is masked in every test window (zeros, present=False: how the data marks a missing "
              f"view); attention received = mean attention the present views give it; mean ± std over {word}s")
    lines = ["### Views", "", f"Method: {method}.", "", *table_markdown(table, "view", word), "",
             f"![View contribution]({image.name})", ""]
    return _entry(table, method, image, "views"), lines


def _relative(path: str, cv_dir: Path) -> str:
    try:
        return Path(os.path.relpath(path, cv_dir)).as_posix()
    except ValueError:  # another drive
        return str(path)


def grad_cam_part(fold_metrics: Sequence[dict[str, Any]], cv_dir: Path, folds: Sequence[int], word: str = "fold"
                  ) -> Part | None:
    """The Grad-CAM / attention figure of every fold that wrote one (paths relative to ``cv_dir``), else None."""
    figures = {f"{word}{k}": _relative((m.get("explanations") or {})["grad_cam"], cv_dir)
               for k, m in zip(folds, fold_metrics) if Path(str((m.get("explanations") or {}).get("grad_cam", ""))).is_file()}
    if not figures:
        return None
    methods = {(m.get("explanations") or {}).get("method") for m in fold_metrics} - {None}
    method = "; ".join(sorted(methods)) or "Grad-CAM"
    lines = ["### Face images", "", f"Method: {method}; up to 8 test faces per {word} (one per subject), that {word}'s "
             "test subjects only. The figures show faces: they stay in the fold folders.", "",
             f"| {word} | figure |", "|---|---|", *[f"| {name} | [{path}]({path}) |" for name, path in figures.items()], ""]
    return {"method": method, "figures": figures}, lines
