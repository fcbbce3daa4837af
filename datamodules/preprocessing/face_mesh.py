"""MediaPipe face detection (BlazeFace short range) and face mesh (468 3D points) on a TFLite runtime.

Both models run through ``ai-edge-litert`` (no ``mediapipe``, no TensorFlow). The pre- and
post-processing follows MediaPipe's graphs:

* :class:`FaceDetector`: the RGB image is letterboxed to 128x128, scaled to [-1, 1]; the 896 SSD
  anchors (strides 8, 16, 16, 16) decode boxes and 6 keypoints (eyes, nose tip, mouth, ear
  tragions); scores are sigmoids; weighted non-maximum suppression (IoU 0.3) merges overlaps.
* :class:`FaceMesh`: the detection box is made square (long side), enlarged 1.5x and rotated so
  the eyes are level; that crop is resampled to 192x192 in [0, 1]; the model's 468 (x, y, z)
  points are mapped back to image pixels (z in the same pixel scale as x, relative to the face
  centre's depth) and its face-presence logit goes through a sigmoid.

Example:
    >>> from datamodules.preprocessing.face_models import ensure_face_models  # doctest: +SKIP
    >>> models = ensure_face_models()  # doctest: +SKIP
    >>> detector, mesh = FaceDetector(models["detector"]), FaceMesh(models["landmarks"])  # doctest: +SKIP
    >>> face = detector.largest(rgb)  # doctest: +SKIP
    >>> result = mesh(rgb, face)  # result.points: (468, 3) pixels  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DETECTOR_SIZE = 128
DETECTOR_STRIDES = (8, 16, 16, 16)
MESH_SIZE = 192
NUM_LANDMARKS = 468
ROI_SCALE = 1.5
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips at 100; 80 avoids float32 overflow in exp

#: Some landmark indices of MediaPipe's 468-point canonical face mesh.
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
        78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415)


def ssd_anchors(size: int = DETECTOR_SIZE, strides: tuple[int, ...] = DETECTOR_STRIDES) -> np.ndarray:
    """BlazeFace anchor centres ``(N, 2)`` in [0, 1] (MediaPipe's SsdAnchorsCalculator, fixed size).

    Consecutive layers with the same stride share one grid; each contributes 2 anchors per cell.

    >>> ssd_anchors().shape
    (896, 2)
    """
    anchors: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        cells = size // strides[layer]
        centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        grid_y, grid_x = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
        anchors.append(np.repeat(grid, 2 * (last - layer), axis=0))
        layer = last
    return np.concatenate(anchors).astype(np.float32)


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Logistic function on clipped logits."""
    return 1.0 / (1.0 + np.exp(-np.clip(values, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))


def make_interpreter(model_path: str | Path, num_threads: int = 1):
    """A LiteRT interpreter with tensors allocated."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


@dataclass
class Detection:
    """One face: ``box`` (xmin, ymin, xmax, ymax) and ``keypoints`` (6, 2), both in image pixels."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float

    @property
    def area(self) -> float:
        """Box area in pixels squared."""
        return float(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0))


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box ``(4,)`` with many ``(N, 4)``."""
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = np.prod(box[2:] - box[:2]) + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted NMS: overlapping candidates are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    merged: list[tuple[np.ndarray, np.ndarray, float]] = []
    while remaining.size:
        overlaps = iou(boxes[remaining[0]], boxes[remaining]) > iou_threshold
        group = remaining[overlaps]
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        points = (keypoints[group] * weights[:, :, None]).sum(0) / weights.sum()
        merged.append((box, points, float(scores[group[0]])))
        remaining = remaining[~overlaps]
    return merged


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping aspect ratio and pad to ``size x size``; return image, scale, (pad_x, pad_y)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.zeros((size, size, 3), dtype=image.dtype)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    return canvas, scale, (float(pad_x), float(pad_y))


class FaceDetector:
    """BlazeFace short-range face detector; call on an RGB ``uint8`` image ``(H, W, 3)``."""

    def __init__(self, model_path: str | Path, min_score: float = 0.5, iou_threshold: float = 0.3,
                 num_threads: int = 1) -> None:
        self.interpreter = make_interpreter(model_path, num_threads)
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self.anchors = ssd_anchors()
        inputs = self.interpreter.get_input_details()
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self.input_index = inputs[0]["index"]
        self.boxes_index, self.scores_index = outputs[0]["index"], outputs[1]["index"]
        if tuple(inputs[0]["shape"][1:3]) != (DETECTOR_SIZE, DETECTOR_SIZE):
            raise ValueError(f"{model_path}: expected a {DETECTOR_SIZE}x{DETECTOR_SIZE} detector input")

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, tuple[float, float]]:
        """Run the model; return raw regressors (896, 16), scores (896,), letterbox scale and pad."""
        canvas, scale, pad = letterbox(image, DETECTOR_SIZE)
        tensor = canvas.astype(np.float32)[None] / 127.5 - 1.0
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        regressors = self.interpreter.get_tensor(self.boxes_index).reshape(len(self.anchors), -1)
        scores = sigmoid(self.interpreter.get_tensor(self.scores_index).reshape(-1))
        return regressors, scores, scale, pad

    @staticmethod
    def decode(regressors: np.ndarray, anchors: np.ndarray, scale: float,
               pad: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Regressors ``(N, 16)`` at ``anchors`` -> boxes ``(N, 4)``, keypoints ``(N, 6, 2)`` in pixels."""
        raw = regressors.reshape(len(regressors), -1, 2) / DETECTOR_SIZE
        centre = raw[:, 0] + anchors
        half = raw[:, 1] / 2
        keypoints = raw[:, 2:] + anchors[:, None]
        offset = np.asarray(pad, dtype=np.float32)
        to_pixels = lambda xy: (xy * DETECTOR_SIZE - offset) / scale  # noqa: E731
        boxes = np.concatenate([to_pixels(centre - half), to_pixels(centre + half)], axis=1)
        return boxes, to_pixels(keypoints)

    def __call__(self, image: np.ndarray) -> list[Detection]:
        """All faces with score >= ``min_score`` after NMS, best first."""
        regressors, scores, scale, pad = self.raw(image)
        keep = scores >= self.min_score
        if not keep.any():
            return []
        boxes, keypoints = self.decode(regressors[keep], self.anchors[keep], scale, pad)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        merged = weighted_nms(boxes[valid], keypoints[valid], scores[keep][valid], self.iou_threshold)
        return [Detection(box, points, score) for box, points, score in merged]

    def largest(self, image: np.ndarray) -> Detection | None:
        """The detected face with the largest box, or ``None``."""
        faces = self(image)
        return max(faces, key=lambda face: face.area) if faces else None


@dataclass
class FaceLandmarks:
    """Face mesh result: ``points`` (468 or 478, 3) in image pixels, presence ``score``, crop ``roi``."""

    points: np.ndarray
    score: float
    roi: tuple[float, float, float, float]  # centre x, centre y, side (pixels), rotation (radians)


def detection_roi(detection: Detection, scale: float = ROI_SCALE) -> tuple[float, float, float, float]:
    """Square, enlarged, eye-levelled crop ``(cx, cy, side, angle)`` around a detection (pixels).

    The angle follows MediaPipe's DetectionsToRectsCalculator (keypoints 0 -> 1, target 0).
    """
    xmin, ymin, xmax, ymax = (float(v) for v in detection.box)
    (x0, y0), (x1, y1) = detection.keypoints[0], detection.keypoints[1]
    angle = -math.atan2(-(float(y1) - float(y0)), float(x1) - float(x0))
    angle = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    side = max(xmax - xmin, ymax - ymin) * scale
    return (xmin + xmax) / 2, (ymin + ymax) / 2, side, angle


def roi_to_image_matrix(roi: tuple[float, float, float, float], size: int = MESH_SIZE) -> np.ndarray:
    """Affine ``(2, 3)`` mapping crop pixel coordinates (0..size) to image pixels."""
    cx, cy, side, angle = roi
    cos, sin = math.cos(angle) * side / size, math.sin(angle) * side / size
    linear = np.array([[cos, -sin], [sin, cos]], dtype=np.float64)
    origin = np.array([cx, cy]) - linear @ np.array([size / 2, size / 2])
    return np.hstack([linear, origin[:, None]])


def crop_roi(image: np.ndarray, roi: tuple[float, float, float, float], size: int = MESH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The ``size x size`` rotated crop of ``roi`` and its crop->image affine matrix ``(2, 3)``."""
    matrix = roi_to_image_matrix(roi, size)
    patch = cv2.warpAffine(image, matrix, (size, size),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return patch, matrix


class FaceMesh:
    """MediaPipe face-mesh landmark model; call with an RGB image and a :class:`Detection`."""

    def __init__(self, model_path: str | Path, num_threads: int = 1) -> None:
        self.interpreter = make_interpreter(model_path, num_threads)
        inputs = self.interpreter.get_input_details()
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
        self.input_index = inputs[0]["index"]
        self.points_index, self.presence_index = outputs[0]["index"], outputs[1]["index"]
        if tuple(inputs[0]["shape"][1:3]) != (MESH_SIZE, MESH_SIZE):
            raise ValueError(f"{model_path}: expected a {MESH_SIZE}x{MESH_SIZE} landmark input")

    def crop(self, image: np.ndarray, roi: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The ``192x192`` rotated crop and its crop->image affine matrix."""
        return crop_roi(image, roi)

    def __call__(self, image: np.ndarray, detection: Detection) -> FaceLandmarks:
        """Landmarks in image pixels (x, y, z; z scaled like x) and the face-presence probability."""
        return self.at_roi(image, detection_roi(detection))

    def at_roi(self, image: np.ndarray, roi: tuple[float, float, float, float]) -> FaceLandmarks:
        """Landmarks of the face in crop ``roi`` ``(cx, cy, side, angle)``, e.g. one tracked from the last frame."""
        patch, matrix = self.crop(image, roi)
        self.interpreter.set_tensor(self.input_index, patch.astype(np.float32)[None] / 255.0)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.points_index).reshape(-1, 3)[:NUM_LANDMARKS]
        presence = float(sigmoid(self.interpreter.get_tensor(self.presence_index).reshape(-1))[-1])
        return FaceLandmarks(crop_to_image(raw, matrix, roi), presence, roi)


def crop_to_image(raw: np.ndarray, matrix: np.ndarray, roi: tuple[float, float, float, float],
                  size: int = MESH_SIZE) -> np.ndarray:
    """Crop-pixel points ``(N, 3)`` -> image pixels (``float32``); z scaled by ``side / size`` like x."""
    raw = np.asarray(raw, dtype=np.float64)
    points = np.empty((len(raw), 3), dtype=np.float32)
    points[:, :2] = raw[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    points[:, 2] = raw[:, 2] * roi[2] / size
    return points
