"""The three ways ``scripts/extract_aus.py`` gets an OpenFace 2.x AU CSV from one video.

* :class:`MeshBackend` (``mesh``): face-mesh tracking, AU intensities and head pose from the mesh
  geometry (``datamodules.preprocessing.aus``), the 68 iBUG points mapped from the mesh
  (:mod:`datamodules.preprocessing.openface_layout`). Estimates from geometry, not FACS coding.
* :class:`DetectorBackend` (``detector``): a trained ``AUDetector`` checkpoint through the bridge
  (:mod:`facedep.inference.au_bridge`), its CSV as the bridge writes it.
* :class:`OpenFaceBackend` (``openface``): the user's own OpenFace 2.x ``FeatureExtraction``
  (``-aus -pose -2Dfp -3Dfp``), its CSV moved to the output folder unchanged.

Each backend's ``run(video, csv_path, stride, progress)`` writes the CSV and returns a
:class:`VideoSummary`; it raises :class:`ExtractError` (naming the video) when the video cannot be
read or has no face in any frame, and writes nothing then.

Example:
    >>> backend = MeshBackend.create(model="attention", threads=1)  # doctest: +SKIP
    >>> backend.run(Path("clip.mp4"), Path("out/clip.csv")).frames_with_face  # doctest: +SKIP
    158
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_AUS
from datamodules.io.landmarks import LandmarkSequence
from datamodules.preprocessing.openface_layout import openface_table, write_openface_csv
from facedep.inference.common import PredictError

OPENFACE_EXECUTABLE = "FeatureExtraction"
OPENFACE_FLAGS: tuple[str, ...] = ("-aus", "-pose", "-2Dfp", "-3Dfp")
MESH_AU_COLUMNS: tuple[str, ...] = tuple(f"{au}_r" for au in INTENSITY_AUS) + tuple(f"{au}_c" for au in INTENSITY_AUS)
"""AU columns the mesh backend writes: the 17 OpenFace intensity AUs, ``_r`` and ``_c`` (no AU28)."""

LandmarkFn = Callable[[Path, int, bool], LandmarkSequence]
EstimateFn = Callable[..., pd.DataFrame]
PoseFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class ExtractError(PredictError):
    """A video that gave no AU CSV (unreadable, no face, OpenFace failed); the message names it.

    ``frames`` is how many frames were read before giving up (``None`` when the video could not be read).
    """

    def __init__(self, message: str, frames: int | None = None) -> None:
        super().__init__(message)
        self.frames = frames


@dataclass
class VideoSummary:
    """What one video gave: frames processed, frames with a face, the video's and the processing's fps."""

    frames: int
    frames_with_face: int
    fps_video: float | None
    fps_processing: float


def video_geometry(path: Path) -> tuple[tuple[int, int], float | None]:
    """``((width, height), fps or None)`` that OpenCV reports for a video (``(640, 480)`` when unknown)."""
    capture = cv2.VideoCapture(str(path))
    try:
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    size = (width, height) if width > 0 and height > 0 else (640, 480)
    return size, (float(fps) if fps and np.isfinite(fps) and fps > 0 else None)


def _no_face(video: Path, frames: int) -> ExtractError:
    return ExtractError(f"{video}: no face found in any of its {frames} processed frames; no CSV written", frames=frames)


# ---- mesh ----------------------------------------------------------------------------------------
class PresenceRecorder:
    """A mesh tracker that also keeps each frame's presence score (0 without a face), for OpenFace's ``confidence``."""

    def __init__(self, tracker: Any) -> None:
        self._tracker = tracker
        self.presence: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)

    def reset(self) -> None:
        """Forget the last video (the tracker's own reset too)."""
        self.presence.clear()
        self._tracker.reset()

    def track(self, rgb: np.ndarray) -> Any:
        """The tracker's result; its presence recorded."""
        result = self._tracker.track(rgb)
        self.presence.append(float(result.presence) if result.points is not None else 0.0)
        return result


def _tracker_landmarks(model: str, models_dir: Path | None, threads: int, min_score: float) -> LandmarkFn:
    """Per-video landmarks from the MediaPipe-style mesh tracker (``model``: ``attention`` or ``mesh``)."""
    from datamodules.preprocessing import extract
    from datamodules.preprocessing.mesh_tracker import build_tracker

    tracker = PresenceRecorder(build_tracker(model=model, models_dir=models_dir, num_threads=threads, min_score=min_score))

    def landmarks(video: Path, stride: int, progress: bool) -> LandmarkSequence:
        sequence = extract.extract_video(video, tracker, stride=stride, progress=progress)
        sequence.notes["presence"] = np.asarray(tracker.presence, dtype=np.float64)  # the CSV's confidence
        return sequence

    return landmarks


def geometry_estimators() -> tuple[EstimateFn, PoseFn, Callable[[str | Path], Any]]:
    """``(estimate_aus, head_pose, AUCalibration.load)`` from ``datamodules.preprocessing.aus``."""
    from datamodules.preprocessing.aus import AUCalibration, estimate_aus, head_pose

    return estimate_aus, head_pose, AUCalibration.load


@dataclass
class MeshBackend:
    """Mesh landmarks -> geometric AUs and head pose -> OpenFace layout (module doc)."""

    landmarks: LandmarkFn
    estimate: EstimateFn
    pose: PoseFn
    calibration: Any = None
    name: str = "mesh"

    @classmethod
    def create(cls, model: str = "attention", models_dir: Path | None = None, threads: int = 1, min_score: float = 0.5,
               calibration: str | Path | None = None) -> MeshBackend:
        """The backend with the real tracker and estimators; ``calibration`` is an ``AUCalibration`` file."""
        estimate, pose, load_calibration = geometry_estimators()
        try:
            loaded = load_calibration(calibration) if calibration is not None else None
        except (OSError, ValueError) as exc:  # CalibrationError is a ValueError naming the file
            raise ExtractError(f"--calibration {calibration}: {exc}") from exc
        return cls(_tracker_landmarks(model, models_dir, threads, min_score), estimate, pose, loaded)

    def run(self, video: Path, csv_path: Path, stride: int = 1, progress: bool = True) -> VideoSummary:
        """Write ``csv_path`` for ``video``; :class:`ExtractError` when unreadable or faceless."""
        from datamodules.preprocessing.extract import NoFaceWarning, VideoReadError

        size, _ = video_geometry(video)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NoFaceWarning)  # reported below, as an error of this video
                sequence = self.landmarks(video, stride, progress)
        except VideoReadError as exc:
            raise ExtractError(str(exc)) from exc
        if not sequence.valid.any():
            raise _no_face(video, sequence.num_frames)
        started = time.perf_counter()
        aus = self.estimate(sequence.points, sequence.valid, calibration=self.calibration)
        pose = self.pose(sequence.points, sequence.valid)
        write_openface_csv(openface_table(sequence, aus, pose, image_size=size), csv_path)
        seconds = sequence.notes.get("elapsed_ms", 0) / 1000.0 + time.perf_counter() - started  # tracking + AUs + CSV
        return VideoSummary(sequence.num_frames, int(sequence.valid.sum()), sequence.fps,
                            sequence.num_frames / max(seconds, 1e-9))


# ---- detector ------------------------------------------------------------------------------------
@dataclass
class DetectorBackend:
    """A trained AUDetector over the frames (the bridge); its options as ``video_to_aus.py`` takes them."""

    loaded: Any
    faces: str = "detect"
    batch_size: int = 32
    min_face_score: float = 0.5
    name: str = "detector"

    @classmethod
    def create(cls, ckpt: str | Path, device: str = "cpu", margin: float | None = None, faces: str = "detect",
               batch_size: int = 32, min_face_score: float = 0.5) -> DetectorBackend:
        """Load the checkpoint (:func:`~facedep.inference.au_bridge.load_au_detector`); its notes go to stderr."""
        from facedep.inference.au_bridge import load_au_detector

        loaded = load_au_detector(ckpt, device, margin)
        for note in loaded.notes:
            print(f"note: {note}", file=sys.stderr)
        return cls(loaded, faces, batch_size, min_face_score)

    def run(self, video: Path, csv_path: Path, stride: int = 1, progress: bool = True) -> VideoSummary:
        """Write the bridge's CSV; :class:`ExtractError` when unreadable or faceless."""
        from facedep.inference.au_bridge import video_to_au_table, write_au_csv
        from facedep.inference.faces import make_detector

        detector = make_detector(self.min_face_score) if self.faces == "detect" else None
        try:
            table = video_to_au_table(self.loaded, video, self.faces, stride, self.batch_size, detector, self.min_face_score)
        except PredictError as exc:
            raise ExtractError(str(exc)) from exc
        summary = table.attrs["summary"]
        if summary["faces"] == 0:
            raise _no_face(video, summary["frames"])
        write_au_csv(table, csv_path)
        return VideoSummary(summary["frames"], summary["faces"], video_geometry(video)[1], float(summary["fps"]))


# ---- OpenFace ------------------------------------------------------------------------------------
def find_openface(binary: str | Path | None = None) -> Path:
    """The ``FeatureExtraction`` executable: ``binary`` if given, else the one on ``PATH``.

    Raises :class:`ExtractError` saying what was looked for when there is none.
    """
    if binary is not None:
        path = Path(binary)
        if path.is_dir():
            path = path / OPENFACE_EXECUTABLE
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ExtractError(f"OpenFace executable not found: --openface-bin {binary} is not an executable file "
                               f"(looked for {path}); point it at OpenFace 2.x's {OPENFACE_EXECUTABLE}")
        return path
    found = shutil.which(OPENFACE_EXECUTABLE)
    if found is None:
        raise ExtractError(f"OpenFace executable not found: no {OPENFACE_EXECUTABLE!r} on PATH and no --openface-bin "
                           "given; build OpenFace 2.x (github.com/TadasBaltrusaitis/OpenFace) and pass "
                           f"--openface-bin /path/to/{OPENFACE_EXECUTABLE}, or use --backend mesh")
    return Path(found)


@dataclass
class OpenFaceBackend:
    """OpenFace's ``FeatureExtraction -f VIDEO -out_dir TMP -aus -pose -2Dfp -3Dfp``; its CSV moved into place."""

    binary: Path
    name: str = "openface"

    @classmethod
    def create(cls, binary: str | Path | None = None) -> OpenFaceBackend:
        """Find the executable (:func:`find_openface`)."""
        return cls(find_openface(binary))

    def run(self, video: Path, csv_path: Path, stride: int = 1, progress: bool = True) -> VideoSummary:
        """Run OpenFace on the whole video (``stride`` must be 1); :class:`ExtractError` on failure or no face."""
        if stride != 1:
            raise ExtractError("the openface backend processes every frame: --stride must be 1")
        if not video.is_file():
            raise ExtractError(f"video {video} does not exist")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=csv_path.parent, prefix=".openface-") as tmp:
            command = [str(self.binary), "-f", str(video), "-out_dir", tmp, *OPENFACE_FLAGS]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            written = Path(tmp) / f"{video.stem}.csv"
            if done.returncode != 0 or not written.is_file():
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise ExtractError(f"{video}: OpenFace ({self.binary}) exited with {done.returncode} "
                                   f"{'and wrote no ' + written.name if not written.is_file() else ''}: "
                                   f"{' | '.join(tail) or 'no output'}")
            table = pd.read_csv(written, skipinitialspace=True)
            table.columns = [str(c).strip() for c in table.columns]
            if "success" not in table.columns or not any(c in table.columns for c in ALL_AU_COLUMNS):
                raise ExtractError(f"{video}: OpenFace's {written.name} has no success/AU columns (was it run with -aus?)")
            faces = int((table["success"] > 0.5).sum())
            if faces == 0:
                raise _no_face(video, len(table))
            shutil.move(str(written), csv_path)
        seconds = time.perf_counter() - started
        return VideoSummary(len(table), faces, video_geometry(video)[1], len(table) / max(seconds, 1e-9))


def provided_channels(backend: Any) -> tuple[str, ...]:
    """AU columns a backend's CSV will have (the detector: its checkpoint's; OpenFace: all of them)."""
    if isinstance(backend, DetectorBackend):
        return tuple(c for c in backend.loaded.columns if not c.endswith("_p"))
    if isinstance(backend, MeshBackend):
        return MESH_AU_COLUMNS
    return ALL_AU_COLUMNS
