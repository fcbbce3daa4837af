"""Prediction tables: ``predictions_<stage>_<level>.csv`` with id, name, y_true, prob_<class> [, threshold].

Written by every training run (deep or classic) and read back by the cross-validation report. A binary
model that decides at a threshold other than argmax (tuned on validation) writes it in a ``threshold``
column, so that every reader decides as the run's ``metrics.json`` did.

Example:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> paths = write_level_predictions({"subject": {"ids": [0, 1], "y": [0, 1], "probs": [[0.7, 0.3], [0.6, 0.4]]}},
    ...                                 {"subject": {0: "s1", 1: "s2"}}, ["hc", "dep"], "test", out, threshold=0.35)
    >>> read_level_predictions(paths)["subject"].decisions().tolist()
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from facedep.evaluation.levels import LevelPredictions


def write_level_predictions(
    levels: Mapping[str, Mapping[str, object]],
    names: Mapping[str, Mapping[int, str]],
    class_names: list[str],
    stage: str,
    out_dir: Path,
    threshold: float | None = None,
) -> dict[str, Path]:
    """One CSV per level from ``{level: {"ids", "y", "probs"}}`` (tensors or arrays); ``threshold``: the
    binary decision threshold on ``prob_<class 1>`` the model used (None: argmax)."""
    if threshold is not None and (len(class_names) != 2 or not 0 <= threshold <= 1):
        raise ValueError(f"a decision threshold needs 2 classes and a value in [0, 1], got {threshold} for {class_names}")
    paths = {}
    for level, pred in levels.items():
        ids = np.asarray(pred["ids"]).tolist()
        table = pd.DataFrame({"id": ids, "name": [names.get(level, {}).get(i, str(i)) for i in ids], "y_true": np.asarray(pred["y"]).tolist()})
        probs = np.asarray(pred["probs"])
        for k, class_name in enumerate(class_names):
            table[f"prob_{class_name}"] = probs[:, k]
        if threshold is not None:
            table["threshold"] = float(threshold)
        paths[level] = Path(out_dir) / f"predictions_{stage}_{level}.csv"
        table.to_csv(paths[level], index=False)
    return paths


def read_level_predictions(paths: Mapping[str, str | Path]) -> dict[str, LevelPredictions]:
    """The tables written by :func:`write_level_predictions`, keyed by level, ids = names, with their threshold."""
    levels = {}
    for level, path in paths.items():
        table = pd.read_csv(path)
        prob_columns = [c for c in table.columns if c.startswith("prob_")]
        levels[level] = LevelPredictions(
            ids=table["name"].astype(str).tolist(),
            y_true=table["y_true"].to_numpy(dtype=np.int64),
            probs=table[prob_columns].to_numpy(dtype=np.float64),
            threshold=_threshold(table, path, len(prob_columns)),
        )
    return levels


def _threshold(table: pd.DataFrame, path: str | Path, num_classes: int) -> float | None:
    """The table's single decision threshold, None without a ``threshold`` column; ValueError naming the file otherwise."""
    if "threshold" not in table.columns:
        return None
    values = table["threshold"].dropna().unique()
    if len(values) != 1 or table["threshold"].isna().any() or num_classes != 2 or not 0 <= values[0] <= 1:
        raise ValueError(f"{path}: column 'threshold' must hold one value in [0, 1] on every row of a binary table, "
                         f"got {sorted(table['threshold'].unique().tolist())} with {num_classes} classes")
    return float(values[0])
