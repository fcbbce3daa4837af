"""Permutation importance of each input channel (AU) on the test windows, in units of the subject-level metric.

For every channel, ``repeats`` seeded permutations swap that channel's whole time series between test windows
(the other channels stay in place); the importance is how much the subject-level metric gets worse
(macro-F1 drop, or MAE increase: larger = more important). Only the windows given (the fold's test subjects)
are used; no label of a training subject enters.

Example:
    >>> x = torch.randn(40, 8, 3)
    >>> predict = lambda xb: xb[:, :, 1].mean(dim=1)  # looks at channel 1 only
    >>> metric = lambda scores: -float((scores - x[:, :, 1].mean(dim=1)).abs().mean())
    >>> table = permutation_importance(predict, metric, x, ["a", "b", "c"], repeats=3)
    >>> table["importance_mean"].tolist()[0], table["importance_mean"].tolist()[2], table["importance_mean"].tolist()[1] > 0
    (0.0, 0.0, True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from facedep.explanations.model_outputs import window_scores
from facedep.explanations.permutation import grouped_importance, seeded_orders
from facedep.explanations.subject_metric import subject_scorers

DEFAULT_REPEATS = 5


def method_text(metric: str, repeats: int, windows: int, subjects: int) -> str:
    """The one-line description of the method that goes into reports.

    >>> method_text("subject_macro_f1", 5, 120, 6)[:40]
    'permutation importance of each AU channe'
    """
    worse = "drop in" if metric != "subject_mae" else "increase in"
    return (f"permutation importance of each AU channel on the fold's test subjects only ({subjects} subjects, "
            f"{windows} windows): {worse} {metric} when the channel's whole time series is swapped between test "
            f"windows, {repeats} seeded repeats (mean ± std); larger = more important")


def permutation_importance(predict: Callable[[torch.Tensor], torch.Tensor], metric: Callable[[torch.Tensor], float],
                           x: torch.Tensor, channels: Sequence[str], repeats: int = DEFAULT_REPEATS,
                           seed: int = 0, extra: Mapping[str, Callable[[torch.Tensor], float]] | None = None
                           ) -> pd.DataFrame:
    """``channel, importance_mean, importance_std, baseline`` (channels in input order) for windows ``x`` ``(N, T, C)``.

    ``predict(x) -> scores`` (window by window: the repeats of a channel are scored in one call on their
    concatenation) and ``metric(scores) -> float`` (higher = better); importance = baseline - permuted metric. The permutation of repeat ``r`` is the same for every channel (:func:`seeded_orders`). Each ``extra``
    metric (higher = better) adds ``<name>_mean, <name>_std`` (its drop) from the same permuted predictions.
    """
    if x.ndim != 3 or x.shape[2] != len(channels):
        raise ValueError(f"windows must be (N, T, {len(channels)}), got {tuple(x.shape)}")
    scorers = {"importance": metric, **(extra or {})}
    def predict_many(permuted: list[torch.Tensor]) -> list[torch.Tensor]:  # a channel's repeats in one pass
        return list(predict(torch.cat(permuted)).split(len(x)))

    return grouped_importance(predict, scorers, x, list(channels), permute_channel, seeded_orders(len(x), repeats, seed),
                              label="channel", predict_many=predict_many)


def permute_channel(x: torch.Tensor, c: int, order: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, T, C)`` with channel ``c``'s whole time series taken from window ``order[i]`` in window ``i``."""
    permuted = x.clone()
    permuted[:, :, c] = x[order, :, c]
    return permuted


@dataclass
class ChannelImportance:
    """The importance table, how it was made (``method``, ``metric``) and the subject ids (integers) it used."""

    table: pd.DataFrame
    method: str
    metric: str
    subjects: list[int] = field(default_factory=list)


def channel_importance(model: torch.nn.Module, arrays: dict[str, np.ndarray], channels: Sequence[str],
                       repeats: int = DEFAULT_REPEATS, seed: int = 0, batch_size: int = 512) -> ChannelImportance:
    """Permutation importance of a sequence classifier or regressor on ``arrays`` (a test
    :meth:`~datamodules.window_dataset.WindowDataset.arrays`: ``x`` ``(N, T, C)``, ``y``, ``video``, ``subject``).

    The metric (:func:`~facedep.explanations.subject_metric.subject_metric_of`): subject macro-F1 at the model's
    decision threshold (classifier) or subject MAE (regressor, sign flipped so that larger = more important).
    A classifier's table adds ``log_loss_increase_mean/std``: the increase in the subject-level log-loss (of the
    subjects' mean probabilities), a continuous companion that still ranks channels when few test subjects make
    macro-F1 saturate (no single permuted channel flips a subject: every macro-F1 importance 0).
    """
    x = torch.as_tensor(np.asarray(arrays["x"], dtype=np.float32))
    y, video, subject = (torch.as_tensor(np.asarray(arrays[k])) for k in ("y", "video", "subject"))
    metric, scorers = subject_scorers(model, y, video, subject)
    extra = {k: v for k, v in scorers.items() if k != "importance"}
    table = permutation_importance(lambda xb: window_scores(model, xb, batch_size), scorers["importance"], x, channels,
                                   repeats, seed, extra)
    if not metric.higher_is_better:
        table["baseline"] = -table["baseline"]  # the metric itself (MAE positive)
    subjects = sorted(int(s) for s in np.unique(subject.numpy()))
    return ChannelImportance(table, method_text(metric.name, repeats, len(x), len(subjects)), metric.name, subjects)


def ranked(table: pd.DataFrame, mean: str = "importance_mean", companion: str = "log_loss_increase_mean") -> pd.DataFrame:
    """Most important channel first: by ``mean``, ties (e.g. a saturated macro-F1: all 0) by ``companion`` if present.

    >>> t = pd.DataFrame({"channel": ["a", "b", "c"], "importance_mean": [0.0, 0.0, 0.1],
    ...                   "log_loss_increase_mean": [0.01, 0.2, 0.0]})
    >>> ranked(t)["channel"].tolist()
    ['c', 'b', 'a']
    """
    keys = [mean] + ([companion] if companion in table else [])
    return table.sort_values(keys, ascending=False, kind="stable").reset_index(drop=True)
