"""Pooled regression metrics over cross-validation folds, with percentile bootstrap 95% CIs.

Each fold's regressor writes ``predictions_test_<level>.csv`` (``id, name, target, prediction``); the
test rows of all folds are disjoint, so they are pooled. The bootstrap resamples subjects (a cluster
bootstrap): at video level every drawn subject brings all of its videos / segments, whose errors are
not independent. The subject of a video row is its ``subject`` column, or the part of its name before
``#`` (``<subject_id>#<segment>``, as the HRM DataModule names segments); without either, the video-level
CI is left out and the entry says why.

Example:
    >>> import pandas as pd
    >>> t = pd.DataFrame({"target": [1.0, 2.0, 3.0, 4.0], "prediction": [1.5, 2.0, 2.5, 4.0]})
    >>> p = pooled_regression([t], n_boot=50)
    >>> p["mae"]["value"], p["n"]
    (0.25, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from facedep.evaluation.bootstrap import cluster_bootstrap_indices, percentile_interval

CI_ALPHA = 0.05
LEVELS: tuple[str, ...] = ("video", "subject")


def regression_metrics(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, CCC, Pearson r and R² of one set of rows (the regressor's own definitions)."""
    from lightning_modules.sequence_regressor import regression_metrics as metrics

    return metrics(torch.from_numpy(np.array(prediction, dtype=float)), torch.from_numpy(np.array(target, dtype=float)))


def subject_groups(table: pd.DataFrame, level: str) -> np.ndarray | None:
    """The subject of every row: ``name`` at subject level, else the ``subject`` column or the name before ``#``.

    Example:
        >>> subject_groups(pd.DataFrame({"name": ["s1#0", "s1#1", "s2#0"]}), "video").tolist()
        ['s1', 's1', 's2']
    """
    if "subject" in table.columns:
        return table["subject"].astype(str).to_numpy()
    names = table["name"].astype(str) if "name" in table.columns else None
    if names is None:
        return None
    if level == "subject":
        return names.to_numpy()
    if len(names) and names.str.contains("#", regex=False).all():
        return names.str.split("#", n=1).str[0].to_numpy()
    return None


def pooled_regression(
    tables: Sequence[pd.DataFrame], n_boot: int = 1000, seed: int = 0, groups: Sequence[np.ndarray] | None = None
) -> dict:
    """Point values and ``[ci_low, ci_high]`` of :func:`regression_metrics` over the pooled rows (MAE, RMSE, CCC, r, R²).

    ``groups`` (one array of subject ids per table) makes the bootstrap draw whole subjects; without it
    the rows are taken as independent (``"unit": "row"``).
    """
    unit = "row" if groups is None else "subject"
    if groups is None:
        groups = [np.char.add(np.arange(len(t)).astype(str), f"@{k}") for k, t in enumerate(tables)]
    pooled = pd.concat([t[["target", "prediction"]].assign(_group=np.asarray(g, dtype=str)) for t, g in zip(tables, groups)],
                       ignore_index=True).dropna()
    target, prediction = pooled["target"].to_numpy(float), pooled["prediction"].to_numpy(float)
    point = regression_metrics(target, prediction)
    indices = cluster_bootstrap_indices(pooled["_group"].to_numpy(), n_boot, np.random.default_rng(seed))
    samples = [regression_metrics(target[i], prediction[i]) for i in indices]
    out: dict = {"n": len(target), "n_units": int(pooled["_group"].nunique()), "n_boot": n_boot, "unit": unit}
    for name, value in point.items():
        low, high = percentile_interval([sample[name] for sample in samples], CI_ALPHA)
        out[name] = {"value": round(value, 6), "ci_low": round(low, 6), "ci_high": round(high, 6)}
    return out


def pooled_from_runs(predictions: Sequence[dict[str, str]], n_boot: int = 1000, seed: int = 0) -> dict[str, dict]:
    """``{level: pooled_regression(...)}`` for the levels whose ``predictions_test_<level>`` every fold wrote."""
    result = {}
    for level in LEVELS:
        key = f"predictions_test_{level}"
        paths = [p.get(key) for p in predictions]
        if paths and all(paths) and all(Path(p).exists() for p in paths):
            tables = [pd.read_csv(p) for p in paths]
            if all({"target", "prediction"} <= set(t.columns) for t in tables):
                groups = [subject_groups(t, level) for t in tables]
                if any(g is None for g in groups):  # rows of one subject are not independent: no row bootstrap
                    entry = pooled_regression(tables, n_boot=0, seed=seed)
                    entry.update(unit=None, n_units=None, **{m: {**entry[m], "ci_low": None, "ci_high": None} for m in entry if isinstance(entry[m], dict)})
                    entry["ci_note"] = (f"no CI: the {level} tables name no subject (a 'subject' column or "
                                        "'<subject>#<k>' names), and rows of one subject are not independent")
                    result[level] = entry
                else:
                    result[level] = pooled_regression(tables, n_boot, seed, groups=groups)
    return result


def _cell(entry: dict | None) -> str:
    """``"0.500 [0.1, 0.9]"``, ``"0.500 (no CI)"`` or ``"n/a"`` (undefined, e.g. r of a constant prediction)."""
    if not entry or entry.get("value") is None or not np.isfinite(entry["value"]):
        return "n/a"
    ci = entry.get("ci_low"), entry.get("ci_high")
    if ci[0] is None or not (np.isfinite(ci[0]) and np.isfinite(ci[1])):
        return f"{entry['value']:.3f} (no CI)"
    return f"{entry['value']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def markdown_lines(pooled: dict[str, dict]) -> list[str]:
    """A Markdown table: level, n, subjects resampled, MAE / RMSE / CCC / r with their CIs (``no CI`` and why, if none)."""
    lines = ["| level | n | resampled | MAE [95% CI] | RMSE [95% CI] | CCC [95% CI] | r [95% CI] |",
             "|---|---:|---|---|---|---|---|"]
    notes = []
    for level, entry in pooled.items():
        cells = [_cell(entry.get(m)) for m in ("mae", "rmse", "ccc", "r")]
        unit = f"{entry['n_units']} {entry['unit']}s" if entry.get("unit") else "—"
        lines.append(f"| {level} | {entry['n']} | {unit} | " + " | ".join(cells) + " |")
        if entry.get("ci_note"):
            notes.append(f"{level}: {entry['ci_note']}")
    return lines + ([""] + notes if notes else [])
