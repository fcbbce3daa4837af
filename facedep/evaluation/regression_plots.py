"""Regression report plots (subject level, pyplot-free Agg canvas): predicted vs true and Bland-Altman.

Over folds every test subject is one point coloured by its fold. Over seeds the scatter shows every seed's
point coloured by seed, and the Bland-Altman plot uses each subject once (its prediction averaged over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facedep.evaluation.plots import new_figure
from facedep.evaluation.regression_report import RunTable, aligned_seeds


Group = tuple[np.ndarray, np.ndarray, str]  # target, prediction, legend label


def _scatter_groups(groups: Sequence[Group], size: tuple[float, float], x_is_mean: bool):  # noqa: ANN202 (figure, axes)
    """A figure with one scatter per group: prediction vs target, or (Bland-Altman) difference vs mean."""
    fig = new_figure(size)
    ax = fig.subplots()
    for target, prediction, label in groups:
        x, y = ((target + prediction) / 2, prediction - target) if x_is_mean else (target, prediction)
        ax.scatter(x, y, s=18, alpha=0.75, label=label)
    return fig, ax


def plot_predicted_vs_true(tables: Sequence[RunTable], path: Path, design: str = "folds", name: str = "score") -> Path:
    """Save a scatter of prediction against target per run (colour = fold / seed) with the identity line."""
    word = "seed" if design == "seeds" else "fold"
    fig, ax = _scatter_groups([(t.target, t.prediction, f"{word} {t.run}") for t in tables], (4.8, 4.5), x_is_mean=False)
    values = np.concatenate([np.r_[t.target, t.prediction] for t in tables])
    values = values[np.isfinite(values)]
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        ax.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=0.9, label="identity")
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    ax.set_title(f"Predicted vs true, subject level ({'all seeds' if design == 'seeds' else 'all folds'})")
    ax.legend(loc="upper left", fontsize="small")
    fig.savefig(path, dpi=120)
    return path


def bland_altman(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Bias (mean of prediction - target) and the ±1.96 SD (ddof=1) limits of agreement.

    Example:
        >>> b = bland_altman(np.array([0.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0]))
        >>> b["bias"], b["low"], b["high"]
        (2.0, 0.04, 3.96)
    """
    diff = np.asarray(prediction, dtype=float) - np.asarray(target, dtype=float)
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    return {"bias": bias, "sd": sd, "low": round(bias - 1.96 * sd, 12), "high": round(bias + 1.96 * sd, 12)}


def plot_bland_altman(tables: Sequence[RunTable], path: Path, design: str = "folds", name: str = "score") -> Path:
    """Save a Bland-Altman plot: mean of (true, predicted) vs predicted - true, bias and ±1.96 SD lines."""
    if design == "seeds":  # one point per subject: the seeds' predictions averaged (tables share the subjects)
        aligned = aligned_seeds(tables)
        groups = [(aligned[0].target, np.mean([t.prediction for t in aligned], axis=0), "mean over seeds")]
    else:
        groups = [(t.target, t.prediction, f"fold {t.run}") for t in tables]
    fig, ax = _scatter_groups(groups, (5.2, 4.2), x_is_mean=True)
    stats = bland_altman(np.concatenate([g[0] for g in groups]), np.concatenate([g[1] for g in groups]))
    ax.axhline(stats["bias"], color="black", lw=1.2, label=f"bias {stats['bias']:.2f}")
    for key in ("low", "high"):
        ax.axhline(stats[key], color="grey", ls="--", lw=0.9, label="bias ± 1.96 SD" if key == "low" else None)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xlabel(f"mean of true and predicted {name}")
    ax.set_ylabel(f"predicted - true {name}")
    ax.set_title(f"Bland-Altman, subject level (limits {stats['low']:.2f} to {stats['high']:.2f})")
    ax.legend(loc="upper right", fontsize="small")
    fig.savefig(path, dpi=120)
    return path


def write_regression_plots(tables: Sequence[RunTable], out_dir: Path, design: str = "folds", name: str = "score") -> dict[str, Path]:
    """``{"regression_scatter": ..., "regression_bland_altman": ...}`` PNGs in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "regression_scatter": plot_predicted_vs_true(tables, out_dir / "regression_scatter.png", design, name),
        "regression_bland_altman": plot_bland_altman(tables, out_dir / "regression_bland_altman.png", design, name),
    }
