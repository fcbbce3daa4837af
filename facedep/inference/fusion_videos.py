"""Fusion checkpoints on new videos: the checkpoint's model and DataModule, the videos to score, their predictions.

Used by ``predict.py`` (:mod:`facedep.inference.predict_multimodal`: the command line and the layout of the outputs)
and its ``--explain`` (:mod:`facedep.inference.explain_multimodal`). Each video is read, aligned and windowed by the
checkpoint's own ``MultimodalDataModule`` (its saved settings and training statistics), exactly as test windows are.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from datamodules.io.au_table import DataFormatError
from datamodules.multimodal import MultimodalDataModule
from datamodules.multimodal_dataset import MultimodalWindowDataset
from datamodules.multimodal_views import VIEW_COLUMNS, ViewLoader, view_paths
from facedep.explanations.fusion_inputs import FusionTestSet, fusion_scores
from facedep.explanations.model_outputs import is_regressor
from facedep.inference.checkpoints import build_module
from facedep.inference.common import CheckpointFile, PredictError, import_class, pick_device, read_checkpoint

CLI_OPTIONS: dict[str, str] = {"aus": "au", "landmarks": "landmarks", "faces": "faces"}
"""The ``predict.py`` option (``--au``, ...) of each view, for the ``-`` source."""


# ---- checkpoint -------------------------------------------------------------------------------
def is_multimodal_datamodule(dm_hparams: dict[str, Any]) -> bool:
    """Whether DataModule hyper-parameters come from a ``MultimodalDataModule`` (by class path).

    >>> is_multimodal_datamodule({"_class_path": "datamodules.MultimodalDataModule"}), is_multimodal_datamodule({})
    (True, False)
    """
    return str(dm_hparams.get("_class_path", "")).rsplit(".", 1)[-1] == "MultimodalDataModule"


def datamodule_from(dm_hparams: dict[str, Any], ckpt: str | Path = "checkpoint") -> MultimodalDataModule:
    """The checkpoint's DataModule rebuilt from its hyper-parameters (no data read, no cache); its attributes are
    then exactly the settings it evaluated with, defaults and derived values (``eval_stride``) included."""
    cls: type = MultimodalDataModule
    if dm_hparams.get("_class_path"):
        cls = import_class(dm_hparams["_class_path"], ckpt, MultimodalDataModule,
                           "datamodule_hyper_parameters._class_path")
    accepted = {name for klass in cls.__mro__ if "__init__" in vars(klass)
                for name in inspect.signature(klass.__init__).parameters}
    kwargs = {k: v for k, v in dm_hparams.items() if k in accepted and not k.startswith("_") and k != "manifest"}
    kwargs["cache_dir"] = None
    try:
        return cls(str(dm_hparams.get("manifest", "")), **kwargs)
    except (TypeError, ValueError) as exc:
        raise PredictError(f"cannot rebuild the checkpoint's MultimodalDataModule from its settings: {exc}") from exc


def _datamodule_state(checkpoint: dict[str, Any], dm: MultimodalDataModule) -> dict[str, Any]:
    """What Lightning saved from ``datamodule.state_dict()`` (under the DataModule's class name), if anything."""
    for name in (type(dm).__qualname__, "MultimodalDataModule"):
        value = checkpoint.get(name)
        if isinstance(value, dict) and value:
            return value
    return {}


@dataclass
class LoadedFusionModel:
    """A fusion model ready for inference, with the DataModule (settings and training statistics) it was trained on."""

    model: torch.nn.Module
    datamodule: MultimodalDataModule
    class_names: list[str]
    threshold: float
    binary: bool
    regressor: bool
    device: torch.device

    @property
    def views(self) -> list[str]:
        return list(self.datamodule.views)


def load_fusion_model(ckpt: str | Path | CheckpointFile, device: str = "cpu") -> LoadedFusionModel:
    """Load a checkpoint trained on a ``MultimodalDataModule`` with its DataModule's settings and statistics
    (one safe read; the model built with ``weights_only=True``)."""
    checkpoint = read_checkpoint(ckpt)
    path, dm_hparams = checkpoint.path, checkpoint.dm_hparams
    if not is_multimodal_datamodule(dm_hparams):
        raise PredictError(f"{path} was not trained on a MultimodalDataModule "
                           f"({dm_hparams.get('_class_path') or 'no DataModule settings saved'})")
    dm = datamodule_from(dm_hparams, path)
    state = _datamodule_state(checkpoint.data, dm)
    if not state.get("scalers"):
        raise PredictError(f"{path} carries no fitted MultimodalDataModule statistics (the AU, landmark and face scalers "
                           "fitted on the training subjects, saved as the DataModule's state); new videos cannot be "
                           "standardised as in training. Use a checkpoint written by facedep's training (run_training "
                           "/ cross_validate.py)")
    try:
        dm.load_state_dict(state)
    except (ValueError, KeyError, TypeError) as exc:
        raise PredictError(f"{path}: the saved MultimodalDataModule state does not fit its settings: {exc}") from exc
    missing = [v for v in dm.views if v not in dm.scalers]
    if missing:
        raise PredictError(f"{path}: the saved DataModule state has no statistics for view(s) {missing}")
    if "landmarks" in dm.views and dm.num_points is None:
        raise PredictError(f"{path}: the saved DataModule state does not say how many landmark points it was trained on")
    model = build_module(checkpoint.data, path, "lightning_modules.MultimodalClassifier", PredictError)
    in_channels = dict(getattr(model, "in_channels", None) or {})
    if list(in_channels) != dm.views or in_channels != dm.num_channels:
        raise PredictError(f"{path}: the model's views {in_channels} differ from its DataModule's {dm.num_channels}")
    torch_device = pick_device(device)
    model.eval().to(torch_device)
    regressor = is_regressor(model)
    names = [str(c) for c in (getattr(model, "class_names", None) or dm.class_names or ["0", "1"])]
    binary = not regressor and len(names) == 2
    threshold = float(getattr(model, "decision_threshold", torch.tensor(0.5))) if binary else 0.5
    return LoadedFusionModel(model, dm, names, threshold, binary, regressor, torch_device)


# ---- sources ----------------------------------------------------------------------------------
@dataclass
class VideoSource:
    """One video to score: its view files (only the views it has) and what the output row carries about it."""

    name: str
    files: dict[str, str]
    missing: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    where: str = ""


def video_name(files: dict[str, str], fallback: str) -> str:
    """The name of a video: its first view file's stem (a crop folder: its name).

    >>> video_name({"landmarks": "/d/v01.npz", "faces": "/d/v01_aligned"}, "row 1")
    'v01'
    """
    for path in files.values():
        p = Path(path)
        return p.name if p.is_dir() else p.stem
    return fallback


def manifest_sources(manifest: str | Path, views: list[str]) -> list[VideoSource]:
    """One :class:`VideoSource` per manifest row (see the module docstring); a view the checkpoint uses needs its
    column, and a listed file that does not exist is refused naming it and the row."""
    manifest = Path(manifest)
    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 (parser, encoding, OS errors: one message naming the file)
        raise PredictError(f"cannot read manifest {manifest}: {exc}") from exc
    known = {*VIEW_COLUMNS.values(), "path"}
    if not known & set(table.columns):
        raise PredictError(f"{manifest}: a multimodal checkpoint takes a manifest CSV with view columns "
                           f"({', '.join(sorted(known))}) or '-' with --au/--landmarks/--faces; this file has "
                           f"{list(table.columns)[:8]}")
    for view in views:
        column = VIEW_COLUMNS[view]
        if column not in table.columns and not (view == "aus" and "path" in table.columns):
            raise PredictError(f"{manifest}: the checkpoint uses the {view} view but the manifest has no {column!r} "
                               f"column; add it (a blank cell: the video lacks the view)")
    if table.empty:
        raise PredictError(f"{manifest} lists no video")
    if "au_path" not in table.columns and "path" in table.columns:  # ``path`` is the AU file: resolved as au_path
        table = table.assign(au_path=table["path"])
    paths = view_paths(table, manifest, views)
    sources = []
    for i, row in enumerate(table.itertuples(index=False)):
        files = {v: paths[v][i] for v in views if paths[v][i] is not None}
        where = f"{manifest} row {i + 1}"
        info = {k: getattr(row, k) for k in ("subject_id", "session") if k in table.columns}
        sources.append(VideoSource(video_name(files, f"row{i + 1}"), files, [v for v in views if v not in files], info,
                                   where))
    names = [s.name for s in sources]
    for i, source in enumerate(sources):
        if names.count(source.name) > 1:  # one name per output row
            source.name = f"{source.name} (row {i + 1})"
    return sources


def option_sources(args: argparse.Namespace, views: list[str]) -> list[VideoSource]:
    """The one video of ``-``: ``--au`` / ``--landmarks`` / ``--faces`` (a view the checkpoint does not use is
    ignored, with a note)."""
    given = {v: str(Path(getattr(args, o))) for v, o in CLI_OPTIONS.items() if getattr(args, o, None)}
    if not given:
        raise PredictError("source '-' needs the video's view files: --au FILE, --landmarks FILE and/or --faces "
                           "DIR_OR_VIDEO")
    unused = [f"--{CLI_OPTIONS[v]}" for v in given if v not in views]
    if unused:
        print(f"note: the checkpoint does not use {', '.join(unused)} (its views: {', '.join(views)}); ignored",
              file=sys.stderr)
    files = {v: given[v] for v in views if v in given}
    if not files:
        raise PredictError(f"none of the given files is a view the checkpoint uses ({', '.join(views)})")
    return [VideoSource(video_name(files, "video"), files, [v for v in views if v not in files], {}, "the options")]


def check_files_exist(sources: list[VideoSource]) -> None:
    """Refuse, before any reading, a listed view file that does not exist (naming it and where it was listed)."""
    for source in sources:
        for view, path in source.files.items():
            if not Path(path).exists():
                raise PredictError(f"{path}: the {view} file of {source.name} ({source.where}) does not exist")


# ---- prediction -------------------------------------------------------------------------------
@dataclass
class VideoPrediction:
    """One video's windows (``test``: read into memory for the model; None without a window), their scores
    (``(N, K)`` probabilities, or ``(N,)`` predictions), the attention of each window ``(N, V, V)``
    (``net.last_attention``; NaN without one) and its output row."""

    source: VideoSource
    windows: MultimodalWindowDataset
    test: FusionTestSet | None
    frames: int
    scores: torch.Tensor
    attention: torch.Tensor
    row: dict[str, Any]


def read_video(loaded: LoadedFusionModel, source: VideoSource, loader: ViewLoader | None = None,
               ) -> tuple[MultimodalWindowDataset, int]:
    """The video's evaluation windows as the checkpoint's DataModule builds them, and its timeline length."""
    try:
        windows, timeline, _ = loaded.datamodule.video_windows(source.files, loader)
    except DataFormatError as exc:  # names the file
        raise PredictError(f"{exc} ({source.where})") from exc
    return windows, timeline.length


def _row(loaded: LoadedFusionModel, source: VideoSource, frames: int, windows: MultimodalWindowDataset,
         scores: torch.Tensor) -> dict[str, Any]:
    views = loaded.views
    share = windows.present.mean(axis=0) if len(windows) else np.full(len(views), math.nan)
    row: dict[str, Any] = {"video": source.name, **source.info, "frames": frames, "windows": len(windows),
                           "views_present": ",".join(v for v, s in zip(views, share) if s > 0),
                           "views_missing": ",".join(source.missing)}
    row.update({f"present_{v}": float(s) for v, s in zip(views, share)})
    row.update(score=math.nan, predicted_class="", class_name="")
    if loaded.regressor:
        if len(windows):
            row["score"] = float(scores.double().mean())
        return row
    row.update({f"p_{name}": math.nan for name in loaded.class_names})
    if not len(windows):
        return row
    mean = scores.double().mean(dim=0).numpy()  # the video's mean window probability (aggregate_mean)
    predicted = int(mean[1] >= loaded.threshold) if loaded.binary else int(mean.argmax())
    row.update(score=float(mean[1] if loaded.binary else mean.max()), predicted_class=predicted,
               class_name=loaded.class_names[predicted])
    row.update({f"p_{name}": float(p) for name, p in zip(loaded.class_names, mean)})
    return row


def predict_video(loaded: LoadedFusionModel, source: VideoSource, batch_size: int = 16,
                  loader: ViewLoader | None = None) -> VideoPrediction:
    """Score every evaluation window of one video and aggregate them (mean window probability or prediction)."""
    windows, frames = read_video(loaded, source, loader)
    views = len(loaded.views)
    attention: list[torch.Tensor] = [torch.zeros(0, views, views)]
    test = FusionTestSet(windows, loaded.views, chunk=batch_size) if len(windows) else None
    if test is not None:
        scores = fusion_scores(loaded.model, test, attention=attention)
    else:
        scores = torch.zeros((0,) if loaded.regressor else (0, len(loaded.class_names)))
    return VideoPrediction(source, windows, test, frames, scores, torch.cat(attention),
                           _row(loaded, source, frames, windows, scores))
