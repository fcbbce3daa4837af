"""The plots of a tuning study (plain matplotlib on the Agg canvas, no pyplot): ``history.png`` (objective per
trial, best so far), ``importances.png`` (fANOVA, seeded), ``parallel_coordinates.png`` (complete trials, coloured
by objective) and ``intermediate_values.png`` (each trial's per-epoch validation score, one panel per inner fold,
pruned trials dashed and crossed where they stopped). ``summary`` is :func:`facedep.tuning.artefacts.study_summary`.

Example:
    >>> short_labels(["model.init_args.optimizer.init_args.lr", "model.init_args.net.init_args.hidden_size"])
    {'model.init_args.optimizer.init_args.lr': 'optimizer.lr', 'model.init_args.net.init_args.hidden_size': 'net.hidden_size'}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from facedep.evaluation.plots import new_figure

OBJECTIVE = "mean inner validation selection score"
STATE_STYLE = {  # how each state's validation curve is drawn
    "COMPLETE": {"color": "tab:blue", "linestyle": "-"},
    "PRUNED": {"color": "tab:red", "linestyle": "--"},
    "FAIL": {"color": "tab:gray", "linestyle": ":"},
    "RUNNING": {"color": "tab:orange", "linestyle": "-."},
}


def short_labels(keys: Sequence[str], parts: int = 2) -> dict[str, str]:
    """Plot labels of dotted keys: their last ``parts`` components without ``init_args`` (longer where two clash)."""
    def label(key: str, n: int) -> str:
        words = [w for w in key.split(".") if w != "init_args"] or [key]
        return ".".join(words[-n:])

    labels = {key: label(key, parts) for key in keys}
    for n in range(parts + 1, 1 + max((len(k.split(".")) for k in keys), default=0)):
        clashes = {k for k in keys if sum(v == labels[k] for v in labels.values()) > 1}
        if not clashes:
            break
        labels.update({k: label(k, n) for k in clashes})
    return labels


def plot_history(summary: dict[str, Any], path: Path) -> Path:
    """Objective per complete trial, the best so far, and where trials were pruned or failed (marks at the bottom)."""
    records = summary["trials"]
    done = [r for r in records if r["state"] == "COMPLETE"]
    fig = new_figure((7, 4))
    ax = fig.subplots()
    x, y = [r["number"] for r in done], [r["value"] for r in done]
    ax.scatter(x, y, color="tab:blue", s=25, zorder=3, label="complete trial")
    best = np.maximum.accumulate(y) if summary["direction"] == "maximize" else np.minimum.accumulate(y)
    ax.step(x, best, where="post", color="tab:green", lw=1.5, label="best so far")
    ax.scatter([summary["best"]["number"]], [summary["best"]["value"]], marker="*", s=160, color="gold",
               edgecolor="k", zorder=4, label=f"best (trial {summary['best']['number']})")
    for state, marker, color in (("PRUNED", "x", "tab:red"), ("FAIL", "v", "tab:gray")):
        numbers = [r["number"] for r in records if r["state"] == state]
        if numbers:
            ax.plot(numbers, [0.03] * len(numbers), ls="", marker=marker, color=color,
                    transform=ax.get_xaxis_transform(), label=f"{state.lower()} ({len(numbers)})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="trial", ylabel=OBJECTIVE, xlim=(-0.5, max(r["number"] for r in records) + 0.5),
           title=f"{summary['name']}: optimisation history ({len(done)} complete of {len(records)} trials)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.savefig(path, dpi=120)
    return path


def plot_importances(summary: dict[str, Any], path: Path) -> Path:
    """Horizontal bars of the parameter importances, the most important on top."""
    items = sorted(summary["importances"].items(), key=lambda kv: kv[1])
    labels = short_labels([k for k, _ in items])
    fig = new_figure((6.5, 1.5 + 0.45 * len(items)))
    ax = fig.subplots()
    bars = ax.barh([labels[k] for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.bar_label(bars, fmt="%.3f", padding=3, fontsize=8)
    ax.set(xlim=(0, 1.12), xlabel="importance (fANOVA, sums to 1)",
           title=f"{summary['name']}: parameter importances")
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path, dpi=120)
    return path


def _axis(values: list[Any], distributions: list[Any]) -> tuple[Callable[[Any], float], list[tuple[float, str]]]:
    """How one parameter's values map to [0, 1] and the ticks of its axis (log where the space is log)."""
    dist = next((d for d in distributions if d is not None), None)
    present = [v for v in values if v is not None]
    if isinstance(dist, CategoricalDistribution) or any(isinstance(v, (str, bool)) for v in present):
        choices = list(dist.choices) if isinstance(dist, CategoricalDistribution) else list(dict.fromkeys(present))
        span = max(len(choices) - 1, 1)
        position = (lambda v: choices.index(v) / span) if len(choices) > 1 else (lambda v: 0.5)
        return position, [(position(c), str(c)) for c in choices][:12]
    log = bool(getattr(dist, "log", False))
    low = getattr(dist, "low", min(present))
    high = getattr(dist, "high", max(present))
    scale = (lambda v: math.log10(v)) if log and low > 0 else float
    lo, hi = scale(low), scale(high)
    if hi <= lo:
        return (lambda v: 0.5), [(0.5, f"{low:.3g}")]
    position = lambda v: (scale(v) - lo) / (hi - lo)  # noqa: E731
    middle = 10 ** ((lo + hi) / 2) if log and low > 0 else (low + high) / 2
    digits = next((d for d in range(3, 9) if f"{low:.{d}g}" != f"{high:.{d}g}"), 9)
    return position, [(y, f"{v:.{digits}g}") for y, v in ((0.0, low), (0.5, middle), (1.0, high))]


def plot_parallel(study: optuna.Study, summary: dict[str, Any], path: Path) -> Path:
    """Parallel coordinates of the complete trials: one axis per parameter and one for the objective."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    keys = [k for k in summary["param_keys"] if any(k in t.params for t in complete)]
    labels = short_labels(keys)
    values = np.array([t.value for t in complete], dtype=float)
    axes = [_axis([t.params.get(k) for t in complete], [t.distributions.get(k) for t in complete]) for k in keys]
    axes.append(_axis(list(values), [None]))
    fig = new_figure((max(7.0, 1.8 * len(axes) + 2.0), 4.5))
    ax = fig.subplots()
    norm = (values - values.min()) / (np.ptp(values) or 1.0)
    cmap = colormaps["viridis"]
    order = np.argsort(values if summary["direction"] == "maximize" else -values)  # the best drawn last, on top
    for i in order:
        trial = complete[i]
        ys = [position(trial.params[k]) if k in trial.params else np.nan for k, (position, _) in zip(keys, axes)]
        ys.append(axes[-1][0](values[i]))
        ax.plot(range(len(ys)), ys, color=cmap(norm[i]), lw=2.5 if trial.number == summary["best"]["number"] else 1.2,
                alpha=0.85, marker="o", ms=3)
    for x, (_, ticks) in enumerate(axes):
        ax.axvline(x, color="k", lw=0.8)
        for y, text in ticks:
            ax.text(x + 0.04, y, text, fontsize=7, va="center", ha="left",
                    bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 0.5})
    ax.set_xticks(range(len(axes)), [labels[k] for k in keys] + ["objective"], rotation=20 if len(axes) > 4 else 0)
    ax.set(xlim=(-0.2, len(axes) - 0.6), ylim=(-0.06, 1.06), yticks=[],
           title=f"{summary['name']}: {len(complete)} complete trials (colour = objective, thick = best)")
    mappable = ScalarMappable(cmap=cmap)
    mappable.set_clim(values.min(), values.max())
    fig.colorbar(mappable, ax=ax, label=OBJECTIVE, shrink=0.9)
    fig.savefig(path, dpi=120)
    return path


def _panels(steps: Sequence[int], stride: int | None) -> list[tuple[int, int]]:
    """``[(first, last), ...]`` step ranges, one per inner fold: ``stride`` (max_epochs) when known, else split
    where the reported steps jump much more than usual (fold k reports at ``k * max_epochs + epoch``)."""
    unique = sorted(set(steps))
    if stride:
        folds = sorted({s // stride for s in unique})
        return [(k * stride, (k + 1) * stride - 1) for k in folds]
    gaps = np.diff(unique)
    cut = max(1.0, 2 * float(np.median(gaps))) if len(gaps) else 1.0
    starts = [unique[0], *(b for a, b, g in zip(unique, unique[1:], gaps) if g > cut)]
    ends = [*(a for a, b, g in zip(unique, unique[1:], gaps) if g > cut), unique[-1]]
    return list(zip(starts, ends))


def plot_intermediate(study: optuna.Study, summary: dict[str, Any], path: Path) -> Path:
    """Each trial's reported validation scores (the pruner's view), one panel per inner fold; pruned trials are
    red, dashed and crossed at the step where they were stopped, the best trial black."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    stride = study.user_attrs.get("max_epochs")  # the step stride between inner folds, where tune.py stored it
    stride = stride if isinstance(stride, int) and stride > 0 else None
    panels = _panels([s for t in trials for s in t.intermediate_values], stride)
    inner = study.user_attrs.get("inner_folds")
    fig = new_figure((min(16.0, max(7.0, 1.5 + 3.6 * len(panels))), 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)[0])
    best = (summary["best"] or {}).get("number")
    alpha = 0.8 if len(trials) <= 30 else 0.4
    for trial in sorted(trials, key=lambda t: t.number == best):  # the best trial last, on top
        style = STATE_STYLE.get(trial.state.name, STATE_STYLE["RUNNING"])
        if trial.number == best:
            style = {"color": "k", "linestyle": "-", "lw": 2.2, "alpha": 1.0, "zorder": 5}
        last = max(trial.intermediate_values)
        for ax, (first, end) in zip(axes, panels):
            points = sorted((s, v) for s, v in trial.intermediate_values.items() if first <= s <= end)
            if not points:
                continue
            xs = [s - first for s, _ in points]
            ax.plot(xs, [v for _, v in points], **{"lw": 1.1, "alpha": alpha, **style})
            if trial.state == TrialState.PRUNED and first <= last <= end:
                ax.plot([last - first], [trial.intermediate_values[last]], "X", color="tab:red", ms=8)
    for k, (ax, (first, end)) in enumerate(zip(axes, panels)):
        fold = first // stride if stride else (k if len(panels) == inner else None)
        if fold is not None:
            ax.set(title=f"inner fold {fold}", xlabel="epoch")
        else:  # folds not told apart: the pruner's steps
            ax.set(title=f"steps {first}–{end}" if len(panels) > 1 else "",
                   xlabel="step (inner fold × max_epochs + epoch)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation selection score")
    handles = [Line2D([], [], **{**STATE_STYLE[s], "lw": 1.5}, label=s.lower()) for s in ("COMPLETE", "PRUNED", "FAIL")
               if any(t.state.name == s for t in trials)]
    if any(t.state == TrialState.PRUNED for t in trials):
        handles.append(Line2D([], [], color="tab:red", marker="X", ls="", label="pruned here"))
    if best is not None:
        handles.append(Line2D([], [], color="k", lw=2.2, label=f"best (trial {best})"))
    axes[-1].legend(handles=handles, fontsize=8, loc="best")
    fig.suptitle(f"{summary['name']}: validation score per epoch, {len(trials)} trials (what the pruner saw)")
    fig.savefig(path, dpi=120)
    return path
