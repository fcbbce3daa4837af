"""``predict.py --explain`` on a fusion checkpoint: each view's contribution to one video's score (no label involved).

See :mod:`facedep.inference.predict_multimodal` for the files written and what they hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from facedep.explanations.fusion_inputs import fusion_scores_many, mask_view
from facedep.explanations.view_contribution import attention_received
from facedep.inference.explain_predict import FOLDER
from facedep.inference.fusion_videos import LoadedFusionModel, VideoPrediction, VideoSource

NO_INFORMATION = ("windows left with no present view are not passed to the model: uniform class probabilities "
                  "(a regressor: its training-mean target)")
ATTENTION = ("mean over the video's windows where the view is present of the attention the present views give it "
             "(FusionNet.last_attention: last cross-view layer, mean over heads), intact inputs")


# ---- explanation ------------------------------------------------------------------------------
def _video_score(scores: torch.Tensor, class_index: int | None) -> torch.Tensor:
    """Per window: P(class ``class_index``), or the prediction itself (regressors: ``class_index`` None)."""
    return scores.double() if class_index is None else scores[:, class_index].double()


def video_view_contribution(loaded: LoadedFusionModel, prediction: VideoPrediction) -> tuple[pd.DataFrame, str]:
    """One video's view contribution table (module docstring) and what its score is (e.g. ``P(depressed)``)."""
    views, model, test = loaded.views, loaded.model, prediction.test
    if test is None:
        raise ValueError(f"{prediction.source.name} has no window to explain")
    intact = prediction.scores  # the scores of predictions.csv
    if loaded.regressor:
        class_index, target = None, f"prediction ({loaded.class_names[0]}, target units)"
    else:
        class_index = 1 if loaded.binary else int(intact.double().mean(dim=0).argmax())
        target = f"P({loaded.class_names[class_index]})"
    base = _video_score(intact, class_index)
    present = test.present
    only = present & (present.sum(dim=1, keepdim=True) == 1)
    received = attention_received(prediction.attention, present)
    shown = [view for j, view in enumerate(views) if bool(present[:, j].any())]
    edits = [lambda x, _rows, v=view: mask_view(x, views, v) for view in shown]
    masked_scores = dict(zip(shown, fusion_scores_many(model, test, edits))) if shown else {}
    rows = []
    for j, view in enumerate(views):
        # a view absent from every window already: masking changes no input (change exactly 0)
        masked = _video_score(masked_scores[view], class_index) if view in masked_scores else base
        rows.append({"video": prediction.source.name, "view": view,
                     "present_fraction": float(present[:, j].float().mean()),
                     "windows_only_view": int(only[:, j].sum()), "video_score": float(base.mean()),
                     "masked_score": float(masked.mean()), "change": float(masked.mean() - base.mean()),
                     "mean_abs_window_change": float((masked - base).abs().mean()),
                     "attention_received": float(received[j])})
    return pd.DataFrame(rows), target


def plot_view_contribution(table: pd.DataFrame, path: Path, views: list[str], title: str = "") -> Path:
    """Two heat maps, videos (rows) x views (columns): the change of the video score when the view is masked
    (``0 (absent)``: the view is in no window of the video), and the attention it receives (blank there)."""
    from facedep.evaluation.plots import new_figure

    videos = list(dict.fromkeys(table["video"]))
    panels = [("change", "change in video score when masked", "RdBu_r"),
              ("attention_received", "attention received", "viridis")]
    absent = (table.pivot(index="video", columns="view", values="present_fraction")
              .reindex(index=videos, columns=views).to_numpy(dtype=float) == 0)
    fig = new_figure((3.0 + 2.2 * len(views), 1.6 + 0.35 * len(videos)))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (column, label, cmap) in zip(axes, panels):
        grid = table.pivot(index="video", columns="view", values=column).reindex(index=videos, columns=views)
        values = grid.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if column == "change":
            limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
            image = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
        else:
            image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        for (r, c), value in np.ndenumerate(values):
            if not np.isfinite(value):
                continue
            red, green, blue, _ = image.cmap(image.norm(value))
            text = ("0 (absent)" if absent[r, c] else f"{value:+.3f}") if column == "change" else f"{value:.2f}"
            ax.text(c, r, text, ha="center", va="center", fontsize=7,
                    color="white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black")
        ax.set_xticks(range(len(views)), views)
        ax.set_yticks(range(len(videos)), videos if len(videos) <= 60 else [""] * len(videos))
        ax.set_title(label, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return path


@dataclass
class VideoExplanation:
    """One video's view contribution table (or None: no window) and what its score is (e.g. ``P(depressed)``)."""

    source: VideoSource
    windows: int
    table: pd.DataFrame | None
    target: str = ""


def explain_video(loaded: LoadedFusionModel, prediction: VideoPrediction) -> VideoExplanation:
    """:func:`video_view_contribution` of one scored video (a video without a window: nothing to explain)."""
    if prediction.test is None:
        return VideoExplanation(prediction.source, 0, None)
    table, target = video_view_contribution(loaded, prediction)
    return VideoExplanation(prediction.source, len(prediction.windows), table, target)


def write_explanations(loaded: LoadedFusionModel, explained: list[VideoExplanation], out: Path) -> list[Path]:
    """``view_contribution.csv/.png`` and ``explanations.json`` of the videos into ``out/explanations/``;
    :class:`~facedep.explanations.errors.Unsupported` when no video has a window."""
    from facedep.explanations.errors import Unsupported

    kept = [e for e in explained if e.table is not None]
    if not kept:
        raise Unsupported("no video has a window to explain (no view covers min_view_coverage of a window)")
    table = pd.concat([e.table for e in kept], ignore_index=True)
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "view_contribution.csv", folder / "view_contribution.png", folder / "explanations.json"]
    table.to_csv(paths[0], index=False)
    what = "; ".join(sorted({e.target for e in kept}))
    plot_view_contribution(table, paths[1], loaded.views, title=f"View contribution to {what}: masked - intact")
    paths[2].write_text(json.dumps({"kind": "fusion", "view_contribution": {
        "method": "per video: the change of the video score (mean over its windows) when the view is masked in all its "
                  "windows (tensor zeros, present=False, as the data marks a missing view); a view present in no window: "
                  "masking changes no input, change 0",
        "no_information": NO_INFORMATION, "attention": ATTENTION, "labels": "none involved",
        "videos": [{"video": e.source.name, "windows": e.windows, "score": e.target, "views_missing": e.source.missing}
                   for e in kept],
        "skipped_without_windows": [e.source.name for e in explained if e.table is None]}}, indent=1))
    return paths
