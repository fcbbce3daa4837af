"""Frame-table helpers shared by per-frame readers: parse meta columns, pick the main face,
sort and de-duplicate frames, estimate the frame rate.

These reuse the private helpers of :mod:`datamodules.io.frame_table` (``_to_float``,
``_main_face``) and follow the same rules as :func:`~datamodules.io.frame_table.frame_table_to_au_table`:
the main face is the one with most successful rows; rows are sorted by frame number and the
first row of a repeated frame is kept.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"frame": [2, 1, 1], "face_id": [0, 0, 1], "success": [1, 1, 0]})
    >>> meta = parse_frame_meta(df, "demo.csv")
    >>> rows, notes = select_frame_rows(meta)
    >>> rows.tolist(), notes["other_face_rows_dropped"]
    ([1, 0], 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from datamodules.io.au_table import DataFormatError
from datamodules.io.frame_table import _main_face, _to_float, _where

WINDOWS_NAN_TOKENS: tuple[str, ...] = (
    "-1.#IND", "1.#IND", "-1.#QNAN", "1.#QNAN", "-nan(ind)", "nan(ind)", "-1.#INF", "1.#INF",
)
"""NaN/Inf spellings written by MSVC builds of OpenFace/CLNF (as in some DAIC-WOZ files); read as NaN."""


@dataclass
class FrameMeta:
    """Parsed per-row meta columns of a frame table (length ``n`` each).

    ``frame`` comes from the file, or is ``1..n`` when the file has no ``frame`` column (see
    ``frame_from_row``); ``face_id`` is ``None`` when the file has no such column; missing
    ``success``/``confidence`` default to True/1.0 and a missing ``timestamp`` to NaN.
    """

    frame: np.ndarray
    timestamp: np.ndarray
    confidence: np.ndarray
    success: np.ndarray
    face_id: np.ndarray | None
    frame_from_row: bool = False
    timestamp_missing: bool = False


def column_as_float(df: pd.DataFrame, col: str, source: str, shown: str | None = None) -> np.ndarray:
    """``df[col]`` as float64 (MSVC NaN tokens -> NaN); unparseable cells raise naming file, row, column."""
    s = df[col]
    if not pd.api.types.is_numeric_dtype(s.dtype):
        s = s.astype(object).map(lambda v: np.nan if isinstance(v, str) and v.strip() in WINDOWS_NAN_TOKENS else v)
        df = pd.DataFrame({col: s})
    return _to_float(df, col, source, shown or col)


def parse_frame_meta(df: pd.DataFrame, source: str, shown: Mapping[str, str] | None = None) -> FrameMeta:
    """Parse ``frame, timestamp, confidence, success, face_id`` (canonical names) of ``df``.

    Raises :class:`DataFormatError` for no rows, unparseable cells or non-integer frame numbers.
    """
    names = dict(shown or {})
    n = len(df)
    if n == 0:
        raise DataFormatError(f"{source}: no data rows")
    df = df.reset_index(drop=True)
    if "frame" in df.columns:
        frame = column_as_float(df, "frame", source, names.get("frame"))
        bad = np.flatnonzero(~np.isfinite(frame) | (frame != np.round(frame)))
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(
                f"{_where(source, i)}, column '{names.get('frame', 'frame')}': frame number {frame[i]!r} is not an integer"
            )
    else:
        frame = np.arange(1, n + 1, dtype=np.float64)
    meta = {c: column_as_float(df, c, source, names.get(c)) for c in ("timestamp", "confidence", "success", "face_id") if c in df.columns}
    return FrameMeta(
        frame=frame.astype(np.int64),
        timestamp=meta.get("timestamp", np.full(n, np.nan)),
        confidence=meta.get("confidence", np.ones(n)),
        success=meta["success"] > 0.5 if "success" in meta else np.ones(n, dtype=bool),
        face_id=meta.get("face_id"),
        frame_from_row="frame" not in df.columns,
        timestamp_missing="timestamp" not in df.columns,
    )


def select_frame_rows(meta: FrameMeta) -> tuple[np.ndarray, dict[str, int]]:
    """Row indices of the main face, sorted by frame, first row of each frame kept; plus counts.

    Notes: ``rows_read``, ``other_face_rows_dropped``, ``duplicate_frames_dropped``.
    """
    n = len(meta.frame)
    notes = {"rows_read": n, "other_face_rows_dropped": 0, "duplicate_frames_dropped": 0}
    keep = np.ones(n, dtype=bool)
    face = meta.face_id
    if face is not None and pd.Series(face).nunique(dropna=False) > 1:
        main = _main_face(face, meta.success, meta.confidence)
        keep = np.isnan(face) if pd.isna(main) else face == main
        notes["other_face_rows_dropped"] = int((~keep).sum())
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(meta.frame[idx], kind="stable")]
    first = np.r_[True, np.diff(meta.frame[idx]) != 0]
    notes["duplicate_frames_dropped"] = int((~first).sum())
    return idx[first], notes


def estimate_fps(frame: np.ndarray, timestamp: np.ndarray) -> float | None:
    """Frames per second from the first and last rows with a finite timestamp; ``None`` if unknown.

    Example:
        >>> estimate_fps(np.array([1, 2, 158]), np.array([0.0, 0.033, 5.233]))
        30.002
    """
    ok = np.flatnonzero(np.isfinite(timestamp))
    if ok.size < 2:
        return None
    df = float(frame[ok[-1]] - frame[ok[0]])
    dt = float(timestamp[ok[-1]] - timestamp[ok[0]])
    if df <= 0 or dt <= 0:
        return None
    return round(df / dt, 3)
