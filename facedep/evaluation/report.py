"""Cross-validation report: per-fold predictions at window/video/subject level -> JSON, Markdown, PNGs.

Pure functions, no Lightning. The trainer hands over one :class:`FoldResult` per subject-level fold,
or per seed when a fixed split (``split: column``) is trained with several seeds (``design="seeds"``).

Decisions use the threshold stored with each fold's predictions (tuned on validation) wherever one
is given, argmax otherwise, so the report's metrics and confusion matrices are the fold's
``metrics.json`` ones. A pooled table counts each subject once: a subject in two folds' test sets is
an error; over seeds, each pooled statistic is the mean over seeds on the same subjects, and the
bootstrap draws each subject once for all seeds.

The pieces: :mod:`facedep.evaluation.levels` (predictions), :mod:`facedep.evaluation.summary` (metrics, pooling,
CIs), :mod:`facedep.evaluation.plots`, :mod:`facedep.evaluation.report_markdown` and :mod:`facedep.evaluation.console`.

Example:
    >>> import numpy as np
    >>> from facedep.evaluation.levels import LevelPredictions
    >>> from facedep.evaluation.summary import summarize_folds
    >>> preds = LevelPredictions(["s1", "s2"], np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]))
    >>> summary = summarize_folds([FoldResult(0, {"subject": preds})], ["healthy", "depressed"], n_boot=50)
    >>> summary["levels"]["subject"]["metrics"]["macro_f1"]["mean"]
    1.0
    >>> paths = write_report(summary, [FoldResult(0, {"subject": preds})], ["healthy", "depressed"],
    ...                      Path("/tmp/cv_report"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facedep.evaluation.formatting import level_label
from facedep.evaluation.levels import FoldResult
from facedep.evaluation.plots import plot_confusion, plot_roc
from facedep.evaluation.report_markdown import render_markdown
from facedep.evaluation.summary import jsonable


def write_report(
    summary: dict[str, Any],
    folds: list[FoldResult],
    class_names: list[str],
    out_dir: Path,
    title: str = "Cross-validation report",
    config_text: str | None = None,
    extra_images: dict[str, Path] | None = None,
    extra_markdown: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``confusion_<level>.png`` and ``roc_<level>.png``.

    Returns ``{"json": ..., "markdown": ..., "confusion_<level>": ..., "roc_<level>": ...}``; a ROC plot
    is skipped for a level whose pooled labels hold a single class. ``extra_images`` (PNGs already in
    ``out_dir``) are listed in the Markdown and returned with the others; ``extra_markdown`` lines come before the config.

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
    paths.update(extra_images or {})  # e.g. the regression scatter / Bland-Altman plots, already written
    paths["json"] = out_dir / "report.json"
    paths["json"].write_text(json.dumps(jsonable(summary), indent=2, allow_nan=False) + "\n")
    paths["markdown"] = out_dir / "report.md"
    images = {k: p.name for k, p in paths.items() if p.suffix == ".png"}
    paths["markdown"].write_text(render_markdown(summary, title, images, config_text, extra=extra_markdown))
    return paths
