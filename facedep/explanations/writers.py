"""The files each kind of run writes into ``<run>/explanations/`` (see :mod:`facedep.explanations.run`).

Each writer takes the tested model, its DataModule, the output folder, the number of repeats and ``names`` (subject
ids -> reported names, pseudonyms with ``run.privacy``) and returns ``(paths, sections, method)``: the files written,
the ``explanations.json`` sections, and the headline method line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from facedep.explanations.channel_importance import channel_importance
from facedep.explanations.errors import Unsupported
from facedep.explanations.model_outputs import is_regressor, is_sequence_model
from facedep.explanations.plots import plot_channel_importance, plot_face_maps, plot_temporal_attribution
from facedep.explanations.temporal_attribution import METHOD as IG_METHOD
from facedep.explanations.temporal_attribution import temporal_attribution

Names = Callable[[list[int]], list[str]]
Written = tuple[dict[str, Path], dict[str, Any], str]


def importance_panels(table: pd.DataFrame, regressor: bool, when: str = "permuted",
                      mean: str = "importance_mean") -> list[tuple[str, str, str]]:
    """Bar panels of an importance table: the metric drop (MAE increase) and, for classifiers, the log-loss increase."""
    worse = "increase in subject MAE" if regressor else "drop in subject macro-F1"
    panels = [(mean, mean.replace("_mean", "_std"), f"{worse} when {when}")]
    if "log_loss_increase_mean" in table:
        panels.append(("log_loss_increase_mean", "log_loss_increase_std", "increase in subject log-loss"))
    return panels


def _test_set(datamodule: object) -> object:
    dataset = (getattr(datamodule, "datasets", None) or {}).get("test")
    if dataset is None or len(dataset) == 0:
        raise Unsupported(f"{type(datamodule).__name__} has no test windows")
    return dataset


def write_table(table: pd.DataFrame, out: Path, stem: str, title: str, spread: str, regressor: bool, label: str,
                when: str = "permuted") -> dict[str, Path]:
    """``<stem>.csv`` and ``<stem>.png`` (bars with error bars) of an importance table."""
    paths = {stem: out / f"{stem}.csv", f"{stem}_png": out / f"{stem}.png"}
    table.to_csv(paths[stem], index=False)
    plot_channel_importance(table, paths[f"{stem}_png"], title=title, spread=spread,
                            panels=importance_panels(table, regressor, when), label=label)
    return paths


# ---- AU sequences --------------------------------------------------------------------------------------
def explainable_test_set(model: nn.Module, datamodule: object) -> tuple[object, list[str]]:
    """The DataModule's test :class:`~datamodules.window_dataset.WindowDataset` and channel names, or :class:`Unsupported`."""
    if not is_sequence_model(model):
        raise Unsupported(f"{type(model).__name__} is not an AU-sequence model (and {type(datamodule).__name__} has no "
                          "landmark, face-image or multimodal test set)")
    channels = getattr(datamodule, "channels", None)
    dataset = (getattr(datamodule, "datasets", None) or {}).get("test")
    if not channels or dataset is None or len(dataset) == 0:
        raise Unsupported(f"{type(datamodule).__name__} has no AU channels or no test windows")
    first = dataset.render(0)
    if first.ndim != 2 or first.shape[1] != len(channels):
        raise Unsupported(f"test windows of shape {first.shape} are not (time, {len(channels)} channels)")
    return dataset, list(channels)


def write_au(model: nn.Module, datamodule: object, out: Path, repeats: int, names: Names) -> Written:
    """``channel_importance.csv/.png`` and ``temporal_attribution.csv/.png`` (first test video)."""
    dataset, channels = explainable_test_set(model, datamodule)
    importance = channel_importance(model, dataset.arrays(), channels, repeats=repeats)
    paths = write_table(importance.table, out, "channel_importance", "AU importance (test subjects)",
                        f"std over {repeats} permutations", is_regressor(model), "channel")
    attribution = temporal_attribution(model, dataset, channels, sequence=0)
    paths["temporal_attribution"] = out / "temporal_attribution.csv"
    paths["temporal_attribution_png"] = out / "temporal_attribution.png"
    attribution.frame().to_csv(paths["temporal_attribution"], index=False)
    target = "score (standardised)" if is_regressor(model) else "positive-class logit"
    plot_temporal_attribution(attribution.values, channels, paths["temporal_attribution_png"],
                              title=f"Integrated gradients of the {target}, first test video")
    sections = {
        "channel_importance": {"method": importance.method, "metric": importance.metric, "repeats": repeats,
                               "windows": len(dataset), "test_subjects": names(importance.subjects)},
        "temporal_attribution": {"method": IG_METHOD, "video_index": attribution.video,
                                 "frames": int(len(attribution.values))},
    }
    return paths, sections, importance.method


# ---- landmarks -----------------------------------------------------------------------------------------
def write_landmarks(model: nn.Module, datamodule: object, out: Path, repeats: int, names: Names) -> Written:
    """``region_importance.csv/.png``: region permutation importance on the test windows' points."""
    from facedep.explanations.region_importance import region_importance

    dataset = _test_set(datamodule)
    result = region_importance(model, dataset, repeats=repeats)
    paths = write_table(result.table, out, "region_importance", "Landmark region importance (test subjects)",
                        f"std over {repeats} permutations", is_regressor(model), "region")
    sections = {"region_importance": {
        "method": result.method, "metric": result.metric, "repeats": repeats, "windows": len(dataset),
        "regions": dict(zip(result.table["region"], (int(p) for p in result.table["points"]))),
        "test_subjects": names(result.subjects)}}
    return paths, sections, result.method


# ---- face images ---------------------------------------------------------------------------------------
def face_titles(model: nn.Module, targets: np.ndarray, scores: np.ndarray, class_names: list[str]) -> list[str]:
    """One title per face: true class and P(last class), or true and predicted score.

    >>> face_titles(object(), np.array([1]), np.array([0.8]), ["healthy", "depressed"])
    ['depressed, P(depressed)=0.80']
    """
    if is_regressor(model):
        return [f"true {t:.1f}, predicted {s:.1f}" for t, s in zip(targets, scores)]
    last = class_names[-1] if class_names else "positive"
    return [f"{class_names[int(t)] if int(t) < len(class_names) else t}, P({last})={s:.2f}"
            for t, s in zip(targets, scores)]


def write_images(model: nn.Module, datamodule: object, out: Path, repeats: int, names: Names) -> Written:
    """``grad_cam.png`` (overlays on a few test faces) and ``grad_cam.npz`` (``maps``, ``images``, ``rows``,
    ``targets``, ``scores``)."""
    from facedep.explanations.grad_cam import explain_test_faces

    faces = explain_test_faces(model, _test_set(datamodule))
    what = "attention" if faces.name == "attention" else "Grad-CAM"
    paths, section = write_face_maps(faces, model, datamodule, out, names,
                                     f"{what} on {len(faces.rows)} test faces (one per subject)")
    return paths, {"grad_cam": section}, faces.method


def write_face_maps(faces: Any, model: nn.Module, datamodule: object, out: Path, names: Names,
                    title: str) -> tuple[dict[str, Path], dict[str, Any]]:
    """``grad_cam.png`` (overlays) and ``grad_cam.npz`` (``maps``, ``images``, ``rows``, ``targets``, ``scores``) of
    :class:`~facedep.explanations.grad_cam.FaceMaps`; returns the paths and the ``grad_cam`` section."""
    class_names = [str(c) for c in (getattr(model, "class_names", None) or getattr(datamodule, "class_names", None) or [])]
    paths = {"grad_cam": out / "grad_cam.png", "grad_cam_npz": out / "grad_cam.npz"}
    plot_face_maps(faces.images, faces.maps, face_titles(model, faces.targets, faces.scores, class_names),
                   paths["grad_cam"], title=title)
    np.savez_compressed(paths["grad_cam_npz"], maps=faces.maps.astype(np.float16), images=faces.images,
                        rows=np.asarray(faces.rows), targets=faces.targets, scores=faces.scores)
    return paths, {"method": faces.method, "map": faces.name, "faces": len(faces.rows),
                   "rows": [int(r) for r in faces.rows], "test_subjects": names(sorted({int(s) for s in faces.subjects}))}


# ---- fusion --------------------------------------------------------------------------------------------
def write_fusion(model: nn.Module, datamodule: object, out: Path, repeats: int, names: Names) -> Written:
    """``view_contribution.csv/.png`` and, when the test windows fit in memory, ``channel_importance.csv/.png`` (the
    ``aus`` view) and ``region_importance.csv/.png`` (the ``landmarks`` view)."""
    from facedep.explanations.fusion_inputs import FusionTestSet
    from facedep.explanations.view_contribution import explain_fusion

    views = list(getattr(datamodule, "views"))
    test = FusionTestSet(_test_set(datamodule), views)
    channels = list(getattr(datamodule, "channels", None) or []) if "aus" in views else None
    result = explain_fusion(model, test, channels, repeats=repeats, within=test.cached)
    regressor = is_regressor(model)
    paths = write_table(result.views, out, "view_contribution", "View contribution (test subjects)",
                        "one deterministic pass", regressor, "view", when="masked")
    sections: dict[str, Any] = {"view_contribution": {
        "method": result.method, "metric": result.metric, "windows": len(test), "views": views,
        "test_subjects": names(result.subjects), "notes": result.notes,
        "within_views": bool(test.cached) or "skipped: the test windows do not fit in memory"}}
    within = f"swapped between test windows where the view is present, {repeats} seeded repeats (mean ± std)"
    if result.channels is not None:
        paths |= write_table(result.channels, out, "channel_importance", "AU importance in the fusion (test subjects)",
                             f"std over {repeats} permutations", regressor, "channel")
        sections["channel_importance"] = {"method": f"permutation importance of each AU channel of the aus view, {within}",
                                          "metric": result.metric, "repeats": repeats, "windows": len(test),
                                          "test_subjects": names(result.subjects)}
    if result.regions is not None:
        paths |= write_table(result.regions, out, "region_importance", "Landmark regions in the fusion (test subjects)",
                             f"std over {repeats} permutations", regressor, "region")
        sections["region_importance"] = {"method": f"region permutation importance of the landmarks view, {within}",
                                         "metric": result.metric, "repeats": repeats, "windows": len(test),
                                         "test_subjects": names(result.subjects)}
    paths |= _fusion_faces(model, datamodule, views, out, names, sections)
    return paths, sections, result.method


def _fusion_faces(model: nn.Module, datamodule: object, views: list[str], out: Path, names: Names,
                  sections: dict[str, Any]) -> dict[str, Path]:
    """``grad_cam.png/.npz`` of the fusion model's face crops (:mod:`facedep.explanations.fusion_faces`), when it has
    a faces view and a test window with crops; the reason in ``sections["grad_cam"]`` otherwise."""
    from facedep.explanations.fusion_faces import fusion_face_maps

    try:
        faces = fusion_face_maps(model, _test_set(datamodule), views)
    except Unsupported as exc:
        if "faces" in views:
            sections["grad_cam"] = {"skipped": str(exc)}
        return {}
    paths, sections["grad_cam"] = write_face_maps(
        faces, model, datamodule, out, names, f"Grad-CAM of the fused output on {len(faces.rows)} test windows' crops")
    return paths
