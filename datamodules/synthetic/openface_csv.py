"""The OpenFace 2.x CSV layout (``FeatureExtraction -gaze -pose -aus``) and a writer for it.

Columns ``frame, face_id, timestamp, confidence, success, gaze_*, pose_*, AU01_r ... AU45_c``,
values prefixed by spaces exactly as OpenFace writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS, PRESENCE_COLUMNS

META_COLUMNS: tuple[str, ...] = ("frame", "face_id", "timestamp", "confidence", "success")
GAZE_COLUMNS: tuple[str, ...] = (
    "gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z", "gaze_angle_x", "gaze_angle_y",
)
POSE_COLUMNS: tuple[str, ...] = ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")
OPENFACE_AU_COLUMNS: tuple[str, ...] = INTENSITY_COLUMNS + PRESENCE_COLUMNS
"""AU columns in OpenFace's own order (all ``_r`` then all ``_c``; equal to the canonical order)."""
OPENFACE_COLUMNS: tuple[str, ...] = META_COLUMNS + GAZE_COLUMNS + POSE_COLUMNS + OPENFACE_AU_COLUMNS

# Per-column printf formats, copied from real OpenFace 2.x output: the first field bare, then
# ", " separators with one extra space before meta/gaze/pose values; AUs get the separator only.
_COLUMN_FORMATS: tuple[str, ...] = (
    ("%d", "  %d", "  %.3f", "  %.2f", "  %d")
    + ("  %.6f",) * 6 + ("  %.3f",) * 2
    + ("  %.1f",) * 3 + ("  %.3f",) * 3
    + (" %.2f",) * len(OPENFACE_AU_COLUMNS)
)
_ROW_FORMAT: str = ",".join(_COLUMN_FORMATS)
_HEADER: str = ", ".join(OPENFACE_COLUMNS)

_NEUTRAL_GAZE = np.array([0.0, 0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
_NEUTRAL_POSE = np.array([0.0, 0.0, 500.0, 0.0, 0.0, 0.0])


def _column_or_default(values: np.ndarray | None, n: int, default: float | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a float array of length ``n`` (or ``default`` repeated); checks the length."""
    if values is None:
        return np.broadcast_to(np.asarray(default, dtype=np.float64), (n,) + np.shape(default)).copy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, au_values has {n}")
    return arr


def make_openface_csv(
    path: str | Path,
    au_values: np.ndarray,
    success: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    face_id: np.ndarray | None = None,
    frame: np.ndarray | None = None,
    fps: float = 30.0,
    *,
    timestamp: np.ndarray | None = None,
    gaze: np.ndarray | None = None,
    pose: np.ndarray | None = None,
) -> Path:
    """Write one OpenFace 2.x CSV (header and values with OpenFace's leading spaces).

    Args:
        au_values: ``(T, 35)`` in :data:`ALL_AU_COLUMNS` order (17 ``_r`` then 18 ``_c``).
        success, confidence, face_id: ``(T,)``; default 1, 0.98, 0.
        frame: ``(T,)`` 1-based frame numbers (may repeat for several faces); default ``1..T``.
        timestamp: ``(T,)`` seconds; default ``(frame - 1) / fps``.
        gaze: ``(T, 8)`` in :data:`GAZE_COLUMNS` order; default looking straight ahead.
        pose: ``(T, 6)`` in :data:`POSE_COLUMNS` order (mm, rad); default 50 cm in front.

    Example:
        >>> make_openface_csv("/tmp/x.csv", np.zeros((3, 35)))  # doctest: +SKIP
        PosixPath('/tmp/x.csv')
    """
    au = np.asarray(au_values, dtype=np.float64)
    if au.ndim != 2 or au.shape[1] != len(ALL_AU_COLUMNS):
        raise ValueError(f"au_values must be (T, {len(ALL_AU_COLUMNS)}) in ALL_AU_COLUMNS order, got {au.shape}")
    n = au.shape[0]
    frame_arr = _column_or_default(frame, n, 0.0, "frame") if frame is not None else np.arange(1, n + 1, dtype=np.float64)
    time_arr = _column_or_default(timestamp, n, 0.0, "timestamp") if timestamp is not None else (frame_arr - 1) / fps
    order = [ALL_AU_COLUMNS.index(c) for c in OPENFACE_AU_COLUMNS]
    table = np.column_stack(
        [
            frame_arr,
            _column_or_default(face_id, n, 0.0, "face_id"),
            time_arr,
            _column_or_default(confidence, n, 0.98, "confidence"),
            _column_or_default(success, n, 1.0, "success"),
            _column_or_default(gaze, n, _NEUTRAL_GAZE, "gaze").reshape(n, len(GAZE_COLUMNS)),
            _column_or_default(pose, n, _NEUTRAL_POSE, "pose").reshape(n, len(POSE_COLUMNS)),
            au[:, order],
        ]
    )
    # Round first (and add 0.0) so that no cell prints as "-0.00".
    decimals = np.array([_decimals(f) for f in _COLUMN_FORMATS])
    table = _round_columns(table, decimals) + 0.0
    body = "\n".join(_ROW_FORMAT % tuple(row) for row in table.tolist())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="\n") as fh:
        fh.write(_HEADER + "\n" + (body + "\n" if n else ""))
    return path


def _decimals(fmt: str) -> int:
    """Decimal places of a printf format (``"  %.3f"`` -> 3, ``"%d"`` -> 0)."""
    return int(fmt.split(".")[1][0]) if "." in fmt else 0


def _round_columns(table: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """Round every column of ``table`` to its own number of decimals."""
    scale = 10.0 ** decimals
    return np.round(table * scale) / scale
