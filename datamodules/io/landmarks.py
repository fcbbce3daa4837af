"""Facial-landmark sequences in one array form, and readers for OpenFace, DAIC-WOZ and OpenDBM files.

:class:`LandmarkSequence` holds one video's landmarks as ``points (T, P, 3)`` float32 with a
per-frame ``valid`` mask. Readers:

* :func:`read_openface_landmarks` -- OpenFace 2.x (and older) CSVs: 3D ``X_i, Y_i, Z_i`` in mm
  (camera coordinates, y down) or, with ``dims="2d"``, image ``x_i, y_i`` in pixels with z = 0;
* :func:`read_daic_woz_landmarks` -- DAIC-WOZ ``{pid}_CLNF_features3D.txt`` (``X0 .. Z67``);
* :func:`read_opendbm_landmarks` -- OpenDBM ``*_landmark_output.csv`` (``l0_x .. l67_y``: 2D
  pixels, no frame/confidence columns; frames are numbered ``1..T`` from the rows);
* :func:`load_landmarks` -- the ``.npz`` form written by :func:`save_landmarks` (also what the
  video landmark extractor writes, e.g. 468 MediaPipe points).

A frame is valid when the tracker reports success, its confidence is ``>= min_confidence`` and
all its coordinates are finite and not all zero. A file with no valid frame is returned (all
``valid`` False, ``notes["no_valid_frames"] = 1``) with a :class:`UserWarning`, so that callers
can skip and count it; malformed files raise :class:`DataFormatError` naming the file.

Example:
    >>> seq = read_landmark_file("subj01_timepoint01_openface.csv")  # doctest: +SKIP
    >>> seq.points.shape, int(seq.valid.sum()), seq.fps  # doctest: +SKIP
    ((158, 68, 3), 158, 30.0)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import DataFormatError
from datamodules.io.frame_alignment import column_as_float, estimate_fps, parse_frame_meta, select_frame_rows
from datamodules.io.frame_table import META_COLUMNS, read_frame_csv, read_header

NUM_POINTS_68 = 68
AXES: tuple[str, ...] = ("X", "Y", "Z")
NPZ_FORMAT_VERSION = 1
_NPZ_KEYS: tuple[str, ...] = ("points", "valid", "frame", "timestamp", "fps")


@dataclass
class LandmarkSequence:
    """Landmarks of one video, one face, sorted by frame number.

    Attributes:
        source: path of the file it was read from.
        points: ``(T, P, 3)`` float32 (x, y, z); z = 0 for 2D sources. Invalid frames may hold
            anything (zeros, NaN); only ``valid`` frames are guaranteed finite.
        valid: ``(T,)`` bool usable frames.
        frame: ``(T,)`` int64 frame numbers, strictly increasing.
        timestamp: ``(T,)`` float64 seconds (NaN where the source has none).
        fps: frames per second, ``None`` if unknown.
        notes: parse-time counts, e.g. ``rows_read``, ``valid_frames``, ``unsuccessful_frames``.

    Example:
        >>> s = LandmarkSequence("demo", np.zeros((2, 68, 3), np.float32), np.array([True, False]),
        ...                      np.array([1, 2]), np.array([0.0, 0.033]))
        >>> s.num_frames, s.num_points, s.num_valid
        (2, 68, 1)
    """

    source: str
    points: np.ndarray
    valid: np.ndarray
    frame: np.ndarray
    timestamp: np.ndarray
    fps: float | None = None
    notes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool)
        self.frame = np.asarray(self.frame, dtype=np.int64)
        self.timestamp = np.asarray(self.timestamp, dtype=np.float64)
        n = len(self.frame)
        if self.frame.ndim != 1:
            raise DataFormatError(f"{self.source}: frame must be 1-D, got shape {self.frame.shape}")
        if self.points.ndim != 3 or self.points.shape[0] != n or self.points.shape[2] != 3:
            raise DataFormatError(f"{self.source}: points shape {self.points.shape} != ({n}, P, 3)")
        for name in ("valid", "timestamp"):
            if getattr(self, name).shape != (n,):
                raise DataFormatError(f"{self.source}: {name} shape {getattr(self, name).shape} != ({n},)")
        if n > 1 and not (np.diff(self.frame) > 0).all():
            raise DataFormatError(f"{self.source}: frame numbers are not strictly increasing")
        if self.fps is not None and not (np.isfinite(self.fps) and self.fps > 0):
            raise DataFormatError(f"{self.source}: fps must be positive, got {self.fps!r}")
        if not np.isfinite(self.points[self.valid]).all():
            raise DataFormatError(f"{self.source}: a valid frame has non-finite coordinates")

    @property
    def num_frames(self) -> int:
        return len(self.frame)

    @property
    def num_points(self) -> int:
        return self.points.shape[1]

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())


# ------------------------------------------------------------------------------------------------
# CSV readers
# ------------------------------------------------------------------------------------------------


def _point_spellings(axes: dict[str, Callable[[int], tuple[str, ...]]], num_points: int) -> dict[str, tuple[str, ...]]:
    """Canonical ``X_i`` -> the source spellings accepted for it (first one is shown in errors)."""
    return {f"{axis}_{i}": spell(i) for axis, spell in axes.items() for i in range(num_points)}


def _missing_message(path: str | Path, missing: list[str], total: int, limit: int = 12) -> str:
    shown = missing[:limit] + ([f"... {len(missing) - limit} more"] if len(missing) > limit else [])
    return f"{path}: missing landmark columns {shown} ({len(missing)} of {total})"


def _points_array(df: pd.DataFrame, columns: list[str], source: str, shown: dict[str, str]) -> np.ndarray:
    """``(n, len(columns))`` float64; numeric columns fast, others parsed cell by cell (errors name the cell)."""
    block = df[columns]
    if all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
        return block.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.column_stack([column_as_float(df, c, source, shown[c]) for c in columns])


def read_landmark_csv(
    path: str | Path,
    axes: dict[str, Callable[[int], tuple[str, ...]]],
    num_points: int = NUM_POINTS_68,
    min_confidence: float = 0.8,
    fps: float | None = None,
) -> LandmarkSequence:
    """Read a per-frame landmark CSV; ``axes`` maps ``"X"/"Y"/"Z"`` to the spellings of point ``i``.

    Axes left out (e.g. ``"Z"`` for 2D files) are zero. Meta columns ``frame, face_id, timestamp,
    confidence, success`` are used when present. ``fps`` overrides the estimate from timestamps
    (and fills timestamps a file lacks).

    Example:
        >>> read_landmark_csv("a.csv", {"X": lambda i: (f"x_{i}",), "Y": lambda i: (f"y_{i}",)})  # doctest: +SKIP
    """
    source = str(path)
    spellings = _point_spellings(axes, num_points)
    name_map = {c: c for c in META_COLUMNS}
    name_map.update({src: canon for canon, srcs in spellings.items() for src in srcs})
    header = set(read_header(path))
    missing = [srcs[0] for canon, srcs in spellings.items() if not header.intersection(srcs)]
    if missing:
        raise DataFormatError(_missing_message(path, missing, len(spellings)))
    df = read_frame_csv(path, name_map)
    shown = {canon: next(s for s in srcs if s in header) for canon, srcs in spellings.items()}
    meta = parse_frame_meta(df, source)
    flat = _points_array(df, list(spellings), source, shown)
    n = len(df)
    points = np.zeros((n, num_points, 3), dtype=np.float64)
    for k, axis in enumerate(AXES):
        if axis in axes:
            j = list(axes).index(axis)
            points[:, :, k] = flat[:, j * num_points : (j + 1) * num_points]
    rows, notes = select_frame_rows(meta)
    timestamp = meta.timestamp[rows]
    if meta.timestamp_missing and fps is not None:
        timestamp = (meta.frame[rows] - 1) / fps
    seq_fps = fps if fps is not None else estimate_fps(meta.frame[rows], timestamp)
    valid, valid_notes = frame_validity(points[rows], meta.success[rows], meta.confidence[rows], min_confidence)
    notes.update(valid_notes)
    notes["frame_from_row"] = int(meta.frame_from_row)
    notes["timestamp_missing"] = int(meta.timestamp_missing)
    return _finish(LandmarkSequence(source, points[rows], valid, meta.frame[rows], timestamp, seq_fps, notes))


def frame_validity(
    points: np.ndarray, success: np.ndarray, confidence: np.ndarray, min_confidence: float
) -> tuple[np.ndarray, dict[str, int]]:
    """Valid = success & confidence >= min_confidence & finite & not all-zero; counts per reason.

    Example:
        >>> v, notes = frame_validity(np.ones((3, 2, 3)), np.array([1, 1, 0], bool), np.array([0.9, 0.5, 0.9]), 0.8)
        >>> v.tolist(), notes["low_confidence_frames"], notes["unsuccessful_frames"]
        ([True, False, False], 1, 1)
    """
    ok_conf = confidence >= min_confidence
    finite = np.isfinite(points).all(axis=(1, 2))
    nonzero = (np.nan_to_num(points) != 0).any(axis=(1, 2))
    valid = success & ok_conf & finite & nonzero
    notes = {
        "unsuccessful_frames": int((~success).sum()),
        "low_confidence_frames": int((success & ~ok_conf).sum()),
        "bad_coordinate_frames": int((success & ok_conf & ~(finite & nonzero)).sum()),
        "valid_frames": int(valid.sum()),
    }
    return valid, notes


def _finish(seq: LandmarkSequence) -> LandmarkSequence:
    """Warn (and note) when a sequence has no valid frame; zero non-finite invalid frames."""
    seq.points[~np.isfinite(seq.points)] = 0.0
    if seq.num_valid == 0:
        seq.notes["no_valid_frames"] = 1
        warnings.warn(f"{seq.source}: no valid landmark frame ({seq.num_frames} rows)", UserWarning, stacklevel=3)
    return seq


def read_openface_landmarks(path: str | Path, min_confidence: float = 0.8, dims: str = "3d") -> LandmarkSequence:
    """OpenFace CSV -> 68 landmarks: ``dims="3d"`` uses ``X_i, Y_i, Z_i`` (mm), ``"2d"`` ``x_i, y_i`` (px, z = 0).

    Example:
        >>> read_openface_landmarks("subj01_timepoint01_openface.csv").points.shape  # doctest: +SKIP
        (158, 68, 3)
    """
    if dims == "3d":
        axes = {a: (lambda i, a=a: (f"{a}_{i}",)) for a in AXES}
    elif dims == "2d":
        axes = {a: (lambda i, a=a: (f"{a.lower()}_{i}",)) for a in AXES[:2]}
    else:
        raise ValueError(f"dims must be '3d' or '2d', got {dims!r}")
    return read_landmark_csv(path, axes, min_confidence=min_confidence)


def read_daic_woz_landmarks(path: str | Path, min_confidence: float = 0.8) -> LandmarkSequence:
    """DAIC-WOZ ``{pid}_CLNF_features3D.txt`` (``frame, timestamp, confidence, success, X0..Z67``; ``X_0`` also accepted)."""
    axes = {a: (lambda i, a=a: (f"{a}{i}", f"{a}_{i}")) for a in AXES}
    return read_landmark_csv(path, axes, min_confidence=min_confidence)


def read_opendbm_landmarks(path: str | Path, min_confidence: float = 0.8, fps: float | None = None) -> LandmarkSequence:
    """OpenDBM ``*_landmark_output.csv``: ``l{i}_x, l{i}_y`` (pixels; ``l{i}_z`` used if present).

    The file has no frame/timestamp/confidence columns (pose columns are ignored): frames are
    ``1..T``, timestamps ``(frame - 1) / fps`` when ``fps`` is given, else NaN.
    """
    has_z = "l0_z" in read_header(path)
    axes = {a: (lambda i, a=a: (f"l{i}_{a.lower()}",)) for a in (AXES if has_z else AXES[:2])}
    return read_landmark_csv(path, axes, min_confidence=min_confidence, fps=fps)


# ------------------------------------------------------------------------------------------------
# npz form
# ------------------------------------------------------------------------------------------------


def save_landmarks(seq: LandmarkSequence, path: str | Path) -> Path:
    """Write ``seq`` as a compressed ``.npz`` (points, valid, frame, timestamp, fps, source, notes).

    Example:
        >>> save_landmarks(seq, "/tmp/v.npz")  # doctest: +SKIP
        PosixPath('/tmp/v.npz')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        points=seq.points.astype(np.float32),
        valid=seq.valid,
        frame=seq.frame,
        timestamp=seq.timestamp,
        fps=np.float64(np.nan if seq.fps is None else seq.fps),
        source=np.str_(seq.source),
        note_keys=np.array(list(seq.notes), dtype=np.str_),
        note_values=np.array(list(seq.notes.values()), dtype=np.int64),
        format_version=np.int64(NPZ_FORMAT_VERSION),
    )
    return path


def load_landmarks(path: str | Path) -> LandmarkSequence:
    """Read a ``.npz`` written by :func:`save_landmarks`; ``source`` becomes ``path``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _NPZ_KEYS if k not in data.files]
            if missing:
                raise DataFormatError(f"{path}: not a landmark npz, missing arrays {missing}; it has {data.files}")
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{path}: cannot read npz ({exc})") from exc
    fps = float(arrays["fps"])
    keys = arrays.get("note_keys", np.array([], dtype=np.str_))
    values = arrays.get("note_values", np.array([], dtype=np.int64))
    seq = LandmarkSequence(
        source=str(path),
        points=arrays["points"],
        valid=arrays["valid"],
        frame=arrays["frame"],
        timestamp=arrays["timestamp"],
        fps=None if np.isnan(fps) else fps,
        notes={str(k): int(v) for k, v in zip(keys, values)},
    )
    return _finish(seq)


# ------------------------------------------------------------------------------------------------
# Dispatch
# ------------------------------------------------------------------------------------------------

READERS: dict[str, Callable[..., LandmarkSequence]] = {
    "openface": read_openface_landmarks,
    "openface-2d": lambda path, min_confidence=0.8: read_openface_landmarks(path, min_confidence, dims="2d"),
    "daic-woz": read_daic_woz_landmarks,
    "opendbm": read_opendbm_landmarks,
    "npz": lambda path, min_confidence=0.8: load_landmarks(path),
}
FORMATS: tuple[str, ...] = ("auto", *READERS)


def sniff_landmark_format(path: str | Path) -> str:
    """``npz`` by suffix; else by header: ``l0_x`` -> opendbm, ``X0`` (or a ``_CLNF_features3D`` name)
    -> daic-woz, ``X_0`` -> openface, ``x_0`` -> openface-2d.

    Example:
        >>> sniff_landmark_format("300_P/300_CLNF_features3D.txt")  # doctest: +SKIP
        'daic-woz'
    """
    if Path(path).suffix == ".npz":
        return "npz"
    if "_CLNF_features3D" in Path(path).name:
        return "daic-woz"
    header = set(read_header(path))
    for column, fmt in (("l0_x", "opendbm"), ("X0", "daic-woz"), ("X_0", "openface"), ("x_0", "openface-2d")):
        if column in header:
            return fmt
    raise DataFormatError(f"{path}: no landmark columns found (looked for l0_x, X0, X_0, x_0)")


def read_landmark_file(path: str | Path, fmt: str = "auto", min_confidence: float = 0.8) -> LandmarkSequence:
    """Read any supported landmark file; ``fmt`` is one of :data:`FORMATS`.

    Example:
        >>> read_landmark_file("300_CLNF_features3D.txt").num_points  # doctest: +SKIP
        68
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown landmark format {fmt!r}; use one of {list(FORMATS)}")
    return READERS[sniff_landmark_format(path) if fmt == "auto" else fmt](path, min_confidence=min_confidence)
