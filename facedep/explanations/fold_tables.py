"""One importance table over cross-validation folds: mean ± std of each fold's test-subject values.

Each fold's table (``channel_importance.csv``, ``region_importance.csv``, ``view_contribution.csv``) comes from its
own test subjects only, so the spread over folds says how stable the ranking is across disjoint test sets.

Example:
    >>> fold_metrics = [{"explanations": {"region_importance": "fold0/explanations/region_importance.csv"}}]
    >>> has_fold_tables(fold_metrics, "region_importance")  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from facedep.explanations.channel_importance import ranked

COMPANIONS: dict[str, str] = {"log_loss_increase_mean": "log_loss", "attention_received": "attention",
                              "present_fraction": "present"}
"""Other per-fold columns summarised as ``<short>_mean`` / ``<short>_std`` when every fold has them."""


def has_fold_tables(fold_metrics: Sequence[dict[str, Any]], key: str) -> bool:
    """Every fold's ``metrics["explanations"][key]`` names a CSV that exists."""
    return bool(fold_metrics) and all(
        Path(str((m.get("explanations") or {}).get(key, ""))).is_file() for m in fold_metrics)


def spread(values: pd.DataFrame) -> pd.Series:
    """Std over the columns (folds), 0 with one fold."""
    return values.std(axis=1, ddof=1) if values.shape[1] > 1 else pd.Series(0.0, index=values.index)


def table_over_folds(fold_metrics: Sequence[dict[str, Any]], key: str, label: str, folds: Sequence[int] | None = None,
                     word: str = "fold") -> pd.DataFrame:
    """``<label>, mean, std`` (+ companions, e.g. ``log_loss_mean, log_loss_std``) and ``<word><k>`` per fold of
    ``importance_mean``; most important first (by mean, ties by the log-loss increase)."""
    folds = list(folds) if folds is not None else list(range(len(fold_metrics)))
    tables = [pd.read_csv(m["explanations"][key]).set_index(label) for m in fold_metrics]
    names = list(tables[0].index)
    per_fold = pd.DataFrame({f"{word}{k}": t.reindex(names)["importance_mean"] for k, t in zip(folds, tables)})
    out = pd.DataFrame({label: names, "mean": per_fold.mean(axis=1).to_numpy(), "std": spread(per_fold).to_numpy()})
    for column, short in COMPANIONS.items():
        if all(column in t for t in tables):
            values = pd.DataFrame({k: t.reindex(names)[column] for k, t in zip(folds, tables)})
            out[f"{short}_mean"], out[f"{short}_std"] = values.mean(axis=1).to_numpy(), spread(values).to_numpy()
    out = pd.concat([out, per_fold.reset_index(drop=True)], axis=1)
    return ranked(out, mean="mean", companion="log_loss_mean")
