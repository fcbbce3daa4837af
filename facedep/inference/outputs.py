"""Per-frame output rows and what is written from them: smoothing, ``predictions.csv``, ``timeline.png``."""

from __future__ import annotations

import csv
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CSV_COLUMNS = ("source", "frame", "time_s", "face_found", "score", "smoothed_score", "predicted_class")


def smooth_scores(scores: Sequence[float] | np.ndarray, window: int, centered: bool = True) -> np.ndarray:
    """NaN-aware moving average: frame ``i`` averages the non-NaN scores of its window.

    Centred windows span ``i - (window - 1) // 2 .. i + window // 2``; trailing windows
    ``i - window + 1 .. i``; both are cut at the ends. NaN where the window holds no score.

    >>> smooth_scores([1.0, float("nan"), 3.0, 5.0], 3).tolist()
    [1.0, 2.0, 4.0, 4.0]
    >>> smooth_scores([1.0, 2.0, 3.0], 2, centered=False).tolist()
    [1.0, 1.5, 2.5]
    """
    values = np.asarray(scores, dtype=np.float64)
    if window <= 1 or values.size == 0:
        return values.copy()
    valid = ~np.isnan(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(valid)])
    index = np.arange(values.size)
    before, after = ((window - 1) // 2, window // 2) if centered else (window - 1, 0)
    lo = np.clip(index - before, 0, values.size)
    hi = np.clip(index + after + 1, 0, values.size)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / np.maximum(n, 1), np.nan)


class TrailingSmoother:
    """Live (causal) version of :func:`smooth_scores` with ``centered=False``."""

    def __init__(self, window: int) -> None:
        self.values: deque[float] = deque(maxlen=max(window, 1))

    def __call__(self, score: float) -> float:
        self.values.append(score)
        kept = [v for v in self.values if not math.isnan(v)]
        return float(np.mean(kept)) if kept else math.nan


@dataclass
class Row:
    """One output row; ``score`` NaN without a face."""

    source: str
    frame: int
    time_s: float | None
    face_found: bool
    score: float = math.nan
    smoothed_score: float = math.nan
    predicted_class: str = ""
    box: np.ndarray | None = None


def _fmt(value: float | None, digits: int = 6) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """``predictions.csv`` with :data:`CSV_COLUMNS`; empty cells for missing values."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([r.source, r.frame, _fmt(r.time_s, 4), int(r.face_found), _fmt(r.score),
                             _fmt(r.smoothed_score), r.predicted_class])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def plot_timeline(rows: Sequence[Row], path: Path, threshold: float | None, title: str = "") -> None:
    """Raw and smoothed scores over time, the decision threshold, no-face frames shaded."""
    from matplotlib.figure import Figure

    has_time = bool(rows) and all(r.time_s is not None for r in rows)
    x = np.array([r.time_s if has_time else r.frame for r in rows], dtype=float)
    raw = np.array([r.score for r in rows], dtype=float)
    smooth = np.array([r.smoothed_score for r in rows], dtype=float)
    fig = Figure(figsize=(10, 3.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(x, raw, ".", ms=3, alpha=0.5, color="tab:blue", label="score")
    ax.plot(x, smooth, "-", lw=2, color="tab:orange", label="smoothed")
    if threshold is not None:
        ax.axhline(threshold, ls="--", color="tab:red", lw=1, label=f"threshold {threshold:.2f}")
    step = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
    for i, (lo, hi) in enumerate(_runs(np.array([not r.face_found for r in rows], dtype=bool))):
        ax.axvspan(x[lo] - step / 2, x[hi - 1] + step / 2, color="0.85", zorder=0, label="no face" if i == 0 else None)
    ax.set(xlabel="time (s)" if has_time else "frame", ylabel="score", ylim=(-0.02, 1.02), title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def default_out(source: str) -> Path:
    """The default output folder: ``runs/predict/<source stem>`` (``webcam<index>`` for a webcam)."""
    name = f"webcam{source}" if source.isdigit() and not Path(source).exists() else Path(source).stem
    return Path("runs") / "predict" / (name or "source")
