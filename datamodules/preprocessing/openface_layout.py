"""Face-mesh frames written in OpenFace 2.x's CSV layout (``FeatureExtraction -aus -pose -2Dfp -3Dfp``).

Columns, in OpenFace's order and spelling (header ``", "``-separated, so every name but ``frame``
carries OpenFace's leading space; the readers strip it): ``frame, face_id, timestamp, confidence,
success, pose_Tx, pose_Ty, pose_Tz, pose_Rx, pose_Ry, pose_Rz, x_0..x_67, y_0..y_67, X_0..X_67,
Y_0..Y_67, Z_0..Z_67``, then the ``AUxx_r`` and ``AUxx_c`` columns given (OpenFace order). Gaze,
eye-region landmarks and shape parameters are not written (nothing here estimates them).

* ``x_i, y_i``: the 68 iBUG points (:data:`IBUG68_FROM_MESH`) in image pixels.
* ``X_i, Y_i, Z_i`` (mm, camera coordinates) and ``pose_T*``: OpenFace's default pinhole camera
  (``f = (500 w/640 + 500 h/480) / 2``, centre ``(w/2, h/2)``), the head's depth set so that the 3D
  outer eye-corner distance is :data:`BIOCULAR_MM` (OpenFace's own mean face gives 90.1 mm);
  ``pose_T`` is the centroid of the 68 3D points (OpenFace's model origin is within ~6 mm of it on
  the shared video). These are approximations for code that needs the columns, not a calibrated
  3D reconstruction.
* ``pose_R*``: radians, as the pose estimator returns them.
* Frames without a face: ``success 0``, ``confidence 0`` and 0 in every value, as OpenFace writes them.

Example:
    >>> table = openface_table(sequence, aus, pose, image_size=(1080, 720))  # doctest: +SKIP
    >>> write_openface_csv(table, "out/clip.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import ALL_AU_COLUMNS
from datamodules.io.landmarks import LandmarkSequence

# iBUG-68 landmark -> face-mesh vertex (MediaPipe 468 topology; the 478-point attention mesh keeps
# the same first 468). Choices per group (image-left = the subject's right, as in both schemes):
# * jaw 0-16: OpenFace's jaw is the visible outline, which the mesh has no vertices for: from the
#   ear level (127/356) over the chin (152), each pair of mirror vertices (227/447, 123/352, ...)
#   was picked, among the cheek/jaw vertices near the outline, for the smallest error of both sides
#   together on the shared OpenDBM video (one subject, so this choice is tuned on one face).
# * brows 17-26: the upper brow edge, outer -> inner (70 63 105 66 107 | 336 296 334 293 300).
# * nose 27-35: the bridge from between the eyes (168) down to the tip (4); the lower edge from the
#   right ala over the subnasale (2) to the left ala.
# * eyes 36-47: outer corners 33/263; inner 173/398 (one vertex out from the caruncle vertices 133/362:
#   where OpenFace puts its inner corner); the lid vertices at about 1/3 and 2/3 of each lid.
# * lips 48-67: outer contour from the right corner (61) over the cupid's bow (0) and the lower lip
#   (17); inner contour 78 .. 13 (upper mid) .. 308 .. 14 (lower mid).
IBUG68_FROM_MESH: tuple[int, ...] = (
    127, 227, 123, 213, 138, 136, 149, 148, 152, 377, 378, 365, 367, 433, 352, 447, 356,  # jaw 0-16
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows 17-26
    168, 197, 5, 4, 98, 97, 2, 326, 327,  # nose 27-35
    33, 160, 158, 173, 153, 144, 398, 385, 387, 263, 373, 380,  # eyes 36-47
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips 48-59
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips 60-67
)
IBUG68_GROUPS: dict[str, list[int]] = {
    "jaw": list(range(0, 17)), "brows": list(range(17, 27)), "nose": list(range(27, 36)),
    "eyes": list(range(36, 48)), "lips": list(range(48, 68)),
}
BIOCULAR_MM = 90.0
"""Outer eye-corner distance (mm) that sets the depth scale (OpenFace's mean face: 90.1 mm)."""
OUTER_EYE_CORNERS: tuple[int, int] = (33, 263)
META_COLUMNS: tuple[str, ...] = ("frame", "face_id", "timestamp", "confidence", "success")
POSE_COLUMNS: tuple[str, ...] = ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")
LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"{axis}_{i}" for axis in ("x", "y", "X", "Y", "Z") for i in range(68))
_FORMATS: dict[str, str] = {"frame": "%d", "face_id": "%d", "timestamp": "%.3f", "confidence": "%.2f", "success": "%d",
                            "pose_Tx": "%.1f", "pose_Ty": "%.1f", "pose_Tz": "%.1f", "pose_Rx": "%.3f",
                            "pose_Ry": "%.3f", "pose_Rz": "%.3f"}


def mesh_to_ibug68(points: np.ndarray) -> np.ndarray:
    """``(..., 468 or 478, 3)`` mesh points -> ``(..., 68, 3)`` iBUG points (:data:`IBUG68_FROM_MESH`).

    >>> mesh_to_ibug68(np.arange(468 * 3, dtype=float).reshape(468, 3))[30].tolist()  # vertex 4: the nose tip
    [12.0, 13.0, 14.0]
    """
    points = np.asarray(points)
    if points.ndim < 2 or points.shape[-2] < 468:
        raise ValueError(f"mesh points must be (..., 468 or 478, 3), got shape {points.shape}")
    return points[..., list(IBUG68_FROM_MESH), :]


def openface_camera(image_size: tuple[int, int]) -> tuple[float, float, float]:
    """OpenFace's default camera for a ``(width, height)`` image: ``(focal, cx, cy)`` in pixels.

    >>> openface_camera((1080, 720))  # the shared video's *_of_details.txt: 796.875,796.875,540,360
    (796.875, 540.0, 360.0)
    """
    width, height = image_size
    return (500.0 * width / 640.0 + 500.0 * height / 480.0) / 2.0, width / 2.0, height / 2.0


def camera_points(mesh: np.ndarray, image_size: tuple[int, int], biocular_mm: float = BIOCULAR_MM) -> np.ndarray:
    """``(T, N, 3)`` mesh points (pixels, relative depth in pixel units) -> ``(T, 68, 3)`` camera mm (module doc)."""
    focal, cx, cy = openface_camera(image_size)
    left, right = OUTER_EYE_CORNERS
    width_px = np.linalg.norm(mesh[:, left] - mesh[:, right], axis=-1)  # 3D: does not shrink when the head turns
    mm_per_px = biocular_mm / np.where(width_px > 0, width_px, np.nan)
    ibug = mesh_to_ibug68(mesh).astype(np.float64)
    depth = focal * mm_per_px[:, None] + ibug[..., 2] * mm_per_px[:, None]
    x = (ibug[..., 0] - cx) * depth / focal
    y = (ibug[..., 1] - cy) * depth / focal
    return np.stack([x, y, depth], axis=-1)


def _confidence(sequence: LandmarkSequence, confidence: np.ndarray | None) -> np.ndarray:
    """Per-frame confidence: the given one, else the sequence's ``notes["presence"]``, else 1.0; 0 without a face."""
    if confidence is None:
        confidence = sequence.notes.get("presence") if isinstance(sequence.notes, dict) else None
    if confidence is None or np.ndim(confidence) != 1 or len(confidence) != sequence.num_frames:
        confidence = np.ones(sequence.num_frames)
    return np.where(sequence.valid, np.nan_to_num(np.asarray(confidence, dtype=np.float64)), 0.0)


def openface_table(sequence: LandmarkSequence, aus: pd.DataFrame, pose: np.ndarray,
                   confidence: np.ndarray | None = None, image_size: tuple[int, int] = (640, 480),
                   face_id: int = 0) -> pd.DataFrame:
    """One OpenFace 2.x row per frame of ``sequence`` (layout in the module doc).

    ``aus``: one row per frame, any of :data:`~datamodules.io.au_table.ALL_AU_COLUMNS` (written in
    OpenFace order; other columns are an error). ``pose``: ``(T, 3)`` radians (Rx, Ry, Rz). ``frame``
    is 1-based as in OpenFace (``sequence.frame + 1``). ``image_size`` (width, height) sets the camera.
    Every value of a frame without a face is 0 (``success 0``).
    """
    n = sequence.num_frames
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (n, 3):
        raise ValueError(f"{sequence.source}: pose must be ({n}, 3), got {pose.shape}")
    if len(aus) != n:
        raise ValueError(f"{sequence.source}: {len(aus)} AU rows for {n} frames")
    unknown = [c for c in aus.columns if c not in ALL_AU_COLUMNS]
    if unknown:
        raise ValueError(f"{sequence.source}: AU table has non-AU columns {unknown}")
    valid = np.asarray(sequence.valid, dtype=bool)
    points = np.asarray(sequence.points, dtype=np.float64)
    pixels = mesh_to_ibug68(points)[..., :2]
    metric = camera_points(points, image_size)
    columns: dict[str, np.ndarray] = {
        "frame": np.asarray(sequence.frame, dtype=np.int64) + 1,
        "face_id": np.full(n, face_id, dtype=np.int64),
        "timestamp": np.asarray(sequence.timestamp, dtype=np.float64),
        "confidence": _confidence(sequence, confidence),
        "success": valid.astype(np.int64),
    }
    translation = metric.mean(axis=1)
    for k, name in enumerate(("pose_Tx", "pose_Ty", "pose_Tz")):
        columns[name] = translation[:, k]
    for k, name in enumerate(("pose_Rx", "pose_Ry", "pose_Rz")):
        columns[name] = pose[:, k]
    for k, axis in enumerate("xy"):
        columns.update({f"{axis}_{i}": pixels[:, i, k] for i in range(68)})
    for k, axis in enumerate("XYZ"):
        columns.update({f"{axis}_{i}": metric[:, i, k] for i in range(68)})
    for name in (c for c in ALL_AU_COLUMNS if c in aus.columns):
        columns[name] = aus[name].to_numpy(dtype=np.float64)
    table = pd.DataFrame(columns)
    values = [c for c in table.columns if c not in ("frame", "face_id", "timestamp", "success")]
    table.loc[~valid, values] = 0.0
    return table


def _format_column(name: str, values: pd.Series) -> list[str]:
    """Cells of one column: OpenFace's precision; empty where NaN (a value the estimator could not give)."""
    fmt = _FORMATS.get(name, "%.3f" if name.startswith(("x_", "y_")) else "%.2f")
    if fmt == "%d":
        return np.char.mod(fmt, values.to_numpy(dtype=np.int64)).tolist()
    numbers = values.to_numpy(dtype=np.float64)
    return np.where(np.isnan(numbers), "", np.char.mod(fmt, numbers)).tolist()


def write_openface_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as OpenFace does (``", "`` separators, so names after ``frame`` start with a space)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [_format_column(str(c), table[c]) for c in table.columns]
    lines = [", ".join(str(c) for c in table.columns)] + [", ".join(row) for row in zip(*cells)]
    path.write_text("\n".join(lines) + "\n")
    return path
