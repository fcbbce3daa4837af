"""The face view of :class:`~datamodules.multimodal.MultimodalDataModule`: one video's face crops, frame-numbered.

A face source is either a folder of aligned crops (OpenFace's ``<name>_aligned/frame_det_00_000001.bmp``, or any
``.bmp/.png/.jpg`` whose file name ends in the frame number, e.g. ``frame_000123.png``) or a video file, whose frames
are numbered ``1..N`` (OpenFace numbering). Crops are resized to ``face_size`` and kept as uint8 RGB. In a video the
largest BlazeFace face of each frame is cropped (with a margin); where the detector cannot be loaded (no model file
offline, no LiteRT) every frame's centred square is used instead, with a warning and a note in the data report.

A crop that does not decode, or a video frame without a detected face, is an invalid frame (counted); a folder
without any numbered image, or a video that does not open, is a :class:`DataFormatError` naming it.

Example:
    >>> faces = read_face_folder("v01_aligned", face_size=32)  # doctest: +SKIP
    >>> faces["crops"].shape, faces["frame"][:2]  # doctest: +SKIP
    ((120, 32, 32, 3), array([1, 2]))
"""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from datamodules.cache import ArrayCache, file_digest
from datamodules.image_crops import crop_box, resize_image
from datamodules.image_decoding import UnreadableImage, decode_image
from datamodules.io.au_table import DataFormatError

IMAGE_SUFFIXES = frozenset({".bmp", ".png", ".jpg", ".jpeg"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
_FRAME_NUMBER = re.compile(r"(\d+)$")
CACHE_VERSION = 1


class FolderCache(ArrayCache):
    """An :class:`ArrayCache` entry keyed by a given content digest (a folder of crops has no single file to hash)."""

    def __init__(self, cache: ArrayCache, digest: str) -> None:
        super().__init__(cache.directory)
        self.digest = digest

    def key_path(self, source: str | Path, namespace: str) -> Path | None:
        return None if self.directory is None else self.directory / namespace / f"{self.digest}.npz"


def is_video(path: str | Path) -> bool:
    """Whether a face source is a video file (by suffix), not a folder of crops."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def crop_files(folder: str | Path) -> list[tuple[int, Path]]:
    """``(frame number, file)`` of the numbered images in ``folder`` (or in its single ``*_aligned`` subfolder),
    sorted by frame; for a frame listed twice (several faces: ``frame_det_00_...``, ``frame_det_01_...``) the first
    file name wins.

    >>> crop_files("v01_aligned")[:2]  # doctest: +SKIP
    [(1, PosixPath('v01_aligned/frame_det_00_000001.bmp')), (2, PosixPath('v01_aligned/frame_det_00_000002.bmp'))]
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is neither a folder of crops nor a video" if folder.exists() else "does not exist"
        raise DataFormatError(f"face source {folder} {what} (expected a folder of crops or a "
                              f"{'/'.join(sorted(VIDEO_SUFFIXES))} video)")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        aligned = [p for p in folder.iterdir() if p.is_dir() and p.name.endswith("_aligned")]
        if len(aligned) == 1:
            return crop_files(aligned[0])
    numbered: dict[int, Path] = {}
    for path in images:
        match = _FRAME_NUMBER.search(path.stem)
        if match:
            numbered.setdefault(int(match.group(1)), path)
    if not numbered:
        raise DataFormatError(f"face crop folder {folder}: no image whose name ends in a frame number "
                              f"({', '.join(sorted(IMAGE_SUFFIXES))}, e.g. frame_det_00_000001.bmp)")
    return sorted(numbered.items())


def folder_digest(files: list[tuple[int, Path]]) -> str:
    """Content key of a crop folder: the frame numbers and every file's SHA-1."""
    payload = "\n".join(f"{frame}:{file_digest(path)}" for frame, path in files)
    return hashlib.sha1(payload.encode()).hexdigest()


def read_face_folder(folder: str | Path, face_size: int,
                     files: list[tuple[int, Path]] | None = None) -> dict[str, np.ndarray]:
    """Arrays of a crop folder: ``crops (n_valid, S, S, 3)`` uint8 of the decodable crops, ``frame``, ``timestamp``
    (NaN: crops carry no time), ``valid`` per listed frame and counts ``note_*``; ``files``: its
    :func:`crop_files` if already listed."""
    files = crop_files(folder) if files is None else files
    frame = np.array([f for f, _ in files], dtype=np.int64)
    valid = np.zeros(len(files), dtype=bool)
    crops = []
    for i, (_, path) in enumerate(files):
        try:
            image, _ = decode_image(path)
        except (UnreadableImage, OSError):
            continue
        crops.append(resize_image(image, (face_size, face_size)))
        valid[i] = True
    return {
        "crops": np.stack(crops) if crops else np.zeros((0, face_size, face_size, 3), np.uint8),
        "frame": frame, "timestamp": np.full(len(frame), np.nan), "valid": valid,
        "note_crops_undecodable": np.array(int((~valid).sum())), "note_no_face_detected": np.array(0),
    }


def centered_box(image: np.ndarray) -> tuple[float, float, float, float]:
    """The centred square of ``image`` (side: its shorter side) as ``(x0, y0, x1, y1)``.

    >>> centered_box(np.zeros((10, 20, 3)))
    (5.0, 0.0, 15.0, 10.0)
    """
    height, width = image.shape[:2]
    side = min(height, width)
    x0, y0 = (width - side) / 2, (height - side) / 2
    return (x0, y0, x0 + side, y0 + side)


class VideoFaceCropper:
    """The largest BlazeFace face of each frame, with ``margin``; the centred square when ``detect`` is off or the
    detector cannot be loaded (:attr:`fallback` then says why, warned once)."""

    def __init__(self, margin: float = 0.1, min_score: float = 0.5, detect: bool = True) -> None:
        self.margin, self.min_score = margin, min_score
        self.mode = "detect" if detect else "center"
        self.fallback: str | None = None if detect else "detect_faces: false"
        self._detector: Any | None = None

    def resolve(self) -> str:
        """Load the detector if needed; returns the mode actually used (``detect`` or ``center``)."""
        if self.mode == "detect" and self._detector is None:
            try:
                from datamodules.preprocessing.face_mesh import FaceDetector
                from datamodules.preprocessing.face_models import ensure_face_models

                self._detector = FaceDetector(ensure_face_models()["detector"], min_score=self.min_score)
            except Exception as exc:  # noqa: BLE001 (FaceModelError, ImportError of LiteRT, a broken model file...)
                self.mode = "center"
                self.fallback = f"BlazeFace unavailable ({type(exc).__name__}: {str(exc)[:200]}): centred crops"
                warnings.warn(f"face detector unavailable, video faces are centred crops instead: {self.fallback}",
                              UserWarning, stacklevel=2)
        return self.mode

    def namespace(self, face_size: int) -> str:
        mode = f"detect{self.min_score}" if self.resolve() == "detect" else "center"
        return f"mm-faces-video-v{CACHE_VERSION}-s{face_size}-m{self.margin}-{mode}"

    def box(self, rgb: np.ndarray) -> tuple[float, ...] | None:
        """The crop box of one RGB frame; ``None`` when no face is detected."""
        if self.resolve() == "center":
            return centered_box(rgb)
        face = self._detector.largest(rgb)
        return None if face is None else tuple(float(v) for v in face.box)

    def read_video(self, path: str | Path, face_size: int) -> dict[str, np.ndarray]:
        """Arrays of a video (as :func:`read_face_folder`): frames ``1..N``, decoder timestamps (seconds)."""
        from datamodules.preprocessing.extract import VideoReadError, iter_frames, open_video

        try:
            capture, fps, _ = open_video(path)
        except VideoReadError as exc:
            raise DataFormatError(f"{path}: {exc}") from exc
        crops, valid, stamps = [], [], []
        try:
            for _, stamp, bgr in iter_frames(capture):
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                box = self.box(rgb)
                crop = crop_box(rgb, box, self.margin if self.mode == "detect" else 0.0) if box is not None else None
                valid.append(crop is not None)
                stamps.append(stamp)
                if crop is not None:
                    crops.append(resize_image(crop, (face_size, face_size)))
        finally:
            capture.release()
        if not valid:
            raise DataFormatError(f"{path}: the video has no decodable frame")
        frame = np.arange(1, len(valid) + 1, dtype=np.int64)
        valid_array = np.asarray(valid, dtype=bool)
        return {
            "crops": np.stack(crops) if crops else np.zeros((0, face_size, face_size, 3), np.uint8),
            "frame": frame, "timestamp": _video_timestamps(stamps, frame, fps), "valid": valid_array,
            "note_crops_undecodable": np.array(0), "note_no_face_detected": np.array(int((~valid_array).sum())),
        }


def _video_timestamps(raw: list[float], frame: np.ndarray, fps: float | None) -> np.ndarray:
    """Decoder timestamps when increasing, else ``(frame - 1) / fps`` (NaN without fps)."""
    stamps = np.asarray(raw, dtype=np.float64)
    if len(stamps) > 1 and np.isfinite(stamps).all() and (np.diff(stamps) > 0).all():
        return stamps
    return (frame - 1) / fps if fps else np.full(frame.shape, np.nan)


def load_faces(path: str | Path, cache: ArrayCache, face_size: int, cropper: VideoFaceCropper) -> dict[str, np.ndarray]:
    """A face source's arrays (see :func:`read_face_folder`) through the content-keyed cache."""
    if is_video(path):
        if not Path(path).is_file():
            raise DataFormatError(f"face video {path} does not exist")
        return cache.get_or_compute(path, cropper.namespace(face_size), lambda: cropper.read_video(path, face_size))
    files = crop_files(path)
    namespace = f"mm-faces-folder-v{CACHE_VERSION}-s{face_size}"
    compute = lambda: read_face_folder(path, face_size, files)  # noqa: E731
    if cache.directory is None:
        return cache.get_or_compute(path, namespace, compute)
    keyed = FolderCache(cache, folder_digest(files))
    arrays = keyed.get_or_compute(path, namespace, compute)
    cache.hits, cache.misses = cache.hits + keyed.hits, cache.misses + keyed.misses
    return arrays
