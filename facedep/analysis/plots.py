"""Figures of the AU analysis: one multi-panel PNG per family, drawn on ``matplotlib.figure.Figure``
with the Agg canvas (no pyplot, no global state, safe in threads and on headless machines).

Example:
    >>> import pandas as pd
    >>> curves = pd.DataFrame({"feature": ["AU04_r"] * 2, "group": ["a", "b"], "bin": [0, 0], "t": [0.5, 0.5],
    ...                        "mean": [1.0, 2.0], "std": [0.1, 0.2], "n": [3, 3]})
    >>> plot_curves(curves, ["AU04_r"], ["a", "b"], "/tmp/curves.png").name  # doctest: +SKIP
    'curves.png'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from facedep.analysis.clustering import FeatureSetResult

DPI = 90
MARKERS: tuple[str, ...] = ("o", "^", "s", "D", "v", "P", "X")


def color(i: int) -> str:
    """The i-th colour of matplotlib's tab10 cycle."""
    return f"C{i % 10}"


def panel_grid(n: int, ncols: int, size: tuple[float, float] = (3.4, 2.6)) -> tuple[Figure, list[Any]]:
    """A figure with ``n`` panels on a grid ``ncols`` wide (unused cells hidden)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + 0.5))
    FigureCanvasAgg(fig)
    top = 1.0 - 0.5 / (size[1] * nrows + 0.5)  # room for the suptitle
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.6 / (size[1] * nrows), top=top - 0.35 / (size[1] * nrows),
                        wspace=0.3, hspace=0.65)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    return fig, axes


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def plot_curves(
    curves: pd.DataFrame, features: Sequence[str], groups: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Group mean (line) +- SD over subjects (band) against normalised time, one panel per feature."""
    fig, axes = panel_grid(len(features), 3)
    for ax, feature in zip(axes, features):
        for i, group in enumerate(groups):
            c = curves[(curves["feature"] == feature) & (curves["group"] == group)]
            if c.empty:
                continue
            n = int(c["n"].max())
            ax.plot(c["t"], c["mean"], color=color(i), label=f"{group} (n={n})")
            ax.fill_between(c["t"], c["mean"] - c["std"].fillna(0), c["mean"] + c["std"].fillna(0),
                            color=color(i), alpha=0.2, linewidth=0)
        ax.set_title(feature, fontsize=9)
        ax.set_xlabel("normalised time", fontsize=8)
        ax.tick_params(labelsize=7)
    if axes:
        axes[0].legend(fontsize=7)
    fig.suptitle(title or "group mean over subjects +- SD", fontsize=10)
    return save(fig, path)


def plot_effects(
    table: pd.DataFrame, path: str | Path, alpha: float = 0.05, names: tuple[str, str] = ("A", "B"), title: str = ""
) -> Path:
    """Cohen's d per feature (positive = group B higher); bars with q_t < ``alpha`` are filled."""
    rows = table.dropna(subset=["d"]).sort_values("d")
    fig = Figure(figsize=(6.0, max(2.5, 0.22 * len(rows) + 1.0)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    significant = (rows["q_t"] < alpha).to_numpy()
    y = np.arange(len(rows))
    ax.barh(y, rows["d"], color=[color(3) if s else "lightgray" for s in significant], edgecolor="black", linewidth=0.4)
    ax.set_yticks(y, rows["feature"], fontsize=7)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_xlabel(f"Cohen's d = ({names[1]} - {names[0]}) / pooled SD", fontsize=8)
    ax.set_title(title or f"subject-level effect sizes (red: Welch q < {alpha})", fontsize=9)
    return save(fig, path)


def plot_scree(pcas: Mapping[str, Any], variance: float, path: str | Path, max_components: int = 20) -> Path:
    """Explained variance per component (bars) and cumulative (line), one panel per feature set."""
    fig, axes = panel_grid(len(pcas), 4, size=(3.2, 2.4))
    for ax, (name, pca) in zip(axes, pcas.items()):
        ratio = pca.explained_ratio[: max(max_components, pca.n_components + 2)]
        x = np.arange(1, len(ratio) + 1)
        ax.bar(x, ratio, color=color(0))
        ax.plot(x, np.cumsum(pca.explained_ratio)[: len(ratio)], color=color(1), marker=".", markersize=3)
        ax.axhline(variance, color="gray", linestyle="--", linewidth=0.7)
        ax.axvline(pca.n_components + 0.5, color=color(3), linewidth=0.7)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{name}: {pca.n_components} PCs, {pca.explained:.0%}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"PCA scree (components kept for {variance:.0%} variance)", fontsize=10)
    return save(fig, path)


def plot_clusters(results: Mapping[str, FeatureSetResult], group_order: Sequence[str], path: str | Path) -> Path:
    """First two PCs coloured by cluster and marked by true group: rows = feature sets, columns = methods."""
    methods = sorted({m for r in results.values() for m in r.labels}, key=["kmeans", "agglomerative", "gmm"].index)
    panels = [(name, m) for name, r in results.items() for m in methods if m in r.labels]
    fig, axes = panel_grid(len(panels), max(1, len(methods)), size=(3.0, 2.6))
    for ax, (name, method) in zip(axes, panels):
        r = results[name]
        row = r.table[r.table["method"] == method].iloc[0]
        labels = r.labels[method]
        for g, group in enumerate(group_order):
            mask = r.truth == group
            ax.scatter(r.pca.plane[mask, 0], r.pca.plane[mask, 1], c=[color(int(c)) for c in labels[mask]],
                       marker=MARKERS[g % len(MARKERS)], s=14, edgecolors="black", linewidths=0.3, label=group)
        ax.set_title(f"{name} / {method}\nsil={row['silhouette']:.2f} ARI={row['ari']:.2f}", fontsize=8)
        ax.set_xlabel("PC1", fontsize=7)
        ax.set_ylabel("PC2", fontsize=7)
        ax.set_xticks([])  # PC units carry no meaning; no ticks also keeps drawing fast
        ax.set_yticks([])
    if axes:
        handles = [Line2D([], [], marker=MARKERS[g % len(MARKERS)], color="gray", linestyle="", label=group)
                   for g, group in enumerate(group_order)]
        axes[0].legend(handles=handles, fontsize=6, title="marker = group, colour = cluster", title_fontsize=6)
    fig.suptitle("clusters (colour) vs true groups (marker) on the first two PCs", fontsize=10)
    return save(fig, path)


def plot_distributions(
    frames: pd.DataFrame, columns: Sequence[str], class_column: str, class_order: Sequence[str],
    path: str | Path, title: str = "", max_per_class: int = 50_000, seed: int = 0,
) -> Path:
    """Per-class box plots (no fliers) of each column's frame values, one panel per column.

    Classes with more than ``max_per_class`` frames are subsampled for drawing.
    """
    rng = np.random.default_rng(seed)
    per_class = []
    for name in class_order:
        rows = np.flatnonzero((frames[class_column].astype(str) == name).to_numpy())
        if len(rows) > max_per_class:
            rows = np.sort(rng.choice(rows, size=max_per_class, replace=False))
        per_class.append(frames.iloc[rows])
    fig, axes = panel_grid(len(columns), 6, size=(2.4, 2.2))
    for ax, column in zip(axes, columns):
        data = [part[column].dropna().to_numpy() for part in per_class]
        boxes = ax.boxplot(data, showfliers=False, patch_artist=True, widths=0.6)
        for i, box in enumerate(boxes["boxes"]):
            box.set_facecolor(color(i))
            box.set_alpha(0.6)
        ax.set_xticks(range(1, len(class_order) + 1), class_order, fontsize=6, rotation=30)
        ax.set_title(column, fontsize=8)
        ax.tick_params(axis="y", labelsize=6)
    fig.suptitle(title or "per-class distribution of frame values", fontsize=10)
    return save(fig, path)


def plot_presence_rates(
    frames: pd.DataFrame, columns: Sequence[str], class_column: str, class_order: Sequence[str], path: str | Path
) -> Path:
    """Fraction of frames with each AU present, grouped bars per class."""
    rates = frames.groupby(frames[class_column].astype(str), observed=True)[list(columns)].mean()
    rates = rates.reindex([c for c in class_order if c in rates.index])
    fig = Figure(figsize=(min(14.0, max(6.0, 0.15 * len(columns) * max(1, len(rates)) + 2.0)), 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(rates))
    x = np.arange(len(columns))
    for i, (name, row) in enumerate(rates.iterrows()):
        ax.bar(x + i * width - 0.4 + width / 2, row.to_numpy(), width, color=color(i), label=name)
    ax.set_xticks(x, [c.removesuffix("_c") for c in columns], fontsize=7, rotation=45)
    ax.set_ylabel("fraction of frames present", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_title("AU presence rate per class (frames)", fontsize=9)
    return save(fig, path)
