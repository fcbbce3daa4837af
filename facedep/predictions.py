"""Prediction tables: ``predictions_<stage>_<level>.csv`` with id, name, y_true, prob_<class>.

Written by every training run (deep or classic) and read back by the cross-validation report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from facedep.report import LevelPredictions


def write_level_predictions(
    levels: Mapping[str, Mapping[str, object]],
    names: Mapping[str, Mapping[int, str]],
    class_names: list[str],
    stage: str,
    out_dir: Path,
) -> dict[str, Path]:
    """One CSV per level from ``{level: {"ids", "y", "probs"}}`` (tensors or arrays)."""
    paths = {}
    for level, pred in levels.items():
        ids = np.asarray(pred["ids"]).tolist()
        table = pd.DataFrame({"id": ids, "name": [names.get(level, {}).get(i, str(i)) for i in ids], "y_true": np.asarray(pred["y"]).tolist()})
        probs = np.asarray(pred["probs"])
        for k, class_name in enumerate(class_names):
            table[f"prob_{class_name}"] = probs[:, k]
        paths[level] = Path(out_dir) / f"predictions_{stage}_{level}.csv"
        table.to_csv(paths[level], index=False)
    return paths


def read_level_predictions(paths: Mapping[str, str | Path]) -> dict[str, LevelPredictions]:
    """The tables written by :func:`write_level_predictions`, keyed by level, ids = names."""
    levels = {}
    for level, path in paths.items():
        table = pd.read_csv(path)
        prob_columns = [c for c in table.columns if c.startswith("prob_")]
        levels[level] = LevelPredictions(
            ids=table["name"].astype(str).tolist(),
            y_true=table["y_true"].to_numpy(dtype=np.int64),
            probs=table[prob_columns].to_numpy(dtype=np.float64),
        )
    return levels
