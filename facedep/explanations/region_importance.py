"""Which face regions a landmark model rests on: region occlusion on the points, before they become pseudo-images.

Landmark windows are rendered into pseudo-images inside the dataset (:func:`datamodules.landmarks.render_window`), so
occlusion acts on the window's points ``(T, P, 3)`` (per-video normalised, as the DataModule feeds them) and the
occluded window is rendered exactly as the dataset renders it.

**Run level (test subjects, labelled)**: permutation importance per region (:mod:`facedep.explanations.landmark_regions`).
In repeat ``r`` every test window ``i`` gets the region's points, whole trajectory over the window (x, y, z of
every frame), from test window ``order_r[i]``; the other points stay. The region then still has a realistic
shape and motion (another test window's, under the same normalisation: no out-of-distribution constant or zero
face part) but no longer belongs to this window's label or to the rest of its face; all its shape and dynamics
information is removed at once. Metric as for AU channels (:func:`~facedep.explanations.subject_metric.subject_scorers`):
drop in subject macro-F1 at the model's threshold and increase in subject log-loss (regressor: increase in subject
MAE), mean ± std over ``repeats`` seeded permutations (the same permutations for every region).

**One unlabelled video** (``predict.py --explain``): no label, no other windows to borrow from, so the region is
*frozen*: in every window its points are replaced by their mean position over the video's frames (its shape
stays, its motion goes), and the explanation is the change in the video's score (mean window P(positive class),
or of the class the video was assigned) and the mean absolute change of the window scores.

Example:
    >>> pts = torch.zeros(4, 3, 68, 3); pts[:, :, 50] = torch.arange(4.0).view(4, 1, 1)
    >>> permute_points(pts, torch.tensor([50]), torch.tensor([3, 2, 1, 0]))[:, 0, 50, 0].tolist()
    [3.0, 2.0, 1.0, 0.0]
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from datamodules.windows import take_window
from facedep.explanations.errors import Unsupported
from facedep.explanations.landmark_regions import landmark_regions
from facedep.explanations.model_outputs import window_scores
from facedep.explanations.permutation import grouped_importance, seeded_orders
from facedep.explanations.subject_metric import subject_scorers

DEFAULT_REPEATS = 5
RENDER_BYTES = 256 * 2**20
"""Rendered pseudo-images per model call are kept under this many bytes."""


def method_text(metric: str, repeats: int, windows: int, subjects: int, points: int) -> str:
    """The one-line description of the run-level method for reports.

    >>> method_text("subject_macro_f1", 5, 40, 4, 68)[:44]
    'region permutation importance of 68-point la'
    """
    worse = "increase in" if metric == "subject_mae" else "drop in"
    return (f"region permutation importance of {points}-point landmarks on the fold's test subjects only ({subjects} "
            f"subjects, {windows} windows): {worse} {metric} when a region's points (whole trajectory, x/y/z, before "
            f"rendering) are swapped between test windows, {repeats} seeded repeats (mean ± std); larger = more important")


def source_windows(dataset: object) -> object:
    """The :class:`~datamodules.window_dataset.WindowDataset` behind a landmark test set (a pre-rendered
    ``RenderedDataset`` keeps it as ``source``); :class:`Unsupported` when it has no point windows."""
    source = getattr(dataset, "source", dataset)
    for attribute in ("sequences", "index", "window", "frame_step", "transform"):
        if not hasattr(source, attribute):
            raise Unsupported(f"{type(dataset).__name__} holds no landmark point windows")
    return source


def window_points(windows: object) -> torch.Tensor:
    """Every window's points ``(N, T, P, 3)`` float32, before rendering (zero-padded as the dataset pads)."""
    parts = [take_window(windows.sequences[int(s)], int(start), windows.window, windows.frame_step)
             for s, start in windows.index]
    if not parts:
        raise Unsupported("no test windows")
    points = np.stack(parts).astype(np.float32)
    if points.ndim != 4 or points.shape[-1] != 3:
        raise Unsupported(f"test windows of shape {points.shape[1:]} are not landmark points (time, points, 3)")
    return torch.from_numpy(points)


def rendered_scores(model: nn.Module, points: torch.Tensor, render: Callable[[np.ndarray], np.ndarray] | None
                    ) -> torch.Tensor:
    """Window scores (:func:`~facedep.explanations.model_outputs.window_scores`) of point windows ``(N, T, P, 3)``
    rendered by ``render`` (the dataset's transform; None: the points themselves), a memory-bounded chunk at a time."""
    if render is None:
        return window_scores(model, points)
    first = np.asarray(render(points[0].numpy()))
    chunk = int(max(1, min(512, RENDER_BYTES // max(first.nbytes, 1))))
    parts = []
    for start in range(0, len(points), chunk):
        images = np.stack([render(p) for p in points[start:start + chunk].numpy()]).astype(np.float32)
        parts.append(window_scores(model, torch.from_numpy(images), batch_size=chunk))
    return torch.cat(parts)


def permute_points(points: torch.Tensor, index: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``points`` ``(N, T, P, 3)`` with points ``index`` of window ``i`` taken from window ``order[i]``."""
    out = points.clone()
    out[:, :, index] = points[order][:, :, index]
    return out


@dataclass
class RegionImportance:
    """The importance table (``region, points, importance_mean, ...``), how it was made and the subjects used."""

    table: pd.DataFrame
    method: str
    metric: str
    subjects: list[int] = field(default_factory=list)


def point_region_importance(predict: Callable[[torch.Tensor], torch.Tensor], scorers: Mapping[str, Callable],
                            points: torch.Tensor, regions: Mapping[str, np.ndarray], repeats: int = DEFAULT_REPEATS,
                            seed: int = 0, orders: list[torch.Tensor] | None = None) -> pd.DataFrame:
    """``region, points, importance_mean, importance_std, baseline, ...`` of point windows ``(N, T, P, 3)``
    (:func:`~facedep.explanations.permutation.grouped_importance` with :func:`permute_points`)."""
    names = list(regions)
    indices = [torch.as_tensor(regions[n]) for n in names]
    orders = orders if orders is not None else seeded_orders(len(points), repeats, seed)
    def predict_many(occluded: list[torch.Tensor]) -> list[torch.Tensor]:  # the repeats of a group in one pass
        return list(predict(torch.cat(occluded)).split(len(points)))

    table = grouped_importance(predict, scorers, points, names, lambda x, g, order: permute_points(x, indices[g], order),
                               orders, label="region", predict_many=predict_many)
    table.insert(1, "points", [len(regions[n]) for n in names])
    return table


def region_importance(model: nn.Module, dataset: object, repeats: int = DEFAULT_REPEATS, seed: int = 0
                      ) -> RegionImportance:
    """Region permutation importance of a landmark model on a test set (``WindowDataset`` of point sequences with a
    rendering transform, or a ``RenderedDataset``): only these windows and their labels are used."""
    windows = source_windows(dataset)
    points = window_points(windows)
    regions = landmark_regions(points.shape[2])
    rows = windows.index[:, 0]
    y = torch.as_tensor(windows.labels[rows])
    video, subject = torch.as_tensor(windows.video_ids[rows]), torch.as_tensor(windows.subject_ids[rows])
    metric, scorers = subject_scorers(model, y, video, subject)
    table = point_region_importance(lambda p: rendered_scores(model, p, windows.transform), scorers, points, regions,
                                    repeats, seed)
    if not metric.higher_is_better:
        table["baseline"] = -table["baseline"]
    subjects = sorted(int(s) for s in np.unique(subject.numpy()))
    method = method_text(metric.name, repeats, len(points), len(subjects), points.shape[2])
    return RegionImportance(table, method, metric.name, subjects)


# ---- one unlabelled video ------------------------------------------------------------------------------
VIDEO_METHOD = ("region occlusion on this video's windows (no label): each region's points frozen at their mean "
                "position over the video's frames (shape kept, motion removed), windows rendered as in training; "
                "change = occluded - original video score (mean window probability), and the mean absolute change "
                "of the window scores")


def freeze_region(windows: object, index: np.ndarray) -> object:
    """A shallow copy of a one-video ``WindowDataset`` whose sequence has points ``index`` fixed at their mean."""
    frozen = copy.copy(windows)
    sequences = []
    for seq in windows.sequences:
        seq = np.array(seq, copy=True)
        seq[:, index] = seq[:, index].mean(axis=0, keepdims=True)
        sequences.append(seq)
    frozen.sequences = sequences
    return frozen


def video_region_occlusion(score: Callable[[object], np.ndarray], windows: object, class_index: int,
                           regions: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """``region, points, video_score, occluded_score, change, mean_abs_window_change`` for one video's windows.

    ``score(windows) -> (N, K)`` window probabilities; the score followed is column ``class_index`` (the positive class,
    or the class the video was assigned). Largest absolute change first.
    """
    if not len(windows):
        raise Unsupported("the video has no window to explain")
    regions = dict(regions) if regions is not None else landmark_regions(np.asarray(windows.sequences[0]).shape[1])
    base = np.asarray(score(windows))[:, class_index]
    rows = []
    for name, index in regions.items():
        occluded = np.asarray(score(freeze_region(windows, index)))[:, class_index]
        rows.append({"region": name, "points": len(index), "video_score": float(base.mean()),
                     "occluded_score": float(occluded.mean()), "change": float(occluded.mean() - base.mean()),
                     "mean_abs_window_change": float(np.abs(occluded - base).mean())})
    table = pd.DataFrame(rows)
    return table.reindex(table["change"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)
