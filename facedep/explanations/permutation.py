"""Occlusion importance of groups of inputs (AU channels, landmark regions, views), in units of a metric.

One engine for every explanation that asks "how much worse is the model without this part of its input?":
``predict(inputs) -> scores`` once on the intact inputs, then once per group and repeat on
``occlude(inputs, group, order)``; each scorer (higher = better) gives the drop ``baseline - occluded``.
``order`` is a seeded permutation of the windows (permutation importance) or None (a deterministic occlusion,
e.g. masking a view: one repeat).

Example:
    >>> x = torch.randn(30, 4, 3)
    >>> def swap(inputs, g, order):
    ...     out = inputs.clone(); out[:, :, g] = inputs[order, :, g]; return out
    >>> truth = x[:, :, 1].mean(dim=1)
    >>> error = {"importance": lambda s: -float((s - truth).abs().mean())}
    >>> table = grouped_importance(lambda v: v[:, :, 1].mean(dim=1), error, x, ["a", "b", "c"], swap,
    ...                            seeded_orders(30, 2), label="channel")
    >>> table["channel"].tolist(), table["importance_mean"].tolist()[0], bool(table["importance_mean"][1] > 0)
    (['a', 'b', 'c'], 0.0, True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import torch

Inputs = TypeVar("Inputs")


def seeded_orders(n: int, repeats: int, seed: int = 0) -> list[torch.Tensor]:
    """``repeats`` permutations of ``n`` windows from one generator seeded with ``seed`` (repeat r: the r-th draw)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=generator) for _ in range(repeats)]


def grouped_importance(predict: Callable[[Any], torch.Tensor], scorers: Mapping[str, Callable[[torch.Tensor], float]],
                       inputs: Inputs, groups: Sequence[str], occlude: Callable[[Inputs, int, Any], Inputs],
                       orders: Sequence[torch.Tensor | None], label: str = "group",
                       predict_many: Callable[[list[Any]], list[torch.Tensor]] | None = None) -> pd.DataFrame:
    """``<label>, importance_mean, importance_std, baseline`` (+ ``<name>_mean, <name>_std`` per other scorer), one
    row per group in the given order. ``scorers`` must hold ``"importance"``; ``baseline`` is its intact value.
    ``predict_many`` (optional) scores all repeats of a group in one call (else ``predict`` one at a time)."""
    if "importance" not in scorers:
        raise ValueError("scorers need an 'importance' entry")
    intact = predict(inputs)
    baselines = {name: f(intact) for name, f in scorers.items()}
    rows = []
    for g, group in enumerate(groups):
        drops: dict[str, list[float]] = {name: [] for name in scorers}
        if predict_many is not None:
            all_scores = predict_many([occlude(inputs, g, order) for order in orders])
        else:
            all_scores = (predict(occlude(inputs, g, order)) for order in orders)
        for scores in all_scores:
            for name, f in scorers.items():
                drops[name].append(baselines[name] - f(scores))
        row: dict[str, object] = {label: group}
        for name, values in drops.items():
            row[f"{name}_mean"] = float(np.mean(values))
            row[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            if name == "importance":
                row["baseline"] = baselines[name]
        rows.append(row)
    return pd.DataFrame(rows)
