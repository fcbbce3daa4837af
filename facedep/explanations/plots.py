"""Explanation figures (pyplot-free, Agg): importance bars with error bars (AU channels, landmark regions, views),
attribution over time, heat-map overlays on faces.

Example:
    >>> table = pd.DataFrame({"channel": ["AU04_r", "AU12_r"], "mean": [0.3, 0.1], "std": [0.05, 0.02]})
    >>> plot_channel_importance(table, Path(tmp) / "bars.png").name  # doctest: +SKIP
    'bars.png'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from facedep.evaluation.plots import new_figure


Panel = tuple[str, str, str]
"""``(mean column, std column, x-axis label)`` of one bar panel."""


def plot_channel_importance(table: pd.DataFrame, path: Path, title: str = "AU importance",
                            spread: str = "std over folds",
                            panels: Sequence[Panel] = (("mean", "std", "drop in subject macro-F1 when permuted"),),
                            label: str = "channel") -> Path:
    """Horizontal bars per ``label`` value (``channel``, ``region``, ``view``; ordered by the first panel's mean,
    largest on top) with std error bars (a missing std column: none); one panel per ``(mean, std, axis label)``
    (e.g. macro-F1 drop beside log-loss increase)."""
    ordered = table.sort_values([p[0] for p in panels], ascending=True)
    fig = new_figure((4.0 + 3.0 * len(panels), 1.2 + 0.28 * len(ordered)))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    positions = np.arange(len(ordered))
    for ax, (mean, std, axis_label) in zip(axes, panels):
        values = ordered[mean].to_numpy(dtype=float)
        errors = ordered[std].fillna(0.0).to_numpy(dtype=float) if std in ordered else None
        ax.barh(positions, values, xerr=errors, color=["tab:red" if v > 0 else "tab:gray" for v in values], capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel(axis_label)
    axes[0].set_yticks(positions, [str(c) for c in ordered[label]])
    fig.suptitle(f"{title} (error bars: {spread})")
    fig.savefig(path, dpi=120)
    return path


def plot_temporal_attribution(values: np.ndarray, channels: list[str], path: Path, title: str = "",
                              fps: float | None = None) -> Path:
    """Heat map of attribution ``values`` ``(frames, channels)``: AUs as rows, time as columns, diverging colours
    centred on 0 (red: pushes towards the positive class / a higher score)."""
    data = np.asarray(values, dtype=float).T
    finite = np.abs(data[np.isfinite(data)])
    limit = float(np.percentile(finite, 99)) if finite.size else 1.0
    limit = limit if limit > 0 else 1.0
    fig = new_figure((9.0, 1.5 + 0.25 * len(channels)))
    ax = fig.subplots()
    extent = None if fps is None else (0.0, data.shape[1] / fps, len(channels) - 0.5, -0.5)
    image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                      interpolation="nearest", extent=extent)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attribution")
    ax.set_yticks(range(len(channels)), channels)
    ax.set_xlabel("frame" if fps is None else "seconds")
    ax.set_title(title or "Integrated gradients over time")
    fig.savefig(path, dpi=120)
    return path


def plot_face_maps(images: np.ndarray, maps: np.ndarray, titles: Sequence[str], path: Path, title: str = "",
                   columns: int = 4) -> Path:
    """Faces ``(n, H, W, 3)`` uint8 with heat maps ``(n, H, W)`` in [0, 1] over them (jet, half transparent),
    ``columns`` per row, one title per face."""
    n = len(images)
    rows = max(1, int(np.ceil(n / columns)))
    cols = min(columns, max(n, 1))
    fig = new_figure((2.4 * cols, 2.6 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, heat, label in zip(axes, images, maps, titles):
        ax.imshow(image)
        ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0, interpolation="bilinear")
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=120)
    return path
