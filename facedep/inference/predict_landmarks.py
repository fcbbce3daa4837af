"""Per-frame depression scores from a landmark checkpoint (``LandmarkDataModule``) on a video or a landmark file.

``python scripts/predict.py --ckpt runs/landmarks-demo/fold0/checkpoints/last.ckpt video.mp4 --out out/``

``scripts/predict.py`` sends checkpoints whose DataModule is a ``LandmarkDataModule`` here. The source is

* a video file: the face mesh of the largest face of every ``--stride``-th frame is extracted exactly
  as ``scripts/extract_landmarks.py`` does (the tracked face mesh through LiteRT: the 468-point model
  for a checkpoint trained on 468 points, else the 478-point attention mesh, the default there;
  detector score ``--min-face-score``, default 0.5 as there; face presence 0.5) and saved as
  ``<out>/<stem>.npz`` (reusable as a source or in a manifest);
* or an already-extracted landmark file: ``.npz`` from ``extract_landmarks.py``, or an OpenFace /
  DAIC-WOZ / OpenDBM landmark CSV (read by :mod:`datamodules.io.landmarks`; the checkpoint's
  ``file_format`` is used when it names a CSV reader, else the format is sniffed).

The model's inputs are built as the checkpoint's ``LandmarkDataModule`` builds them for validation
and test (the DataModule is instantiated from the checkpoint's ``datamodule_hyper_parameters``):
frames below ``min_confidence`` or without a face are invalid and dropped, the valid frames are
normalised per video (``center``/``scale``/``align``), cut into windows of ``frames_per_sample``
frames (every ``frame_step``-th) every ``eval_stride`` valid frames (the tail covered by one more
window; one zero-padded window when the video is shorter) and rendered as pseudo-images
(``mode``, ``image_size``). The DataModule fits no statistic (no scaler); a checkpoint that carries
DataModule state is refused rather than applied wrongly.

Scores: every window's class probabilities; each frame gets the mean probabilities of the windows
whose span covers it (frames without usable landmarks, or not covered by any window: NaN); the
frame's ``score`` is P(positive class) for binary tasks (``predicted_class`` by the model's
``decision_threshold``), else the top mean probability (and its class). Scores are smoothed like
the image path (centred NaN-aware moving average, ``--smooth``). The video-level score is the mean
of the window probabilities (as ``lightning_modules/aggregation.py`` aggregates a video in test),
decided with ``decision_threshold`` (binary) or by the largest mean probability.

``--explain`` adds ``<out>/explanations/region_occlusion.csv`` / ``.png``: the change of the video score when each
face region is frozen at its mean position over the video (:mod:`facedep.inference.explain_predict`).

Options of ``predict.py`` that apply: ``--smooth``, ``--batch-size`` (windows per model call),
``--device``, ``--stride`` and ``--min-face-score`` (video extraction), ``--max-frames`` (keeps the
first frames of the sequence, after extraction); ``--margin`` and ``--headless`` do not.

Writes ``predictions.csv`` (same columns as the image path; ``face_found`` = the frame has usable
landmarks) and ``timeline.png``, and prints the video score and decision. A webcam cannot be used
(windows need the whole clip, and each video is normalised on its own frames).

Example:
    >>> loaded = load_landmark_model("runs/landmarks-demo/fold0/checkpoints/last.ckpt")  # doctest: +SKIP
    >>> result = predict_sequence(loaded, read_landmarks("out/clip.npz", loaded))  # doctest: +SKIP
    >>> result.score, result.class_name  # doctest: +SKIP
    (0.71, 'depressed')
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datamodules.io.au_table import DataFormatError
from datamodules.io.landmarks import NUM_POINTS_68, LandmarkSequence, read_landmark_file, sniff_landmark_format
from datamodules.landmarks import LandmarkDataModule, render_window
from datamodules.window_dataset import WindowDataset
from datamodules.windows import window_span
from facedep.inference.checkpoints import build_module
from facedep.inference.common import (IMAGE_EXTENSIONS, CheckpointFile, PredictError, import_class, pick_device,
                                     read_checkpoint)
from facedep.inference.frames import open_capture
from facedep.inference.outputs import Row, default_out, plot_timeline, smooth_scores, write_csv

LANDMARK_FILE_SUFFIXES = frozenset({".npz", ".csv", ".txt"})
MESH_POINTS = 468
ATTENTION_POINTS = 478
"""Points per frame from the video extractor (MediaPipe face mesh)."""
EXTRACT_MIN_FACE_SCORE = 0.5
"""``scripts/extract_landmarks.py``'s default ``--min-score``."""
CSV_FORMATS = frozenset({"openface", "openface-2d", "daic-woz", "opendbm"})
"""Landmark readers of 68-point tracker CSVs."""


# ---- checkpoint -------------------------------------------------------------------------------
def is_landmark_datamodule(dm_hparams: dict[str, Any]) -> bool:
    """Whether DataModule hyper-parameters come from a ``LandmarkDataModule`` (by class, else by its keys)."""
    dm_class = str(dm_hparams.get("_class_path", ""))
    if dm_class:
        return "Landmark" in dm_class.rsplit(".", 1)[-1]
    return "frames_per_sample" in dm_hparams and dm_hparams.get("mode") in {"frames", "temporal"}


def is_landmark_checkpoint(ckpt: str | Path | CheckpointFile) -> bool:
    """Whether ``ckpt`` was trained on a ``LandmarkDataModule``; False when it cannot be read (the caller reports)."""
    try:
        checkpoint = read_checkpoint(ckpt)
    except PredictError:
        return False
    return is_landmark_datamodule(checkpoint.dm_hparams)


def datamodule_from(dm_hparams: dict[str, Any], ckpt: str | Path = "checkpoint") -> LandmarkDataModule:
    """The checkpoint's DataModule, instantiated from its hyper-parameters (no data read, no cache).

    Its attributes (``mode``, ``frames_per_sample``, ``frame_step``, ``eval_stride``, ``image_size``,
    ``normalization``, ``min_confidence``, ``file_format``) are then exactly what it used, defaults and
    derived values (``eval_stride``) included. A ``_class_path`` outside this project's DataModules
    (or not a ``LandmarkDataModule``) is refused.
    """
    cls: type = LandmarkDataModule
    if dm_hparams.get("_class_path"):
        cls = import_class(dm_hparams["_class_path"], ckpt, LandmarkDataModule, "datamodule_hyper_parameters._class_path")
    accepted = {name for klass in cls.__mro__ if "__init__" in vars(klass)
                for name in inspect.signature(klass.__init__).parameters}
    kwargs = {k: v for k, v in dm_hparams.items() if k in accepted and not k.startswith("_") and k != "manifest"}
    kwargs.update(cache_dir=None, image_cache=False)
    try:
        return cls(str(dm_hparams.get("manifest", "")), **kwargs)
    except (TypeError, ValueError) as exc:
        raise PredictError(f"cannot rebuild the checkpoint's LandmarkDataModule from its settings: {exc}") from exc


def _manifest_points(manifest: str) -> int | None:
    """Points per frame of the first file of the training manifest, when it is readable here."""
    from datamodules.manifest import load_manifest

    try:
        if not manifest or not Path(manifest).is_file():
            return None
        first = str(load_manifest(manifest, check_paths=False)["path"].iloc[0])
        if not Path(first).is_file():
            return None
        fmt = sniff_landmark_format(first)
        if fmt != "npz":
            return NUM_POINTS_68
        with np.load(first, allow_pickle=False) as data:
            return int(data["points"].shape[1])
    except Exception:  # noqa: BLE001 (best effort: an unreadable manifest only means "unknown")
        return None


def expected_points(dm: LandmarkDataModule) -> int | None:
    """Landmarks per frame the checkpoint was trained on: 68 for the tracker CSV readers, else from the
    training manifest's first file when it is readable here, else None (unknown)."""
    if dm.file_format in CSV_FORMATS:
        return NUM_POINTS_68
    return _manifest_points(dm.manifest_path)


@dataclass
class LoadedLandmarkModel:
    """A landmark model ready for inference, with its DataModule's evaluation settings."""

    model: torch.nn.Module
    class_names: list[str]
    threshold: float
    binary: bool
    datamodule: LandmarkDataModule
    device: torch.device
    expected_points: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def span(self) -> int:
        """Frames (of the valid-frame sequence) one window covers."""
        return window_span(self.datamodule.frames_per_sample, self.datamodule.frame_step)


def _datamodule_state(checkpoint: dict[str, Any], dm: LandmarkDataModule) -> dict[str, Any]:
    """What Lightning saved from ``datamodule.state_dict()`` (under the DataModule's class name), if anything."""
    for name in {type(dm).__qualname__, "LandmarkDataModule"}:
        value = checkpoint.get(name)
        if isinstance(value, dict) and value:
            return value
    return {}


def load_landmark_model(ckpt: str | Path | CheckpointFile, device: str = "cpu") -> LoadedLandmarkModel:
    """Load a checkpoint trained on a ``LandmarkDataModule`` with the DataModule's evaluation settings (one safe read)."""
    checkpoint = read_checkpoint(ckpt)
    path, hparams, dm_hparams = checkpoint.path, checkpoint.hparams, checkpoint.dm_hparams
    if not is_landmark_datamodule(dm_hparams):
        raise PredictError(f"{path} was not trained on a LandmarkDataModule "
                           f"({dm_hparams.get('_class_path') or 'no DataModule settings saved'})")
    dm = datamodule_from(dm_hparams, path)
    state = _datamodule_state(checkpoint.data, dm)
    if state:
        raise PredictError(f"{path} carries fitted DataModule state ({sorted(state)}) that predict.py does not know how "
                           "to apply to new data; refusing rather than predicting without it")
    model = build_module(checkpoint.data, path, "lightning_modules.CNNLSTMClassifier", PredictError)
    in_channels = getattr(model, "in_channels", 3)
    if in_channels != dm.num_channels:
        raise PredictError(f"the model expects {in_channels} input channels; landmark pseudo-images have {dm.num_channels}")
    torch_device = pick_device(device)
    model.eval().to(torch_device)
    names = [str(c) for c in (getattr(model, "class_names", None) or dm.class_names or ["0", "1"])]
    binary = len(names) == 2
    threshold = float(getattr(model, "decision_threshold", torch.tensor(0.5))) if binary else 0.5
    points = expected_points(dm)
    notes = [] if points is not None else [
        f"cannot tell how many landmarks per frame {path.name} was trained on (file_format {dm.file_format!r}, training "
        f"manifest not readable here): make sure the source has the same landmark set"]
    return LoadedLandmarkModel(model, names, threshold, binary, dm, torch_device, points, notes)


# ---- sources ----------------------------------------------------------------------------------
def read_landmarks(path: str | Path, loaded: LoadedLandmarkModel) -> LandmarkSequence:
    """A landmark file read as the checkpoint's DataModule reads it (its ``file_format`` when that names a CSV
    reader and the file is a CSV, else by sniffing; its ``min_confidence``)."""
    dm = loaded.datamodule
    is_npz = Path(path).suffix.lower() == ".npz"
    fmt = dm.file_format if dm.file_format != "auto" and (dm.file_format == "npz") == is_npz else "auto"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            seq = read_landmark_file(path, fmt=fmt, min_confidence=dm.min_confidence)
    except DataFormatError as exc:
        raise PredictError(f"cannot read landmark file {path}: {exc}") from exc
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return seq


def check_points(loaded: LoadedLandmarkModel, num_points: int, source: str) -> None:
    """Refuse a source whose landmark set differs from the one the checkpoint was trained on."""
    if loaded.expected_points is not None and num_points != loaded.expected_points:
        hint = (" (video extraction gives MediaPipe's 468- or 478-point mesh; give a 68-point landmark file such as "
                "an OpenFace CSV instead)" if num_points in (MESH_POINTS, ATTENTION_POINTS) else "")
        raise PredictError(f"the checkpoint was trained on {loaded.expected_points}-point landmarks "
                           f"(file_format {loaded.datamodule.file_format!r}); {source} has {num_points} points{hint}")


def mesh_model_for(expected_points: int | None) -> str:
    """The extractor model whose points a checkpoint expects: ``mesh`` for 468, else ``attention`` (the default).

    >>> mesh_model_for(468), mesh_model_for(478), mesh_model_for(None)
    ('mesh', 'attention', 'attention')
    """
    return "mesh" if expected_points == MESH_POINTS else "attention"


def extract_from_video(video: str | Path, out: Path | None, min_face_score: float = EXTRACT_MIN_FACE_SCORE,
                       stride: int = 1, progress: bool = False, model: str = "attention") -> LandmarkSequence:
    """Face mesh of the video as ``scripts/extract_landmarks.py --model MODEL`` computes it; saved as
    ``out/<stem>.npz`` and read back through the ``.npz`` reader (the form a training manifest holds)."""
    from datamodules.io.landmarks import load_landmarks, save_landmarks
    from datamodules.preprocessing.extract import NoFaceWarning, VideoReadError, extract_video
    from datamodules.preprocessing.face_models import FaceModelError
    from datamodules.preprocessing.mesh_tracker import build_tracker

    try:
        tracker = build_tracker(model=model, num_threads=1, min_score=min_face_score)
    except FaceModelError as exc:
        raise PredictError(str(exc)) from exc
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NoFaceWarning)
            seq = extract_video(video, tracker, stride=stride, progress=progress)
    except VideoReadError as exc:
        raise PredictError(str(exc)) from exc
    for warning in caught:
        if issubclass(warning.category, NoFaceWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    if out is None:
        return seq
    target = save_landmarks(seq, out / f"{Path(video).stem}.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no valid landmark frame": already reported above
        return load_landmarks(target)


# ---- windows and scores -----------------------------------------------------------------------
def window_dataset(seq: LandmarkSequence, dm: LandmarkDataModule) -> WindowDataset:
    """The evaluation windows of one sequence, as ``LandmarkDataModule.setup`` builds the val/test datasets.

    The valid frames are normalised (``_load_points``), windows of ``frames_per_sample`` every
    ``eval_stride`` with ``frame_step`` are rendered by :func:`~datamodules.landmarks.render_window`.
    Empty when the sequence has no valid frame (the DataModule skips such files).
    """
    from datamodules.preprocessing.normalize import normalize_sequence

    if seq.num_valid:
        seq = normalize_sequence(seq, **dm.normalization)
    points = seq.points[seq.valid].astype(np.float32)
    render = partial(render_window, mode=dm.mode, image_size=dm.image_size)
    sequences = [points] if len(points) else []
    return WindowDataset(sequences, [0] * len(sequences), [0] * len(sequences), [0] * len(sequences),
                         window=dm.frames_per_sample, stride=dm.eval_stride, frame_step=dm.frame_step, transform=render)


@torch.no_grad()
def score_windows(loaded: LoadedLandmarkModel, dataset: WindowDataset, batch_size: int = 16) -> np.ndarray:
    """Class probabilities ``(windows, classes)`` (float64), rendering ``batch_size`` windows at a time."""
    probs = []
    for start in range(0, len(dataset), batch_size):
        batch = [dataset[i]["x"] for i in range(start, min(start + batch_size, len(dataset)))]
        logits = loaded.model(torch.stack(batch).to(loaded.device))
        probs.append(loaded.model.loss_fn.probabilities(logits.float()).cpu().double().numpy())
    return np.concatenate(probs) if probs else np.zeros((0, len(loaded.class_names)))


def frame_probabilities(window_probs: np.ndarray, starts: np.ndarray, span: int, valid: np.ndarray) -> np.ndarray:
    """``(frames, classes)``: mean probabilities of the windows covering each frame; NaN rows elsewhere.

    Windows index the valid frames only: window ``w`` covers valid frames ``starts[w] .. starts[w] + span - 1``
    (cut at the last one); row ``i`` of the result belongs to the ``i``-th frame of the whole sequence.

    Example:
        >>> p = np.array([[0.8, 0.2], [0.4, 0.6]])
        >>> frame_probabilities(p, np.array([0, 1]), 2, np.array([True, False, True, True]))[:, 1].tolist()
        [0.2, nan, 0.4, 0.6]
    """
    valid = np.asarray(valid, dtype=bool)
    n_valid, classes = int(valid.sum()), window_probs.shape[1] if window_probs.ndim == 2 else 1
    out = np.full((len(valid), classes), np.nan)
    if n_valid == 0 or len(window_probs) == 0:
        return out
    sums = np.zeros((n_valid, classes))
    counts = np.zeros(n_valid, dtype=np.int64)
    for start, probs in zip(np.asarray(starts, dtype=np.int64), window_probs):
        lo = min(max(int(start), 0), n_valid)
        sums[lo:lo + span] += probs
        counts[lo:lo + span] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        covered = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], np.nan)
    out[np.flatnonzero(valid)] = covered
    return out


@dataclass
class LandmarkPrediction:
    """Per-frame rows and the video-level result of one landmark sequence."""

    rows: list[Row]
    window_probs: np.ndarray
    window_starts: np.ndarray
    video_probs: np.ndarray
    score: float
    predicted_class: int | None
    class_name: str
    num_points: int


def _decide(loaded: LoadedLandmarkModel, probs: np.ndarray) -> tuple[float, int | None]:
    """(score, class index) of one probability vector; (NaN, None) when it is NaN."""
    if np.isnan(probs).any():
        return math.nan, None
    if loaded.binary:
        return float(probs[1]), int(probs[1] >= loaded.threshold)
    return float(probs.max()), int(probs.argmax())


def predict_sequence(loaded: LoadedLandmarkModel, seq: LandmarkSequence, smooth: int = 15, batch_size: int = 16,
                     source: str | None = None) -> LandmarkPrediction:
    """Score every evaluation window of ``seq``, map the scores back to frames, smooth, decide the video."""
    dataset = window_dataset(seq, loaded.datamodule)
    probs = score_windows(loaded, dataset, batch_size)
    starts = dataset.index[:, 1].astype(np.int64)
    per_frame = frame_probabilities(probs, starts, loaded.span, seq.valid)
    rows = []
    for i in range(seq.num_frames):
        score, cls = _decide(loaded, per_frame[i])
        stamp = float(seq.timestamp[i])
        rows.append(Row(source or seq.source, int(seq.frame[i]), stamp if math.isfinite(stamp) else None,
                        bool(seq.valid[i]), score, math.nan, loaded.class_names[cls] if cls is not None else ""))
    for row, value in zip(rows, smooth_scores([r.score for r in rows], smooth, centered=True)):
        row.smoothed_score = float(value)
    video = probs.mean(axis=0) if len(probs) else np.full(len(loaded.class_names), np.nan)
    score, cls = _decide(loaded, video)
    return LandmarkPrediction(rows, probs, starts, video, score, cls,
                              loaded.class_names[cls] if cls is not None else "", seq.num_points)


# ---- command line -----------------------------------------------------------------------------
def _source_kind(source: str) -> str:
    """``webcam``, ``folder``, ``image``, ``landmarks`` or ``video``."""
    path = Path(source)
    if source.isdigit() and not path.exists():
        return "webcam"
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return "landmarks" if suffix in LANDMARK_FILE_SUFFIXES else "video"


def refuse_source(kind: str, source: str, dm_class: str) -> None:
    """PredictError for sources a landmark checkpoint cannot use (webcam, images, folders)."""
    what = f"this checkpoint was trained on face landmarks ({dm_class})"
    if kind == "webcam":
        raise PredictError(f"{what}: it scores windows of whole clips, normalised per video, so a live webcam ({source}) "
                           "is not supported; record a video and pass the file")
    if kind in {"image", "folder"}:
        raise PredictError(f"{what}: it needs a video file or a landmark file (.npz from scripts/extract_landmarks.py, "
                           f"or an OpenFace landmark CSV), not {'a folder' if kind == 'folder' else 'an image'} ({source})")


def check_video_readable(video: str) -> None:
    """PredictError naming ``video`` when OpenCV cannot open it or decode its first frame."""
    capture = open_capture(video)
    try:
        if not capture.read()[0]:
            raise PredictError(f"cannot decode any frame of video {video} (corrupt, truncated or unsupported codec)")
    finally:
        capture.release()


def run(args: argparse.Namespace, checkpoint: CheckpointFile | None = None) -> int:
    """``scripts/predict.py`` for a landmark checkpoint (``checkpoint``: already read; else ``args.ckpt`` is read):
    predict, write outputs, print the video score."""
    source = args.source
    kind = _source_kind(source)
    refuse_source(kind, source, "datamodules.LandmarkDataModule")
    if not Path(source).exists():
        raise PredictError(f"source {source} not found")
    loaded = load_landmark_model(checkpoint or args.ckpt, args.device)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    ignored = [flag for flag, used in (("--margin", args.margin is not None), ("--headless", args.headless)) if used]
    if kind == "landmarks" and args.stride != 1:
        ignored.append("--stride (it applies to the frames of a video)")
    if ignored:
        print(f"note: {', '.join(ignored)} not used with a landmark checkpoint", file=sys.stderr)
    out = Path(args.out) if args.out else default_out(source)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PredictError(f"cannot create output folder {out}: {exc}") from exc
    start = time.perf_counter()
    if kind == "video":
        check_video_readable(source)  # a corrupt file is reported as such, not as a landmark-set mismatch
        model = mesh_model_for(loaded.expected_points)
        check_points(loaded, MESH_POINTS if model == "mesh" else ATTENTION_POINTS, source)  # before the extraction
        min_score = EXTRACT_MIN_FACE_SCORE if args.min_face_score is None else args.min_face_score
        seq = extract_from_video(source, out, min_score, args.stride, progress=sys.stderr.isatty(), model=model)
    else:
        seq = read_landmarks(source, loaded)
    check_points(loaded, seq.num_points, source)
    if args.max_frames is not None and seq.num_frames > args.max_frames:
        keep = slice(0, args.max_frames)
        seq = replace(seq, points=seq.points[keep], valid=seq.valid[keep], frame=seq.frame[keep],
                      timestamp=seq.timestamp[keep])
    result = predict_sequence(loaded, seq, args.smooth, args.batch_size, source)
    elapsed = time.perf_counter() - start
    write_csv(result.rows, out / "predictions.csv")
    plot_timeline(result.rows, out / "timeline.png", loaded.threshold if loaded.binary else None,
                  title=f"{Path(source).name} (video score {result.score:.2f})" if len(result.window_probs) else
                  Path(source).name)
    print_summary(result, loaded, source, out, kind, elapsed)
    if getattr(args, "explain", False):
        explain_video(loaded, seq, out, args.batch_size, source)
    return 0


def explain_video(loaded: LoadedLandmarkModel, seq: LandmarkSequence, out: Path, batch_size: int = 16,
                  source: str = "") -> list[Path]:
    """``--explain``: region occlusion of the video's evaluation windows into ``<out>/explanations/``
    (:func:`facedep.inference.explain_predict.explain_landmark_windows`); a one-line note when there is nothing to
    explain (no window, a landmark set without face regions). Returns the files written."""
    from facedep.inference.explain_predict import announce, explain_landmark_windows

    return announce(lambda: explain_landmark_windows(window_dataset(seq, loaded.datamodule),
                                                     lambda windows: score_windows(loaded, windows, batch_size),
                                                     loaded.class_names, loaded.binary, out, source))


def print_summary(result: LandmarkPrediction, loaded: LoadedLandmarkModel, source: str, out: Path, kind: str,
                  elapsed: float) -> None:
    """Frames, windows, files written, the video score and decision."""
    rows, dm = result.rows, loaded.datamodule
    faces = sum(r.face_found for r in rows)
    if rows and faces == 0:
        print(f"warning: no face found in any of {len(rows)} frames (no usable landmarks): no window to score, "
              "scores are empty", file=sys.stderr)
    written = [out / "predictions.csv", out / "timeline.png"] + ([out / f"{Path(source).stem}.npz"] if kind == "video" else [])
    print(f"{len(rows)} frames, landmarks in {faces}, {len(result.window_probs)} windows of {dm.frames_per_sample} frames "
          f"(frame_step {dm.frame_step}, every {dm.eval_stride} frames, mode {dm.mode}); wrote "
          f"{', '.join(str(p) for p in written)}")
    if len(result.window_probs) == 0:
        print("video score: none (no frame with usable landmarks)")
    elif loaded.binary:
        side = ">=" if result.score >= loaded.threshold else "<"
        print(f"video score {result.score:.3f} (mean P({loaded.class_names[1]}) of {len(result.window_probs)} windows) "
              f"{side} threshold {loaded.threshold:.3f}: {result.class_name}")
    else:
        print(f"video score {result.score:.3f} (top mean class probability over {len(result.window_probs)} windows): "
              f"{result.class_name}")
    fps = len(rows) / elapsed if elapsed > 0 else float("inf")
    print(f"fps: {fps:.1f} ({len(rows)} frames in {elapsed:.2f} s, device {loaded.device})")
