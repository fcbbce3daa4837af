"""Per-frame depression scores from a trained per-image or landmark checkpoint on images, videos or a webcam.

``python scripts/predict.py --ckpt runs/x/checkpoints/best.ckpt video.mp4 --out out/``

Every frame (or image): the largest BlazeFace face is cropped (box enlarged by ``--margin``),
resized to the checkpoint DataModule's ``image_size``, scaled to [0, 1] and normalised with its
``mean``/``std`` (or ``normalization``); the model's positive-class probability (binary) or the
top class and its probability (multi-class) is the frame's score. Scores are smoothed with a
NaN-aware moving average (centred for files, trailing for a live webcam). Writes
``predictions.csv`` (``source, frame, time_s, face_found, score, smoothed_score,
predicted_class``) and ``timeline.png`` into ``--out``.

Per-image models (e.g. ``ImageCNN``, ``HybridAttentionNet(temporal=False)`` on face images) are
handled here. Landmark checkpoints (``LandmarkDataModule``) go to :mod:`facedep.inference.predict_landmarks`:
a video (face mesh extracted as ``scripts/extract_landmarks.py`` does) or a landmark file (``.npz``,
OpenFace CSV) is windowed exactly as the DataModule evaluates, window scores are mapped back to
frames and the same ``predictions.csv``/``timeline.png`` are written, plus the video-level score
(no webcam: windows need the whole clip). Clip models on face images and AU checkpoints are
refused with a message (AU-sequence classifiers: ``scripts/video_to_depression.py``).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from datamodules.image_crops import crop_box
from datamodules.image_transforms import IMAGENET_MEAN, IMAGENET_STD
from datamodules.image_transforms import resolve_normalization as resolve_image_normalization
from facedep.inference.checkpoints import build_module, import_allowed, load_checkpoint

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DEFAULT_IMAGE_SIZE = 224
DEFAULT_MARGIN = 0.1
DEFAULT_MIN_FACE_SCORE = 0.7
CSV_COLUMNS = ("source", "frame", "time_s", "face_found", "score", "smoothed_score", "predicted_class")
WINDOW_NAME = "facedep predict (q to quit)"


class PredictError(Exception):
    """A user-facing error: printed as ``error: ...`` and exit code 2."""


# ---- smoothing --------------------------------------------------------------------------------
def smooth_scores(scores: Sequence[float] | np.ndarray, window: int, centered: bool = True) -> np.ndarray:
    """NaN-aware moving average: frame ``i`` averages the non-NaN scores of its window.

    Centred windows span ``i - (window - 1) // 2 .. i + window // 2``; trailing windows
    ``i - window + 1 .. i``; both are cut at the ends. NaN where the window holds no score.

    >>> smooth_scores([1.0, float("nan"), 3.0, 5.0], 3).tolist()
    [1.0, 2.0, 4.0, 4.0]
    >>> smooth_scores([1.0, 2.0, 3.0], 2, centered=False).tolist()
    [1.0, 1.5, 2.5]
    """
    values = np.asarray(scores, dtype=np.float64)
    if window <= 1 or values.size == 0:
        return values.copy()
    valid = ~np.isnan(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(valid)])
    index = np.arange(values.size)
    before, after = ((window - 1) // 2, window // 2) if centered else (window - 1, 0)
    lo = np.clip(index - before, 0, values.size)
    hi = np.clip(index + after + 1, 0, values.size)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / np.maximum(n, 1), np.nan)


class TrailingSmoother:
    """Live (causal) version of :func:`smooth_scores` with ``centered=False``."""

    def __init__(self, window: int) -> None:
        self.values: deque[float] = deque(maxlen=max(window, 1))

    def __call__(self, score: float) -> float:
        self.values.append(score)
        kept = [v for v in self.values if not math.isnan(v)]
        return float(np.mean(kept)) if kept else math.nan


# ---- checkpoint -------------------------------------------------------------------------------
@dataclass
class CheckpointFile:
    """A checkpoint read from disk, with its model and DataModule hyper-parameters."""

    path: Path
    data: dict[str, Any]

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self.data.get("hyper_parameters") or {})

    @property
    def dm_hparams(self) -> dict[str, Any]:
        return dict(self.data.get("datamodule_hyper_parameters") or {})


def read_checkpoint(ckpt: str | Path | CheckpointFile, what: str = "checkpoint",
                    error: type[PredictError] = PredictError) -> CheckpointFile:
    """Read ``ckpt`` once, safely (:func:`facedep.inference.checkpoints.load_checkpoint`); an already read one is returned as is.

    A missing, unreadable or unsafe file raises ``error`` naming it.
    """
    if isinstance(ckpt, CheckpointFile):
        return ckpt
    return CheckpointFile(Path(ckpt), load_checkpoint(ckpt, what, error))


@dataclass
class Preprocessing:
    """Face crop and tensor settings taken from the checkpoint's DataModule hyper-parameters."""

    image_size: tuple[int, int] = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    margin: float = DEFAULT_MARGIN


@dataclass
class LoadedModel:
    """A model ready for inference and what predict needs to know about it."""

    model: torch.nn.Module
    class_names: list[str]
    threshold: float
    binary: bool
    preprocessing: Preprocessing
    device: torch.device
    notes: list[str] = field(default_factory=list)


def import_class(path: str, ckpt: str | Path = "checkpoint", base: type | None = None, where: str = "class path") -> type:
    """``"package.module.Class"`` -> the class, only from this project's allow-listed modules
    (:func:`facedep.inference.checkpoints.import_allowed`); PredictError naming ``ckpt`` and ``where`` else."""
    return import_allowed(path, ckpt, where, base, PredictError)


def _net_path(hparams: dict[str, Any]) -> str:
    """The net's class path from hyper-parameters (``class_path`` dict, class or partial)."""
    net = hparams.get("net")
    if isinstance(net, dict):
        return str(net.get("class_path", ""))
    func = getattr(net, "func", net)
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}" if func is not None else ""


def _net_init_args(hparams: dict[str, Any]) -> dict[str, Any]:
    net = hparams.get("net")
    if isinstance(net, dict):
        return dict(net.get("init_args") or {})
    return dict(getattr(net, "keywords", {}) or {})


def check_supported(hparams: dict[str, Any], dm_hparams: dict[str, Any]) -> None:
    """Refuse landmark/AU checkpoints and clip models with a clear message."""
    dm_class = str(dm_hparams.get("_class_path", ""))
    if "Landmark" in dm_class or dm_hparams.get("mode") in {"temporal", "pseudo_image"}:
        raise PredictError(
            f"this checkpoint was trained on face landmarks ({dm_class or 'landmark data'}); load_model takes "
            "per-image models only: use facedep.inference.predict_landmarks (what predict.py's main does for it)")
    if "AU" in dm_class.rsplit(".", 1)[-1]:
        raise PredictError(f"this checkpoint was trained on action units ({dm_class}); predict.py supports face-image "
                           "and landmark checkpoints. For videos use scripts/video_to_depression.py --au-detector "
                           "DETECTOR.ckpt --classifier CLASSIFIER.ckpt video.mp4 --out out/ (AU detectors alone: "
                           "scripts/video_to_aus.py)")
    model_class = str(hparams.get("_class_path", ""))
    net = _net_path(hparams)
    temporal = bool(_net_init_args(hparams).get("temporal", False))
    if net.endswith("CNNLSTM") or (not net and model_class.endswith("CNNLSTMClassifier")) or (
            net.endswith("HybridAttentionNet") and temporal):
        raise PredictError(
            f"this checkpoint's model ({net or model_class}) takes clips (batch, frames, C, H, W); only per-image "
            "models are supported by predict.py for now")


def check_model(model: torch.nn.Module) -> None:
    """After loading: refuse clip nets and non-image nets (by the instantiated net)."""
    from lightning_modules.nets import CNNLSTM, HybridAttentionNet, ImageCNN

    net = getattr(model, "net", None)
    if isinstance(net, CNNLSTM) or (isinstance(net, HybridAttentionNet) and net.temporal):
        raise PredictError(f"this checkpoint's model ({type(net).__name__}) takes clips (batch, frames, C, H, W); "
                           "only per-image models are supported by predict.py for now")
    if net is not None and not isinstance(net, (ImageCNN, HybridAttentionNet)):
        raise PredictError(f"this checkpoint's net ({type(net).__name__}) is not a per-image model; predict.py "
                           "only supports image nets (ImageCNN, HybridAttentionNet)")
    in_channels = getattr(model, "in_channels", 3)
    if in_channels != 3:
        raise PredictError(f"the model expects {in_channels} input channels; predict.py feeds RGB face crops (3)")


def resolve_normalization(dm_hparams: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std as the DataModule used them (``mean``/``std``, else ``normalization``)."""
    try:
        return resolve_image_normalization(dm_hparams.get("normalization", "imagenet"), dm_hparams.get("mean"), dm_hparams.get("std"))
    except ValueError as exc:
        raise PredictError(f"checkpoint normalisation settings: {exc}") from exc


def preprocessing_from(dm_hparams: dict[str, Any], margin: float | None = None) -> Preprocessing:
    """Crop/resize/normalisation settings from DataModule hyper-parameters (defaults where absent)."""
    size = dm_hparams.get("image_size") or DEFAULT_IMAGE_SIZE
    size = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
    mean, std = resolve_normalization(dm_hparams)
    if margin is None:
        margin = float(dm_hparams.get("face_margin", DEFAULT_MARGIN) or 0.0)
    return Preprocessing(size, mean, std, margin)


def pick_device(name: str) -> torch.device:
    """``cpu`` or ``cuda`` (error when CUDA is not available)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise PredictError("--device cuda: CUDA is not available on this machine")
    return torch.device(name)


def load_model(ckpt: str | Path | CheckpointFile, device: str = "cpu", margin: float | None = None) -> LoadedModel:
    """Load a facedep checkpoint (CLI-written or hand-made) for per-image inference; the file is read once, safely."""
    checkpoint = read_checkpoint(ckpt)
    path, hparams, dm_hparams = checkpoint.path, checkpoint.hparams, checkpoint.dm_hparams
    check_supported(hparams, dm_hparams)
    notes = [] if dm_hparams else [f"{path.name} has no DataModule hyper-parameters: image_size "
                                   f"{DEFAULT_IMAGE_SIZE}, ImageNet normalisation"]
    model = build_module(checkpoint.data, path, "lightning_modules.SequenceClassifier", PredictError)
    check_model(model)
    torch_device = pick_device(device)
    model.eval().to(torch_device)
    class_names = list(getattr(model, "class_names", None) or ["0", "1"])
    binary = len(class_names) == 2
    threshold = float(getattr(model, "decision_threshold", torch.tensor(0.5))) if binary else 0.5
    return LoadedModel(model, class_names, threshold, binary, preprocessing_from(dm_hparams, margin), torch_device, notes)


# ---- frames and faces -------------------------------------------------------------------------
@dataclass
class Frame:
    """One decoded frame (``rgb`` None when unreadable) with where it came from."""

    source: str
    index: int
    time_s: float | None
    rgb: np.ndarray | None


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def read_image(path: Path) -> np.ndarray | None:
    """RGB uint8 image, or None when OpenCV cannot decode it."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_frames(paths: Sequence[Path], strict: bool) -> Iterator[Frame]:
    """Frames of image files; ``strict`` raises on an unreadable file, else warns and yields no pixels."""
    for index, path in enumerate(paths):
        rgb = read_image(path)
        if rgb is None:
            if strict:
                raise PredictError(f"cannot read image {path} (missing, corrupt or not an image)")
            print(f"warning: cannot read image {path}; written as a row without a face", file=sys.stderr)
        yield Frame(str(path), index, None, rgb)


def open_capture(source: str | int) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` or a PredictError naming the source."""
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        if isinstance(source, int):
            raise PredictError(f"cannot open webcam {source} (no camera at that index, or no permission)")
        raise PredictError(f"cannot open video {source} (missing, unreadable or unsupported format)")
    return capture


def video_frames(capture: cv2.VideoCapture, source: str, live: bool = False) -> Iterator[Frame]:
    """Frames of an opened capture with their times (fps from the file; wall clock when live)."""
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    start, index = time.perf_counter(), 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            if index == 0 and not live:
                raise PredictError(f"cannot read any frame from video {source}")
            return
        if live:
            seconds: float | None = time.perf_counter() - start
        else:
            seconds = index / fps if fps > 0 else None
        yield Frame(source, index, seconds, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1


def to_tensor(crop: np.ndarray, prep: Preprocessing) -> torch.Tensor:
    """Resize to ``image_size``, scale to [0, 1], normalise; float32 ``(3, H, W)``."""
    height, width = prep.image_size
    shrink = height * width < crop.shape[0] * crop.shape[1]
    resized = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    pixels = resized.astype(np.float32) / 255.0
    pixels = (pixels - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


# ---- inference --------------------------------------------------------------------------------
@dataclass
class Row:
    """One output row; ``score`` NaN without a face."""

    source: str
    frame: int
    time_s: float | None
    face_found: bool
    score: float = math.nan
    smoothed_score: float = math.nan
    predicted_class: str = ""
    box: np.ndarray | None = None


@torch.no_grad()
def score_batch(loaded: LoadedModel, batch: list[torch.Tensor]) -> list[tuple[float, str]]:
    """(score, class name) per crop: P(class 1) and the thresholded class (binary), else top class."""
    probs = loaded.model.loss_fn.probabilities(loaded.model(torch.stack(batch).to(loaded.device))).cpu().numpy()
    if loaded.binary:
        return [(float(p[1]), loaded.class_names[int(p[1] >= loaded.threshold)]) for p in probs]
    return [(float(p.max()), loaded.class_names[int(p.argmax())]) for p in probs]


class FramePredictor:
    """Face detection + per-image model; batches crops and fills the rows' scores."""

    def __init__(self, loaded: LoadedModel, detector: Any, batch_size: int = 16) -> None:
        self.loaded, self.detector, self.batch_size = loaded, detector, batch_size
        self._pending: list[tuple[Row, torch.Tensor]] = []

    def add(self, frame: Frame) -> Row:
        """Detect and crop; the row is scored when its batch is flushed."""
        row = Row(frame.source, frame.index, frame.time_s, False)
        if frame.rgb is None:
            return row
        face = self.detector.largest(frame.rgb)
        crop = crop_box(frame.rgb, face.box, self.loaded.preprocessing.margin) if face is not None else None
        if crop is not None:
            row.face_found, row.box = True, face.box
            self._pending.append((row, to_tensor(crop, self.loaded.preprocessing)))
            if len(self._pending) >= self.batch_size:
                self.flush()
        return row

    def flush(self) -> None:
        """Run the model on the pending crops."""
        if not self._pending:
            return
        rows, tensors = zip(*self._pending)
        for row, (score, name) in zip(rows, score_batch(self.loaded, list(tensors))):
            row.score, row.predicted_class = score, name
        self._pending = []


def make_detector(min_score: float = DEFAULT_MIN_FACE_SCORE) -> Any:
    """The BlazeFace detector (model files fetched/cached on first use)."""
    from datamodules.preprocessing.face_mesh import FaceDetector
    from datamodules.preprocessing.face_models import ensure_face_models

    return FaceDetector(ensure_face_models()["detector"], min_score=min_score)


def predict_frames(frames: Iterator[Frame], predictor: FramePredictor, stride: int = 1,
                   max_frames: int | None = None) -> list[Row]:
    """Rows for every ``stride``-th frame, at most ``max_frames`` of them, all scored."""
    rows: list[Row] = []
    for frame in frames:
        if frame.index % stride:
            continue
        if max_frames is not None and len(rows) >= max_frames:
            break
        rows.append(predictor.add(frame))
    predictor.flush()
    return rows


# ---- live -------------------------------------------------------------------------------------
def gui_available() -> bool:
    """Whether ``cv2.imshow`` can open a window (OpenCV built with a GUI, and a display on Linux)."""
    info = cv2.getBuildInformation()
    gui_lines = [line for line in info.splitlines() if line.strip().startswith("GUI:")]
    if gui_lines and gui_lines[0].split(":", 1)[1].strip().upper() in {"NONE", ""}:
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow(WINDOW_NAME, cv2.WINDOW_NORMAL)
    except cv2.error:
        return False
    return True


def draw_overlay(rgb: np.ndarray, row: Row, smoothed: float, fps: float, loaded: LoadedModel) -> np.ndarray:
    """BGR frame with the face box, smoothed score and fps."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if row.box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in row.box)
        high = loaded.binary and smoothed >= loaded.threshold
        cv2.rectangle(bgr, (x0, y0), (x1, y1), (0, 0, 255) if high else (0, 200, 0), 2)
    text = f"score {smoothed:.2f}" if not math.isnan(smoothed) else "no face"
    cv2.putText(bgr, f"{text}  {fps:.1f} fps", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    return bgr


def predict_live(capture: cv2.VideoCapture, source: str, loaded: LoadedModel, detector: Any, window: int,
                 show: bool, stride: int = 1, max_frames: int | None = None) -> list[Row]:
    """One frame at a time, trailing smoothing; a window unless headless; ``q`` or max_frames stops."""
    predictor = FramePredictor(loaded, detector, batch_size=1)
    smoother = TrailingSmoother(window)
    rows: list[Row] = []
    start = time.perf_counter()
    try:
        for frame in video_frames(capture, source, live=True):
            if frame.index % stride:
                continue
            if max_frames is not None and len(rows) >= max_frames:
                break
            row = predictor.add(frame)
            predictor.flush()
            row.smoothed_score = smoother(row.score)
            rows.append(row)
            if show:
                fps = len(rows) / max(time.perf_counter() - start, 1e-9)
                cv2.imshow(WINDOW_NAME, draw_overlay(frame.rgb, row, row.smoothed_score, fps, loaded))
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
            elif len(rows) % 30 == 0:
                print(f"frame {frame.index}: smoothed score {row.smoothed_score:.3f}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        if show:
            cv2.destroyAllWindows()
    return rows


# ---- outputs ----------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 6) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """``predictions.csv`` with :data:`CSV_COLUMNS`; empty cells for missing values."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([r.source, r.frame, _fmt(r.time_s, 4), int(r.face_found), _fmt(r.score),
                             _fmt(r.smoothed_score), r.predicted_class])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def plot_timeline(rows: Sequence[Row], path: Path, threshold: float | None, title: str = "") -> None:
    """Raw and smoothed scores over time, the decision threshold, no-face frames shaded."""
    from matplotlib.figure import Figure

    has_time = bool(rows) and all(r.time_s is not None for r in rows)
    x = np.array([r.time_s if has_time else r.frame for r in rows], dtype=float)
    raw = np.array([r.score for r in rows], dtype=float)
    smooth = np.array([r.smoothed_score for r in rows], dtype=float)
    fig = Figure(figsize=(10, 3.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(x, raw, ".", ms=3, alpha=0.5, color="tab:blue", label="score")
    ax.plot(x, smooth, "-", lw=2, color="tab:orange", label="smoothed")
    if threshold is not None:
        ax.axhline(threshold, ls="--", color="tab:red", lw=1, label=f"threshold {threshold:.2f}")
    step = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
    for i, (lo, hi) in enumerate(_runs(np.array([not r.face_found for r in rows], dtype=bool))):
        ax.axvspan(x[lo] - step / 2, x[hi - 1] + step / 2, color="0.85", zorder=0, label="no face" if i == 0 else None)
    ax.set(xlabel="time (s)" if has_time else "frame", ylabel="score", ylim=(-0.02, 1.02), title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


# ---- command line -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="predict.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="image file, folder of images, video file, or webcam index (e.g. 0); landmark "
                        "checkpoints: a video or a landmark file (.npz, OpenFace CSV)")
    parser.add_argument("--ckpt", required=True, help="checkpoint of a per-image or a landmark model")
    parser.add_argument("--out", default=None, help="output folder (default: runs/predict/<source name>)")
    parser.add_argument("--smooth", type=int, default=15, help="moving-average window in frames (1: off)")
    parser.add_argument("--stride", type=int, default=1, help="process every n-th frame")
    parser.add_argument("--headless", action="store_true", help="webcam: no window")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many processed frames")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch-size", type=int, default=16, help="face crops (landmarks: windows) per model call")
    parser.add_argument("--margin", type=float, default=None,
                        help="enlarge the face box by this fraction per side (default: the DataModule's "
                             f"face_margin, else {DEFAULT_MARGIN})")
    parser.add_argument("--min-face-score", type=float, default=None,
                        help=f"face detector threshold (default {DEFAULT_MIN_FACE_SCORE}: BlazeFace gives up to ~0.6 to "
                             "non-faces in real videos; landmark checkpoints: 0.5, as scripts/extract_landmarks.py)")
    return parser


def default_out(source: str) -> Path:
    name = f"webcam{source}" if source.isdigit() and not Path(source).exists() else Path(source).stem
    return Path("runs") / "predict" / (name or "source")


def run(args: argparse.Namespace) -> int:
    """Predict, write outputs, print a summary; raises PredictError for user errors."""
    if args.smooth < 1 or args.stride < 1 or args.batch_size < 1:
        raise PredictError("--smooth, --stride and --batch-size must be >= 1")
    from facedep.inference import predict_landmarks

    checkpoint = read_checkpoint(args.ckpt)  # the only read of the file
    if predict_landmarks.is_landmark_datamodule(checkpoint.dm_hparams):
        return predict_landmarks.run(args, checkpoint)
    source = args.source
    webcam = source.isdigit() and not Path(source).exists()
    path = Path(source)
    if not webcam and not path.exists():
        raise PredictError(f"source {source} not found")
    loaded = load_model(checkpoint, args.device, args.margin)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    detector = make_detector(DEFAULT_MIN_FACE_SCORE if args.min_face_score is None else args.min_face_score)
    start = time.perf_counter()
    if webcam:
        show = not args.headless and gui_available()
        if not args.headless and not show:
            print("note: OpenCV has no GUI here (e.g. opencv-python-headless, or no display): running headless",
                  file=sys.stderr)
        capture = open_capture(int(source))
        try:
            rows = predict_live(capture, f"webcam:{source}", loaded, detector, args.smooth, show, args.stride,
                                args.max_frames)
        finally:
            capture.release()
    else:
        if path.is_dir():
            images = list_images(path)
            if not images:
                raise PredictError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            frames = image_frames(images, strict=False)
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            frames = image_frames([path], strict=True)
        else:
            capture = open_capture(str(path))
            frames = video_frames(capture, str(path))
        predictor = FramePredictor(loaded, detector, args.batch_size)
        rows = predict_frames(frames, predictor, args.stride, args.max_frames)
        smoothed = smooth_scores([r.score for r in rows], args.smooth, centered=True)
        for row, value in zip(rows, smoothed):
            row.smoothed_score = float(value)
    elapsed = time.perf_counter() - start
    return finish(rows, args, loaded, source, elapsed)


def finish(rows: list[Row], args: argparse.Namespace, loaded: LoadedModel, source: str, elapsed: float) -> int:
    """Write CSV + plot and print the summary (faces found, mean score, fps)."""
    out = Path(args.out) if args.out else default_out(source)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PredictError(f"cannot create output folder {out}: {exc}") from exc
    write_csv(rows, out / "predictions.csv")
    plot_timeline(rows, out / "timeline.png", loaded.threshold if loaded.binary else None, title=Path(source).name)
    faces = sum(r.face_found for r in rows)
    if rows and faces == 0:
        print(f"warning: no face found in any of {len(rows)} frames", file=sys.stderr)
    scores = np.array([r.score for r in rows if r.face_found], dtype=float)
    summary = f"mean score {scores.mean():.3f}" if scores.size else "no scores"
    fps = len(rows) / elapsed if elapsed > 0 else float("inf")
    print(f"{len(rows)} frames, face in {faces}, {summary}; wrote {out / 'predictions.csv'} and {out / 'timeline.png'}")
    print(f"fps: {fps:.1f} ({len(rows)} frames in {elapsed:.2f} s, device {loaded.device})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 on a user error)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except PredictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
