"""Report plots: confusion-matrix heat maps and ROC curves per level (pyplot-free, Agg canvas)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from facedep.evaluation.levels import Design, FoldResult, LevelPredictions


def new_figure(size: tuple[float, float]) -> Figure:
    """A pyplot-free figure on the Agg canvas (no global backend switch, nothing leaks)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], path: Path, title: str = "") -> Path:
    """Save a confusion-matrix heat map with counts annotated; rows = true, columns = predicted."""
    k = len(class_names)
    size = max(3.5, 1.0 + 0.8 * k)
    fig = new_figure((size + 0.8, size))
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
    fig = new_figure((5.0, 4.5))
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
