"""``predict.py`` on a multimodal (fusion) checkpoint: score videos from their AU file, landmarks and face crops.

``predict.py`` sends checkpoints whose DataModule is a ``MultimodalDataModule`` here (``MultimodalClassifier`` or
``MultimodalRegressor`` with ``FusionNet``). The source is

* a manifest CSV with one row per video and the view columns of a training manifest: ``au_path`` (or ``path``
  without an ``au_path`` column), ``landmarks_path``, ``faces_path`` (a folder of aligned crops or a video); relative
  paths are relative to the manifest's folder, a blank cell means the video lacks that view, no label is needed
  (``subject_id`` and ``session`` are copied to the output when present); a view the checkpoint uses needs its
  column (blank cells are fine);
* or ``-``: one video from ``--au FILE``, ``--landmarks FILE``, ``--faces DIR_OR_VIDEO`` (any subset).

Each video is read, aligned and windowed by the checkpoint's own ``MultimodalDataModule`` (rebuilt from its
``datamodule_hyper_parameters``: the same views, channels, readers, ``window``, ``eval_stride``, ``face_size``,
``face_frames``, ``min_confidence``, ``min_view_coverage``, ``align_on``; the statistics fitted on the training
subjects restored from its saved state; :meth:`~datamodules.multimodal.MultimodalDataModule.video_windows`), exactly as
validation and test windows are built. A checkpoint without that state is refused. A view the checkpoint uses but the
video lacks is absent in every window (``present`` False, zeros; the model never sees it) and listed in
``views_missing``; a listed file that does not exist or cannot be read is an error naming it (nothing is skipped).

``<out>/predictions.csv``, one row per video: ``video`` (the name of its first view file), ``frames`` (its timeline:
the union of its views' frames), ``windows``, ``views_present`` (views present in at least one window, e.g.
``aus,faces``), ``views_missing`` (views of the checkpoint without a file), ``present_<view>`` (share of the windows
where the view is present), ``score``, ``predicted_class``, ``class_name``, ``p_<class>``. Classifiers: ``p_<class>``
is the mean window probability (as ``lightning_modules/aggregation.py`` aggregates a video in test), ``score`` the
positive class's (binary; decided with the model's ``decision_threshold``) or the largest one (multi-class).
Regressors (``MultimodalRegressor``): ``score`` is the mean window prediction in target units (e.g. the PHQ-8 score);
``predicted_class`` and ``class_name`` stay empty and there are no ``p_`` columns. A video without any window (no
view covers ``min_view_coverage`` of one) gets ``windows`` 0 and no score.

``--explain`` writes ``<out>/explanations/`` (no label involved): ``view_contribution.csv`` (one row per video and
view: ``video_score``, ``masked_score``, ``change`` = masked - intact video score when the view is masked in all the
video's windows, exactly as the data marks a missing view; ``mean_abs_window_change``; ``windows_only_view``: windows
whose only present view it is, which then carry no view and get the no-information output: uniform class
probabilities, or a regressor's training-mean target, as :mod:`facedep.explanations.fusion_inputs` does;
``attention_received``: mean over the video's windows where the view is present of the attention the present views
give it, ``FusionNet.last_attention``), ``view_contribution.png`` (videos x views) and ``explanations.json``. A view
present in no window of the video changes no input when masked: its change is exactly 0. The video score is
P(positive class) for binary classifiers, P(the video's predicted class) for multi-class ones, the prediction in
target units for regressors.

Example:
    python scripts/predict.py --ckpt runs/fusion-demo/checkpoints/best.ckpt demo_fusion/manifest.csv --out out/ --explain
    python scripts/predict.py --ckpt best.ckpt - --au v.csv --landmarks v.npz --faces v_aligned/ --out out/
"""

from __future__ import annotations

import argparse
import inspect
import json
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
from facedep.explanations.fusion_inputs import FusionTestSet, fusion_scores, fusion_scores_many, mask_view
from facedep.explanations.model_outputs import is_regressor
from facedep.explanations.view_contribution import attention_received
from facedep.inference.checkpoints import build_module
from facedep.inference.common import CheckpointFile, PredictError, import_class, pick_device, read_checkpoint
from facedep.inference.explain_predict import FOLDER, announce
from facedep.inference.outputs import default_out

CLI_OPTIONS: dict[str, str] = {"aus": "au", "landmarks": "landmarks", "faces": "faces"}
"""The ``predict.py`` option (``--au``, ...) of each view, for the ``-`` source."""
NO_INFORMATION = ("windows left with no present view are not passed to the model: uniform class probabilities "
                  "(a regressor: its training-mean target)")
ATTENTION = ("mean over the video's windows where the view is present of the attention the present views give it "
             "(FusionNet.last_attention: last cross-view layer, mean over heads), intact inputs")


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


# ---- command line -----------------------------------------------------------------------------
def sources_of(args: argparse.Namespace, views: list[str]) -> list[VideoSource]:
    """The videos ``args`` names: a manifest CSV, or ``-`` with the view options."""
    if args.source == "-":
        return option_sources(args, views)
    given = [f"--{o}" for o in CLI_OPTIONS.values() if getattr(args, o, None)]
    if given:
        raise PredictError(f"{' '.join(given)} go with the source '-' (one video); {args.source} is a manifest: list "
                           "the files in its columns instead")
    path = Path(args.source)
    if not path.is_file():
        raise PredictError(f"source {args.source} not found (a multimodal checkpoint takes a manifest CSV, or '-' with "
                           "--au/--landmarks/--faces)")
    return manifest_sources(path, views)


def _summary(prediction: VideoPrediction) -> tuple[str, bool]:
    """The line printed for a video, and whether it is a warning (no window)."""
    p, name = prediction, prediction.source.name
    missing = f"; lacks {', '.join(p.source.missing)} (absent in every window)" if p.source.missing else ""
    if not len(p.windows):
        return f"warning: {name}: no window with a present view ({p.frames} frames){missing}", True
    decided = f" ({p.row['class_name']})" if p.row["class_name"] != "" else ""
    return (f"{name}: {len(p.windows)} windows, views {p.row['views_present']}{missing}; "
            f"score {p.row['score']:.3f}{decided}"), False


def run(args: argparse.Namespace, checkpoint: CheckpointFile | None = None) -> int:
    """Score the videos of ``args.source`` with a fusion checkpoint; ``--explain`` adds the view contribution.

    Videos are read, scored (and explained) one at a time; only their rows and tables are kept."""
    loaded = load_fusion_model(checkpoint or args.ckpt, getattr(args, "device", "cpu"))
    sources = sources_of(args, loaded.views)
    check_files_exist(sources)
    batch_size = int(getattr(args, "batch_size", 16))
    out = Path(args.out) if args.out else default_out(sources[0].name if args.source == "-" else args.source)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PredictError(f"cannot create output folder {out}: {exc}") from exc
    loader = loaded.datamodule.view_loader()
    rows, explained = [], []
    for source in sources:
        prediction = predict_video(loaded, source, batch_size, loader)
        rows.append(prediction.row)
        line, warning = _summary(prediction)
        print(line, file=sys.stderr if warning else sys.stdout)
        if args.explain:
            explained.append(explain_video(loaded, prediction))
    pd.DataFrame(rows).to_csv(out / "predictions.csv", index=False)
    print(f"{len(rows)} video(s); wrote {out / 'predictions.csv'}")
    if args.explain:
        announce(lambda: write_explanations(loaded, explained, out))
    return 0
