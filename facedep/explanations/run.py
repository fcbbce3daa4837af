"""What ``--run.explain true`` writes after testing: ``<run_dir>/explanations/``.

- ``channel_importance.csv`` / ``.png``: permutation importance of every AU channel on the test subjects;
- ``temporal_attribution.csv`` / ``.png``: integrated gradients per frame and AU for the first test video;
- ``explanations.json``: the methods, the metric and the (pseudonymised with ``run.privacy``) test subjects used.

Only the test subjects' windows and labels are used. Unsupported models or data (not an AU-sequence model,
no ``channels``, no test windows) are skipped: :func:`explain_run` raises :class:`Unsupported`, whose message
is the one-line console note.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from torch import nn

from facedep.explanations.channel_importance import DEFAULT_REPEATS, channel_importance
from facedep.explanations.model_outputs import is_regressor, is_sequence_model
from facedep.explanations.plots import plot_channel_importance, plot_temporal_attribution
from facedep.explanations.temporal_attribution import METHOD as IG_METHOD
from facedep.explanations.temporal_attribution import temporal_attribution


class Unsupported(ValueError):
    """The model or the data has no AU-sequence explanation (the message says why, in one line)."""


def explainable_test_set(model: nn.Module, datamodule: object) -> tuple[object, list[str]]:
    """The DataModule's test :class:`~datamodules.window_dataset.WindowDataset` and channel names, or :class:`Unsupported`."""
    if not is_sequence_model(model):
        raise Unsupported(f"{type(model).__name__} is not an AU-sequence model")
    channels = getattr(datamodule, "channels", None)
    dataset = (getattr(datamodule, "datasets", None) or {}).get("test")
    if not channels or dataset is None or len(dataset) == 0:
        raise Unsupported(f"{type(datamodule).__name__} has no AU channels or no test windows")
    first = dataset.render(0)
    if first.ndim != 2 or first.shape[1] != len(channels):
        raise Unsupported(f"test windows of shape {first.shape} are not (time, {len(channels)} channels)")
    return dataset, list(channels)


def explain_run(model: nn.Module, datamodule: object, out_dir: str | Path, repeats: int = DEFAULT_REPEATS,
                pseudonym: Callable[[str], str] | None = None) -> dict[str, str]:
    """Write the explanations of a tested AU-sequence model into ``out_dir``; returns their paths (and ``method``).

    ``pseudonym`` maps subject ids in ``explanations.json`` (``run.privacy``); raises :class:`Unsupported`.
    """
    dataset, channels = explainable_test_set(model, datamodule)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    importance = channel_importance(model, dataset.arrays(), channels, repeats=repeats)
    paths = {"channel_importance": out / "channel_importance.csv", "channel_importance_png": out / "channel_importance.png",
             "temporal_attribution": out / "temporal_attribution.csv",
             "temporal_attribution_png": out / "temporal_attribution.png", "summary": out / "explanations.json"}
    importance.table.to_csv(paths["channel_importance"], index=False)
    worse = "increase in subject MAE" if is_regressor(model) else "drop in subject macro-F1"
    panels = [("importance_mean", "importance_std", f"{worse} when permuted")]
    if "log_loss_increase_mean" in importance.table:
        panels.append(("log_loss_increase_mean", "log_loss_increase_std", "increase in subject log-loss"))
    plot_channel_importance(importance.table, paths["channel_importance_png"], title="AU importance (test subjects)",
                            spread=f"std over {repeats} permutations", panels=panels)
    attribution = temporal_attribution(model, dataset, channels, sequence=0)
    attribution.frame().to_csv(paths["temporal_attribution"], index=False)
    target = "score (standardised)" if is_regressor(model) else "positive-class logit"
    plot_temporal_attribution(attribution.values, channels, paths["temporal_attribution_png"],
                              title=f"Integrated gradients of the {target}, first test video")
    names = _subject_names(datamodule, importance.subjects, pseudonym)
    paths["summary"].write_text(json.dumps({
        "channel_importance": {"method": importance.method, "metric": importance.metric, "repeats": repeats,
                               "windows": len(dataset), "test_subjects": names},
        "temporal_attribution": {"method": IG_METHOD, "video_index": attribution.video,
                                 "frames": int(len(attribution.values))},
    }, indent=1))
    return {**{k: str(v) for k, v in paths.items()}, "method": importance.method}


def _subject_names(datamodule: object, ids: list[int], pseudonym: Callable[[str], str] | None) -> list[str]:
    """Subject ids -> names (the DataModule's ``sample_names``), pseudonymised when asked; sorted."""
    table = datamodule.sample_names()["subject"] if hasattr(datamodule, "sample_names") else {}
    names = [str(table.get(i, i)) for i in ids]
    return sorted(pseudonym(n) if pseudonym is not None else n for n in names)
