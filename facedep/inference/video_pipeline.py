"""Videos -> AUs -> depression in one command: the AU bridge, then an AU-sequence classifier checkpoint.

``python scripts/video_to_depression.py --au-detector det.ckpt --classifier seq.ckpt clip.mp4 [...] --out out/``
``python scripts/video_to_depression.py --backend mesh --classifier seq.ckpt clip.mp4 [...] --out out/``

1. ``--backend detector`` (default): :mod:`facedep.inference.au_bridge` writes ``out/<stem>.aus.csv``
   (OpenFace layout) per video. ``--backend mesh`` (AU estimates from face-mesh geometry, no
   ``--au-detector``) or ``openface`` (your ``FeatureExtraction``) write it through the code of
   ``scripts/extract_aus.py`` (:func:`facedep.inference.extract_aus.extract_videos`), with its
   ``out/extraction_report.csv``; a video it skips (unreadable, no face) gets a row with ``error``.
2. Each CSV goes through the classifier exactly as its ``AUSequenceDataModule`` fed it: the same
   reader (``file_format``), its ``channels``, frames with ``success == 0`` or ``confidence <
   min_confidence`` (or a NaN channel) dropped, the scaler fitted on the training subjects (saved
   in the checkpoint's DataModule state), windows of ``window`` frames every ``eval_stride``.
3. Window probabilities are averaged per video (as ``lightning_modules/aggregation.py`` does); binary
   tasks decide with the model's ``decision_threshold`` (tuned on validation when it was asked to),
   others by the largest mean probability.

Writes ``out/predictions.csv`` (``video, frames, frames_used, windows, score, predicted_class,
class_name, p_<class>...``; ``score`` is P(positive class) for binary tasks, else the top mean
probability) and prints it. A classifier that needs a channel the detector cannot write (e.g.
``AU05_c``, or any ``_r`` it was trained on that has no detector AU) is refused before any video is
read, naming the missing channels. Note: with ``--faces detect`` the confidence is the BlazeFace
score (often 0.75-0.95), so a classifier's ``min_confidence`` of 0.8 drops some frames: they are
counted in ``frames_used``.

Example:
    >>> table = video_to_depression("det.ckpt", "seq.ckpt", ["clip.mp4"], "out", faces="whole")  # doctest: +SKIP
    >>> table[["video", "windows", "score", "class_name"]]  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from datamodules.au_channels import resolve_channels
from datamodules.au_loading import load_au_table, valid_frames
from datamodules.cache import ArrayCache
from datamodules.io.au_table import DataFormatError
from datamodules.preprocessing.face_models import FaceModelError
from datamodules.standardize import ChannelScaler
from datamodules.window_dataset import WindowDataset
from facedep.inference.au_bridge import (DEFAULT_MIN_FACE_SCORE, BridgeError, FaceMode, LoadedDetector, add_bridge_arguments,
                               bridge_videos, load_au_detector)
from facedep.inference.checkpoints import build_module
from facedep.inference.common import CheckpointFile, PredictError, pick_device, read_checkpoint
from facedep.inference.extract_aus import add_backend_arguments, make_backend, min_face_score


@dataclass
class LoadedClassifier:
    """An AU-sequence classifier and the DataModule settings it was trained with."""

    model: torch.nn.Module
    class_names: list[str]
    threshold: float
    binary: bool
    channels: list[str]
    window: int
    eval_stride: int
    min_confidence: float
    file_format: str
    scaler: ChannelScaler
    device: torch.device


def _datamodule_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The DataModule's ``state_dict`` that Lightning stores under its class name (``{"scaler", "channels"}``)."""
    for key, value in checkpoint.items():
        if isinstance(value, dict) and "scaler" in value and "channels" in value:
            return value
    return {}


def load_sequence_classifier(ckpt: str | Path | CheckpointFile, device: str = "cpu") -> LoadedClassifier:
    """Load a checkpoint trained on ``AUSequenceDataModule`` windows, with its scaler and settings (one safe read).

    Example:
        >>> clf = load_sequence_classifier("runs/bridge-demo/fold0/checkpoints/last.ckpt")  # doctest: +SKIP
        >>> clf.channels[:2], clf.window  # doctest: +SKIP
        (['AU01_c', 'AU02_c'], 64)
    """
    checkpoint = read_checkpoint(ckpt, "classifier checkpoint", BridgeError)
    path, dm = checkpoint.path, checkpoint.dm_hparams
    dm_class = str(dm.get("_class_path", ""))
    if "channels" not in dm or "window" not in dm or (dm_class and not dm_class.endswith("AUSequenceDataModule")):
        raise BridgeError(f"{path} was not trained on AU sequences ({dm_class or 'no DataModule settings saved'}); "
                          "use a checkpoint from an AUSequenceDataModule config (e.g. configs/au/bridge_demo.yaml)")
    channels = resolve_channels(dm["channels"])
    state = _datamodule_state(checkpoint.data)
    if dm.get("standardize", True):
        if not state.get("scaler"):
            raise BridgeError(f"{path} has no fitted scaler (DataModule state); it cannot standardise new data as "
                              "in training")
        scaler = ChannelScaler.from_state_dict(state["scaler"])
    else:
        scaler = ChannelScaler.identity(len(channels))
    if len(scaler.mean) != len(channels):
        raise BridgeError(f"{path}: the scaler has {len(scaler.mean)} channels, the DataModule {len(channels)}")
    model = build_module(checkpoint.data, path, "lightning_modules.SequenceClassifier", BridgeError)
    torch_device = pick_device(device)
    model.eval().to(torch_device)
    names = [str(c) for c in (getattr(model, "class_names", None) or dm.get("class_names") or ["0", "1"])]
    binary = len(names) == 2
    threshold = float(getattr(model, "decision_threshold", torch.tensor(0.5))) if binary else 0.5
    window = int(dm["window"])
    return LoadedClassifier(model, names, threshold, binary, channels, window, int(dm.get("eval_stride") or window),
                            float(dm.get("min_confidence", 0.8)), str(dm.get("file_format", "auto")), scaler,
                            torch_device)


def check_channels(classifier: LoadedClassifier, detector: LoadedDetector | Sequence[str], what: str = "AU detector") -> None:
    """Raise :class:`BridgeError` naming the classifier channels the AU CSV (detector's, or ``detector`` columns) lacks."""
    columns = list(detector.columns) if isinstance(detector, LoadedDetector) else list(detector)
    missing = [c for c in classifier.channels if c not in set(columns)]
    if missing:
        offered = [c for c in columns if not c.endswith("_p")]
        raise BridgeError(f"the classifier needs channel(s) {missing} that the {what} cannot provide; "
                          f"it writes {offered}. Train the classifier with channels from that list "
                          "(e.g. configs/au/bridge_demo.yaml)")


@torch.no_grad()
def predict_au_csv(classifier: LoadedClassifier, path: str | Path, batch_size: int = 256) -> dict[str, Any]:
    """Video-level prediction of one AU file, as the classifier's DataModule and aggregation would compute it.

    Example:
        >>> predict_au_csv(load_sequence_classifier("seq.ckpt"), "out/clip.aus.csv")["score"]  # doctest: +SKIP
        0.81
    """
    table = load_au_table(str(path), ArrayCache(None), classifier.file_format)  # the DataModule's parse (float16 values)
    values, _, report = valid_frames(table, classifier.channels, classifier.min_confidence)
    row: dict[str, Any] = {"video": Path(path).name, "frames": table.num_frames, "frames_used": int(len(values)),
                           "windows": 0, "score": math.nan, "predicted_class": "", "class_name": ""}
    row.update({f"p_{name}": math.nan for name in classifier.class_names})
    if len(values) == 0:
        return row
    dataset = WindowDataset([classifier.scaler.transform(values)], [0], [0], [0], classifier.window, classifier.eval_stride)
    windows = np.stack([dataset.render(i) for i in range(len(dataset))]).astype(np.float32)
    probs = []
    for start in range(0, len(windows), batch_size):
        x = torch.from_numpy(windows[start:start + batch_size]).to(classifier.device)
        probs.append(classifier.model.loss_fn.probabilities(classifier.model(x).float()).cpu())
    mean = torch.cat(probs).mean(dim=0).numpy()  # the video's mean window probability (aggregate_mean)
    predicted = int(mean[1] >= classifier.threshold) if classifier.binary else int(mean.argmax())
    row.update(windows=len(windows), score=float(mean[1] if classifier.binary else mean.max()),
               predicted_class=predicted, class_name=classifier.class_names[predicted])
    row.update({f"p_{name}": float(p) for name, p in zip(classifier.class_names, mean)})
    return row


def video_to_depression(au_detector: str | Path | LoadedDetector, classifier: str | Path | LoadedClassifier,
                        videos: list[str | Path], out: str | Path, faces: FaceMode = "detect", stride: int = 1,
                        batch_size: int = 32, device: str = "cpu", min_face_score: float = DEFAULT_MIN_FACE_SCORE,
                        margin: float | None = None, backend: Any | None = None) -> pd.DataFrame:
    """AUs of every video to ``out/<stem>.aus.csv``, classify each, write ``out/predictions.csv``; return it.

    ``backend``: None for the AU detector bridge (``au_detector``), or a backend of
    :mod:`facedep.inference.au_backends` (then ``au_detector`` is unused). Failed videos (unreadable)
    get a row with ``error`` and no score; with the bridge, no face -> no usable frame -> no score.
    """
    model = classifier if isinstance(classifier, LoadedClassifier) else load_sequence_classifier(classifier, device)
    out = Path(out)
    if backend is not None:
        from facedep.inference.au_backends import provided_channels
        from facedep.inference.extract_aus import extract_videos

        check_channels(model, provided_channels(backend), f"{backend.name} backend")
        rows = extract_videos(backend, [Path(v) for v in videos], out, stride, progress=False, suffix=".aus.csv")
        summaries = [{"video": r["video"], "csv": r["csv"], "error": r["error"] or None} for r in rows]
    else:
        detector = au_detector if isinstance(au_detector, LoadedDetector) else load_au_detector(au_detector, device, margin)
        check_channels(model, detector)
        summaries = bridge_videos(detector, list(videos), out, faces, stride, batch_size, min_face_score, ".aus.csv")
    rows = []
    for summary in summaries:
        if summary["csv"] is None:
            rows.append({"video": Path(summary["video"]).name, "error": summary["error"]})
            continue
        try:
            row = predict_au_csv(model, summary["csv"])
        except DataFormatError as exc:
            row = {"error": str(exc)}
        rows.append({**row, "video": Path(summary["video"]).name, "aus_csv": summary["csv"]})
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "predictions.csv", index=False, float_format="%.4f")
    return table


def main(argv: list[str] | None = None) -> int:
    """``video_to_depression.py``; exit 2 on a user error (bad checkpoint, channels), 1 if a video failed."""
    parser = argparse.ArgumentParser(prog="video_to_depression.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", help="video files")
    parser.add_argument("--au-detector", default=None,
                        help="AUDetector checkpoint (lightning_modules.AUDetector); needed by --backend detector")
    parser.add_argument("--classifier", required=True, help="AU-sequence classifier checkpoint (AUSequenceDataModule)")
    parser.add_argument("--out", required=True, help="output folder: <stem>.aus.csv per video, predictions.csv")
    add_backend_arguments(parser, default="detector", detector_ckpt=False)
    add_bridge_arguments(parser)
    parser.set_defaults(min_face_score=None)  # per backend: extract_aus.min_face_score
    parser.add_argument("--threads", type=int, default=1, help="mesh backend: CPU threads for the TFLite runtime")
    args = parser.parse_args(argv)
    if args.backend == "detector" and args.au_detector is None:
        print("error: --backend detector (the default) needs --au-detector CKPT; or use --backend mesh", file=sys.stderr)
        return 2
    try:
        backend = None if args.backend == "detector" else make_backend(args)
        table = video_to_depression(args.au_detector, args.classifier, args.videos, args.out, args.faces, args.stride,
                                    args.batch_size, args.device, min_face_score(args), args.margin, backend)
    except (PredictError, ValueError, FaceModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = [c for c in ("video", "frames", "frames_used", "windows", "score", "class_name", "error") if c in table.columns]
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {Path(args.out) / 'predictions.csv'}")
    failed = "error" in table.columns and table["error"].notna().any()
    return 1 if failed else 0
