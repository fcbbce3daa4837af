"""Face detection and crops for per-image inference: crop -> tensor, batched scoring of frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import torch

from datamodules.image_crops import crop_box
from facedep.inference.frames import Frame
from facedep.inference.image_model import LoadedModel, Preprocessing, score_batch
from facedep.inference.outputs import Row

DEFAULT_MIN_FACE_SCORE = 0.7


def to_tensor(crop: np.ndarray, prep: Preprocessing) -> torch.Tensor:
    """Resize to ``image_size``, scale to [0, 1], normalise; float32 ``(3, H, W)``."""
    height, width = prep.image_size
    shrink = height * width < crop.shape[0] * crop.shape[1]
    resized = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    pixels = resized.astype(np.float32) / 255.0
    pixels = (pixels - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


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
