"""Pooled regression metrics over cross-validation folds, with percentile bootstrap 95% CIs.

Each fold's regressor writes ``predictions_test_<level>.csv`` (``id, name, target, prediction``); the
test rows of all folds are disjoint, so they are pooled and resampled (rows with replacement).

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

CI_ALPHA = 0.05
LEVELS: tuple[str, ...] = ("video", "subject")


def regression_metrics(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, Pearson r and R² of one set of rows (the regressor's own definitions)."""
    from lightning_modules.sequence_regressor import regression_metrics as metrics

    return metrics(torch.from_numpy(np.asarray(prediction, dtype=float)), torch.from_numpy(np.asarray(target, dtype=float)))


def pooled_regression(tables: Sequence[pd.DataFrame], n_boot: int = 1000, seed: int = 0) -> dict:
    """Point values and ``[ci_low, ci_high]`` of :func:`regression_metrics` over the pooled rows (MAE, RMSE, r, R²)."""
    pooled = pd.concat([t[["target", "prediction"]] for t in tables], ignore_index=True).dropna()
    target, prediction = pooled["target"].to_numpy(float), pooled["prediction"].to_numpy(float)
    point = regression_metrics(target, prediction)
    rng = np.random.default_rng(seed)
    samples = [regression_metrics(target[i], prediction[i]) for i in rng.integers(0, len(target), (n_boot, len(target)))]
    out: dict = {"n": len(target), "n_boot": n_boot}
    for name, value in point.items():
        values = np.array([sample[name] for sample in samples])
        values = values[np.isfinite(values)]
        low, high = (np.quantile(values, [CI_ALPHA / 2, 1 - CI_ALPHA / 2]) if len(values) else (np.nan, np.nan))
        out[name] = {"value": round(value, 6), "ci_low": round(float(low), 6), "ci_high": round(float(high), 6)}
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
                result[level] = pooled_regression(tables, n_boot, seed)
    return result


def markdown_lines(pooled: dict[str, dict]) -> list[str]:
    """A Markdown table: level, n, MAE / RMSE / r with their CIs."""
    lines = ["| level | n | MAE [95% CI] | RMSE [95% CI] | r [95% CI] |", "|---|---:|---|---|---|"]
    for level, entry in pooled.items():
        cells = [f"{entry[m]['value']:.3f} [{entry[m]['ci_low']:.3f}, {entry[m]['ci_high']:.3f}]" for m in ("mae", "rmse", "r")]
        lines.append(f"| {level} | {entry['n']} | " + " | ".join(cells) + " |")
    return lines
