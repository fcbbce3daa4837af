"""Frame sources for inference: image files, folders of images, videos and webcams."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facedep.inference.common import IMAGE_EXTENSIONS, PredictError


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
