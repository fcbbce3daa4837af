"""Explanation figures (pyplot-free, Agg): channel importance bars with error bars, attribution over time.

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
                            panels: Sequence[Panel] = (("mean", "std", "drop in subject macro-F1 when permuted"),)
                            ) -> Path:
    """Horizontal bars per ``channel`` (ordered by the first panel's mean, largest on top) with std error bars;
    one panel per ``(mean, std, label)`` (e.g. macro-F1 drop beside log-loss increase)."""
    ordered = table.sort_values([p[0] for p in panels], ascending=True)
    fig = new_figure((4.0 + 3.0 * len(panels), 1.2 + 0.28 * len(ordered)))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    positions = np.arange(len(ordered))
    for ax, (mean, std, label) in zip(axes, panels):
        values = ordered[mean].to_numpy(dtype=float)
        ax.barh(positions, values, xerr=ordered[std].fillna(0.0).to_numpy(dtype=float),
                color=["tab:red" if v > 0 else "tab:gray" for v in values], capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel(label)
    axes[0].set_yticks(positions, [str(c) for c in ordered["channel"]])
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
