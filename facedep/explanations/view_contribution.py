"""What each view (AUs, landmarks, faces) contributes to a fusion model, on the fold's test subjects only.

- **View contribution**: the drop in the subject-level metric (macro-F1 at the model's threshold, with the increase in
  subject log-loss; a regressor: the increase in subject MAE) when one view is masked in every test window, exactly as
  the data marks a missing view (its tensor zeros, ``present[:, j] = False``); the model was trained with modality
  dropout, so a masked view is an input it knows. Deterministic: one pass per view (std 0). Windows whose only present
  view is the masked one get the no-information output (:mod:`facedep.explanations.fusion_inputs`), counted as
  ``windows_only_view``.
- **Attention received**: mean over test windows where the view is present of the attention the present views give
  it (``net.last_attention`` ``(B, V, V)``, rows = queries), on the intact inputs; NaN when the net keeps none.
- **Within views** (when the test windows fit in memory): AU channel permutation importance of the ``aus`` view and
  region permutation importance of the ``landmarks`` view, each permutation among the test windows where that view is
  present (a present window never receives an absent window's zeros).

Example:
    >>> donors(torch.tensor([True, False, True, True]), torch.tensor([2, 0, 1])).tolist()
    [3, 1, 0, 2]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from facedep.explanations.fusion_inputs import FusionTestSet, fusion_scores, fusion_scores_many, mask_view
from facedep.explanations.landmark_regions import landmark_regions
from facedep.explanations.permutation import grouped_importance, seeded_orders
from facedep.explanations.subject_metric import subject_scorers

DEFAULT_REPEATS = 5


def method_text(metric: str, windows: int, subjects: int) -> str:
    """The one-line description for reports.

    >>> method_text("subject_mae", 40, 4).split(":")[1][:19]
    ' increase in subjec'
    """
    worse = "increase in" if metric == "subject_mae" else "drop in"
    return (f"view contribution on the fold's test subjects only ({subjects} subjects, {windows} windows): {worse} "
            f"{metric} when the view is masked in every test window (tensor zeros, present=False, as a missing view), "
            "one deterministic pass per view; with the mean attention the present views give it")


def donors(present: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Window ``i`` takes the view from window ``donors[i]``: a permutation (``order``, over the present windows) of
    the windows where the view is present; absent windows keep their own."""
    out = torch.arange(len(present))
    where = torch.nonzero(present).flatten()
    out[where] = where[order]
    return out


@dataclass
class FusionExplanation:
    """View contribution, and the within-view tables (None when not computed), with the methods and subjects."""

    views: pd.DataFrame
    method: str
    metric: str
    channels: pd.DataFrame | None = None
    regions: pd.DataFrame | None = None
    subjects: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def attention_received(attention: torch.Tensor, present: torch.Tensor) -> np.ndarray:
    """Per view: mean over windows where it is present of the mean attention it receives from the present queries.

    >>> a = torch.tensor([[[0.5, 0.5], [0.2, 0.8]]]); attention_received(a, torch.tensor([[True, True]])).round(2).tolist()
    [0.35, 0.65]
    """
    a = attention.double()
    queries = present.float().unsqueeze(2)  # (B, V, 1): present query rows
    per_window = (torch.nan_to_num(a) * queries).sum(dim=1) / queries.sum(dim=1).clamp_min(1)  # (B, V)
    ok = present & ~torch.isnan(a).any(dim=(1, 2)).unsqueeze(1)
    counts = ok.sum(dim=0)
    mean = (per_window * ok).sum(dim=0) / counts.clamp_min(1)
    return torch.where(counts > 0, mean, torch.full_like(mean, float("nan"))).double().numpy()


def view_contribution(model: nn.Module, test: FusionTestSet) -> pd.DataFrame:
    """``view, present_fraction, windows_only_view, importance_mean, importance_std, baseline, [log_loss_increase_mean,
    log_loss_increase_std,] attention_received`` in view order."""
    metric, scorers = subject_scorers(model, test.y, test.video, test.subject)
    attention: list[torch.Tensor] = []
    intact = fusion_scores(model, test, attention=attention)
    views = test.views

    def predict(view: str | None) -> torch.Tensor:
        if view is None:
            return intact
        return fusion_scores(model, test, lambda x, rows: mask_view(x, views, view))

    table = grouped_importance(predict, scorers, None, views, lambda _, g, __: views[g], [None], label="view")
    if not metric.higher_is_better:
        table["baseline"] = -table["baseline"]
    present = test.present
    only = present & (present.sum(dim=1, keepdim=True) == 1)
    table.insert(1, "present_fraction", present.float().mean(dim=0).numpy())
    table.insert(2, "windows_only_view", only.sum(dim=0).numpy())
    table["attention_received"] = attention_received(torch.cat(attention), present)
    return table


def _permuted_view(model: nn.Module, test: FusionTestSet, view: str, scorers: Mapping, groups: Sequence[str],
                   index: Sequence[object], repeats: int, seed: int, label: str) -> pd.DataFrame:
    """Permutation importance of parts ``index[g]`` (an index into the view tensor after the window and time axes)
    of one view, among the windows where it is present."""
    j = test.views.index(view)
    present = test.present[:, j]
    full = test.views_in_memory[view]
    orders = [donors(present, o) for o in seeded_orders(int(present.sum()), repeats, seed)]

    def occlude(_: object, g: int, order: torch.Tensor) -> tuple[int, torch.Tensor]:
        return g, order

    def edit_of(g: int, order: torch.Tensor) -> Callable[[dict[str, torch.Tensor], torch.Tensor], dict]:
        def edit(x: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
            x[view][:, :, index[g]] = full[order[rows]][:, :, index[g]].to(x[view].dtype)
            return x

        return edit

    def predict(spec: tuple[int, torch.Tensor] | None) -> torch.Tensor:
        return fusion_scores(model, test) if spec is None else predict_many([spec])[0]

    def predict_many(specs: list[tuple[int, torch.Tensor]]) -> list[torch.Tensor]:
        return fusion_scores_many(model, test, [edit_of(g, order) for g, order in specs])

    return grouped_importance(predict, scorers, None, list(groups), occlude, orders, label=label,
                              predict_many=predict_many)


def explain_fusion(model: nn.Module, test: FusionTestSet, channels: Sequence[str] | None = None,
                   repeats: int = DEFAULT_REPEATS, seed: int = 0, within: bool = True) -> FusionExplanation:
    """View contribution and, with ``within`` and the small views in memory, AU-channel and landmark-region importance
    (``channels``: the AU view's channel names)."""
    metric, scorers = subject_scorers(model, test.y, test.video, test.subject)
    subjects = sorted(int(s) for s in np.unique(test.subject.numpy()))
    result = FusionExplanation(view_contribution(model, test), method_text(metric.name, len(test), len(subjects)),
                               metric.name, subjects=subjects)
    sign = -1.0 if not metric.higher_is_better else 1.0
    if not within:
        return result
    if "aus" in test.views_in_memory and channels:
        if len(channels) != test.views_in_memory["aus"].shape[-1]:
            result.notes.append(f"aus view has {test.views_in_memory['aus'].shape[-1]} channels, {len(channels)} names: "
                                "no channel importance")
        else:
            result.channels = _permuted_view(model, test, "aus", scorers, list(channels), list(range(len(channels))),
                                             repeats, seed, "channel")
            result.channels["baseline"] *= sign
    if "landmarks" in test.views_in_memory:
        try:
            regions = landmark_regions(test.views_in_memory["landmarks"].shape[2])
        except ValueError as exc:  # Unsupported: a point set without regions
            result.notes.append(str(exc))
        else:
            table = _permuted_view(model, test, "landmarks", scorers, list(regions),
                                   [torch.as_tensor(i) for i in regions.values()], repeats, seed, "region")
            table.insert(1, "points", [len(i) for i in regions.values()])
            table["baseline"] *= sign
            result.regions = table
    return result
