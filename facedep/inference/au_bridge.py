"""The bridge: a trained AU detector over a video's frames -> an OpenFace-like AU CSV.

``python scripts/video_to_aus.py --ckpt det.ckpt video.mp4 [...] --out aus/ [--faces detect|whole]``

Every frame (or every ``--stride``-th) is cropped (``detect``: the largest BlazeFace face, box
enlarged by the detector DataModule's ``face_margin``; ``whole``: the whole frame, for videos that
are already face crops or aligned faces, and for the drawn demo faces the detector was trained on
uncropped), resized and normalised exactly as the detector's ``AUDetectionDataModule`` did
(``image_size``, ``normalization``/``mean``/``std`` from the checkpoint), and run in batches.

One row per processed frame, in OpenFace 2.x layout, so every AU reader here takes it as it is:
``frame`` (1-based, as OpenFace), ``face_id`` (0), ``timestamp`` (s), ``confidence`` (the BlazeFace
score; 1.0 for ``whole``), ``success`` (0 when no face was found: its AU cells are empty), then
``AUxx_r``, ``AUxx_c`` and ``AUxx_p`` (probability; ignored by the OpenFace reader):

* names: HRM names go to OpenFace names with ``HRM_TO_OPENFACE`` (AU1 -> AU01, ...), plus
  AU2X -> AU26 (HRM's jaw drop, 26/27) and AU43 -> AU45 (eyes closed; OpenFace's AU45 is a blink,
  i.e. eyes closed too). AUs with no OpenFace counterpart (AU8, AD19, ...) are left out (noted);
* ``_c`` = probability >= the detector's per-AU (validation-tuned) threshold;
* ``_r`` = the intensity head (0-5) when the checkpoint has one, else ``5 x probability`` (a
  pseudo-intensity: monotone in the evidence, not calibrated to FACS intensities). AU28 has ``_c``
  only, as in OpenFace.

Example:
    >>> det = load_au_detector("runs/au-detector/checkpoints/last.ckpt")  # doctest: +SKIP
    >>> table = video_to_au_table(det, "clip.mp4", faces="whole")  # doctest: +SKIP
    >>> write_au_csv(table, "aus/clip.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd
import torch

from datamodules.image_crops import crop_box
from datamodules.io.au_table import INTENSITY_AUS, PRESENCE_AUS
from datamodules.io.hrm import HRM_TO_OPENFACE
from facedep.inference.checkpoints import build_module
from facedep.inference.common import CheckpointFile, PredictError, import_class, pick_device, read_checkpoint
from facedep.inference.faces import DEFAULT_MIN_FACE_SCORE, make_detector, to_tensor
from facedep.inference.frames import open_capture, video_frames
from facedep.inference.image_model import Preprocessing, preprocessing_from

#: HRM AUs with no exact OpenFace name that we still map (documented above).
EXTRA_TO_OPENFACE: dict[str, str] = {"AU2X": "AU26", "AU43": "AU45"}
FaceMode = Literal["detect", "whole"]
FACE_MODES: tuple[str, ...] = ("detect", "whole")
META = ("frame", "face_id", "timestamp", "confidence", "success")


class BridgeError(PredictError):
    """A user-facing error of the bridge (bad checkpoint, unreadable video)."""


def openface_name(name: str) -> str | None:
    """OpenFace AU name of a detector class name (HRM or OpenFace spelling), ``None`` if it has none.

    >>> [openface_name(n) for n in ("AU1", "AU2X", "AU43", "AU01", "AD19")]
    ['AU01', 'AU26', 'AU45', 'AU01', None]
    """
    if name in PRESENCE_AUS:
        return name
    return HRM_TO_OPENFACE.get(name) or EXTRA_TO_OPENFACE.get(name)


@dataclass
class LoadedDetector:
    """An AUDetector ready for inference, its preprocessing and its OpenFace names."""

    model: torch.nn.Module
    class_names: list[str]
    openface: list[str | None]
    intensity: bool
    preprocessing: Preprocessing
    device: torch.device
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[tuple[int, str]]:
        """(output index, OpenFace name) of the AUs written, in OpenFace order, each name once."""
        first: dict[str, int] = {}
        for k, name in enumerate(self.openface):
            if name is not None:
                first.setdefault(name, k)
        return sorted(((k, n) for n, k in first.items()), key=lambda kn: PRESENCE_AUS.index(kn[1]))

    @property
    def columns(self) -> list[str]:
        """AU columns of the CSV: ``_r`` (intensity AUs), then ``_c``, then ``_p``."""
        names = [n for _, n in self.kept]
        return ([f"{n}_r" for n in names if n in INTENSITY_AUS] + [f"{n}_c" for n in names]
                + [f"{n}_p" for n in names])


def load_au_detector(ckpt: str | Path | CheckpointFile, device: str = "cpu", margin: float | None = None) -> LoadedDetector:
    """Load an ``AUDetector`` checkpoint with the crop/resize/normalisation of its DataModule (one safe read).

    Example:
        >>> det = load_au_detector("det.ckpt")  # doctest: +SKIP
        >>> det.columns[:2]  # doctest: +SKIP
        ['AU01_r', 'AU02_r']
    """
    checkpoint = read_checkpoint(ckpt, "AU detector checkpoint", BridgeError)
    path, hparams, dm_hparams = checkpoint.path, checkpoint.hparams, checkpoint.dm_hparams
    class_path = str(hparams.get("_class_path", "lightning_modules.AUDetector"))
    cls = import_class(class_path, path, where="hyper_parameters._class_path")
    if "thresholds" not in checkpoint.data.get("state_dict", {}) or not hasattr(cls, "au_presence_table"):
        raise BridgeError(f"{path} is not an AU detector checkpoint ({class_path}); train one with "
                          "configs/au/detector_demo.yaml (lightning_modules.AUDetector)")
    model = build_module(checkpoint.data, path, "lightning_modules.AUDetector", BridgeError)
    torch_device = pick_device(device)
    model.eval().to(torch_device)
    names = list(model.class_names)
    openface = [openface_name(n) for n in names]
    notes = [] if dm_hparams else [f"{path.name} has no DataModule hyper-parameters: 224 px, ImageNet normalisation"]
    dropped = [n for n, o in zip(names, openface) if o is None]
    if dropped:
        notes.append(f"AU(s) {dropped} have no OpenFace name and are left out of the CSV")
    loaded = LoadedDetector(model, names, openface, "intensity" in model.heads,
                            preprocessing_from(dm_hparams, margin), torch_device, notes)
    kept = {k for k, _ in loaded.kept}
    twice = [n for k, (n, o) in enumerate(zip(names, openface)) if o is not None and k not in kept]
    if twice:
        notes.append(f"AU(s) {twice} map to an OpenFace name already given by another output: left out")
    if not loaded.kept:
        raise BridgeError(f"{path}: none of the detector's AUs {names} has an OpenFace name")
    return loaded


# ---- inference ----------------------------------------------------------------------------------
@torch.no_grad()
def _infer(loaded: LoadedDetector, batch: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities ``(B, K)`` and intensities ``(B, K)`` (0-5) or None."""
    out = loaded.model(torch.stack(batch).to(loaded.device))
    probs = torch.sigmoid(out["logits"].float()).cpu()
    intensity = out["intensity"].float().clamp(0, 5).cpu() if "intensity" in out else None
    return probs.numpy(), None if intensity is None else intensity.numpy()


def _au_block(loaded: LoadedDetector, probs: np.ndarray, intensity: np.ndarray | None) -> pd.DataFrame:
    """The AU columns for frames with a face, from the model's own presence table (``_c`` by its thresholds)."""
    table = loaded.model.au_presence_table(torch.from_numpy(probs), None if intensity is None else torch.from_numpy(intensity))
    out: dict[str, Any] = {}
    for k, name in loaded.kept:
        source = loaded.class_names[k]
        if name in INTENSITY_AUS:
            out[f"{name}_r"] = table[f"{source}_r"].to_numpy() if intensity is not None else 5.0 * table[f"{source}_p"].to_numpy()
    for k, name in loaded.kept:
        out[f"{name}_c"] = table[f"{loaded.class_names[k]}_c"].to_numpy()
    for k, name in loaded.kept:
        out[f"{name}_p"] = table[f"{loaded.class_names[k]}_p"].to_numpy()
    return pd.DataFrame(out)


def _empty_video_rows(capture: cv2.VideoCapture, source: str) -> int:
    """Frames a video claims to have when none can be decoded; BridgeError when it does not say."""
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if count <= 0:
        raise BridgeError(f"cannot read any frame from video {source}")
    print(f"warning: no frame of {source} could be decoded: {count} rows with success=0", file=sys.stderr)
    return count


def video_to_au_table(loaded: LoadedDetector, video: str | Path, faces: FaceMode = "detect", stride: int = 1,
                      batch_size: int = 32, face_detector: Any | None = None,
                      min_face_score: float = DEFAULT_MIN_FACE_SCORE, max_frames: int | None = None) -> pd.DataFrame:
    """One OpenFace-like row per processed frame (see the module doc); ``attrs["summary"]`` has the counts.

    Example:
        >>> t = video_to_au_table(load_au_detector("det.ckpt"), "clip.mp4", faces="whole")  # doctest: +SKIP
        >>> t.attrs["summary"]["faces"]  # doctest: +SKIP
        180
    """
    if faces not in FACE_MODES:
        raise BridgeError(f"faces must be one of {FACE_MODES}, got {faces!r}")
    if stride < 1 or batch_size < 1:
        raise BridgeError("stride and batch_size must be >= 1")
    if faces == "detect" and face_detector is None:
        face_detector = make_detector(min_face_score)
    started = time.perf_counter()
    capture = open_capture(str(video))
    meta: list[tuple[int, float, float, int]] = []  # frame index, time, confidence, success
    tensors: list[torch.Tensor] = []
    blocks: list[tuple[np.ndarray, np.ndarray | None]] = []
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    try:
        for frame in video_frames(capture, str(video)):
            if frame.index % stride:
                continue
            if max_frames is not None and len(meta) >= max_frames:
                break
            seconds = math.nan if frame.time_s is None else frame.time_s
            crop, score = frame.rgb, 1.0
            if faces == "detect":
                face = face_detector.largest(frame.rgb)
                crop = None if face is None else crop_box(frame.rgb, face.box, loaded.preprocessing.margin)
                score = 0.0 if crop is None else float(face.score)
            meta.append((frame.index, seconds, score, int(crop is not None)))
            if crop is not None:
                tensors.append(to_tensor(crop, loaded.preprocessing))
                if len(tensors) >= batch_size:
                    blocks.append(_infer(loaded, tensors))
                    tensors = []
    except PredictError:  # no frame at all
        count = _empty_video_rows(capture, str(video))
        meta = [(i, i / fps if fps > 0 else math.nan, 0.0, 0) for i in range(0, count, stride)][:max_frames]
    finally:
        capture.release()
    if tensors:
        blocks.append(_infer(loaded, tensors))
    table = pd.DataFrame(meta, columns=["index", "timestamp", "confidence", "success"])
    table.insert(0, "frame", table.pop("index") + 1)
    table.insert(1, "face_id", 0)
    found = table["success"].to_numpy() == 1
    au = pd.DataFrame(np.nan, index=table.index, columns=loaded.columns)
    if blocks:
        probs = np.concatenate([b[0] for b in blocks])
        intensity = np.concatenate([b[1] for b in blocks]) if blocks[0][1] is not None else None
        au.loc[found, :] = _au_block(loaded, probs, intensity).to_numpy()
    table = pd.concat([table, au], axis=1)
    for column in (c for c in table.columns if c.endswith("_c")):
        table[column] = pd.array(np.where(found, table[column].fillna(0), np.nan), dtype="Int8")
    seconds = time.perf_counter() - started
    table.attrs["summary"] = {"video": str(video), "frames": int(len(table)), "faces": int(found.sum()),
                              "seconds": round(seconds, 3), "fps": round(len(table) / seconds, 1) if seconds > 0 else math.inf}
    return table


def write_au_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the table (4 decimals, empty cells for missing values); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.4f", na_rep="")
    return path


def bridge_videos(loaded: LoadedDetector, videos: list[str | Path], out_dir: str | Path, faces: FaceMode = "detect",
                  stride: int = 1, batch_size: int = 32, min_face_score: float = DEFAULT_MIN_FACE_SCORE,
                  suffix: str = ".csv", verbose: bool = True) -> list[dict[str, Any]]:
    """``out_dir/<stem><suffix>`` per video; one summary dict per video (``error`` set when it failed).

    Example:
        >>> bridge_videos(load_au_detector("det.ckpt"), ["a.mp4"], "aus", faces="whole")  # doctest: +SKIP
    """
    detector = make_detector(min_face_score) if faces == "detect" else None
    summaries = []
    for video in videos:
        try:
            table = video_to_au_table(loaded, video, faces, stride, batch_size, detector, min_face_score)
        except PredictError as exc:
            print(f"error: {exc}", file=sys.stderr)
            summaries.append({"video": str(video), "csv": None, "error": str(exc)})
            continue
        csv = write_au_csv(table, Path(out_dir) / f"{Path(video).stem}{suffix}")
        summaries.append({**table.attrs["summary"], "csv": str(csv), "error": None})
        if verbose:
            s = summaries[-1]
            print(f"{Path(video).name}: {s['frames']} frames, face in {s['faces']}, {s['seconds']:.2f} s "
                  f"({s['fps']:.1f} fps) -> {csv}")
    return summaries


# ---- command line -------------------------------------------------------------------------------
def add_bridge_arguments(parser: argparse.ArgumentParser) -> None:
    """``--faces``, ``--stride``, ``--batch-size``, ``--device``, ``--margin``, ``--min-face-score``."""
    parser.add_argument("--faces", choices=FACE_MODES, default="detect",
                        help="detect: crop the largest BlazeFace face per frame; whole: the whole frame "
                             "(already cropped/aligned faces, the drawn demo faces)")
    parser.add_argument("--stride", type=int, default=1, help="process every n-th frame (1: all)")
    parser.add_argument("--batch-size", type=int, default=32, help="face crops per model call")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--margin", type=float, default=None,
                        help="enlarge detected boxes by this fraction per side (default: the detector DataModule's face_margin)")
    parser.add_argument("--min-face-score", type=float, default=DEFAULT_MIN_FACE_SCORE, help="BlazeFace threshold")


def main(argv: list[str] | None = None) -> int:
    """``video_to_aus.py``: one AU CSV per video and a summary; 2 on a user error, 1 if a video failed."""
    parser = argparse.ArgumentParser(prog="video_to_aus.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", help="video files")
    parser.add_argument("--ckpt", required=True, help="AUDetector checkpoint")
    parser.add_argument("--out", required=True, help="output folder: <out>/<video stem>.csv")
    add_bridge_arguments(parser)
    args = parser.parse_args(argv)
    try:
        loaded = load_au_detector(args.ckpt, args.device, args.margin)
        for note in loaded.notes:
            print(f"note: {note}", file=sys.stderr)
        summaries = bridge_videos(loaded, args.videos, args.out, args.faces, args.stride, args.batch_size,
                                  args.min_face_score)
    except PredictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = [s for s in summaries if s["error"] is None]
    frames, seconds = sum(s["frames"] for s in done), sum(s["seconds"] for s in done)
    print(f"{len(done)}/{len(summaries)} video(s), {frames} frames, face in {sum(s['faces'] for s in done)}, "
          f"{seconds:.2f} s ({frames / seconds if seconds else 0:.1f} fps, device {loaded.device})")
    return 0 if len(done) == len(summaries) else 1
