"""Shared reading and post-processing of per-frame AU CSVs (OpenFace, OpenDBM, DAIC-WOZ).

Every AU reader maps its column names onto canonical ones (``frame, face_id, timestamp,
confidence, success`` and :data:`ALL_AU_COLUMNS`) and hands the table to
:func:`frame_table_to_au_table`, which picks the main face, sorts and de-duplicates frames,
validates numbers and clips finite intensities to [0, 5] (``±inf`` cells are kept, so that
:func:`datamodules.au_loading.valid_frames` drops their frames and counts them as non-finite).

Example:
    >>> df = pd.DataFrame({"frame": [2, 1], "AU01_r": [-0.5, 1.0]})
    >>> t = frame_table_to_au_table(df, "demo.csv")
    >>> t.frame.tolist(), float(t.values[0, 0]), t.notes["values_clipped"]
    ([1, 2], 1.0, 1)
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import (
    ALL_AU_COLUMNS,
    INTENSITY_COLUMNS,
    INTENSITY_RANGE,
    PRESENCE_COLUMNS,
    AUTable,
    DataFormatError,
)

META_COLUMNS: tuple[str, ...] = ("frame", "face_id", "timestamp", "confidence", "success")
CANONICAL_NAMES: dict[str, str] = {c: c for c in META_COLUMNS + ALL_AU_COLUMNS}
"""Identity source->canonical name map (OpenFace / DAIC-WOZ spelling)."""


def read_header(path: str | Path) -> list[str]:
    """Stripped column names from the first line of a CSV; :class:`DataFormatError` if empty."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc})") from exc
    if not line.strip():
        raise DataFormatError(f"{path}: file is empty (no header line)")
    return [c.strip() for c in next(csv.reader([line]))]


def read_frame_csv(path: str | Path, name_map: Mapping[str, str]) -> pd.DataFrame:
    """Read only the columns named in ``name_map`` (source -> canonical); return canonical names.

    Names are matched after stripping spaces; values are read with ``skipinitialspace``.
    """
    header = read_header(path)
    wanted = {c for c in header if c in name_map}
    try:
        df = pd.read_csv(
            path,
            usecols=lambda c: c.strip() in wanted,
            skipinitialspace=True,
            encoding="utf-8-sig",
            engine="c",
            low_memory=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot parse CSV ({exc})") from exc
    df.columns = [name_map[str(c).strip()] for c in df.columns]
    return df.loc[:, ~df.columns.duplicated()]


def read_au_csv(path: str | Path, name_map: Mapping[str, str]) -> AUTable:
    """Read a per-frame AU CSV whose names ``name_map`` maps onto canonical ones."""
    df = read_frame_csv(path, name_map)
    display = {canon: src for src, canon in name_map.items()}
    return frame_table_to_au_table(df, str(path), display)


def _where(source: str, i: int) -> str:
    return f"{source}: data row {i + 1} (file line {i + 2})"


def _to_float(df: pd.DataFrame, col: str, source: str, shown: str) -> np.ndarray:
    """Column as float64; unparseable cells raise, naming column and row. Empty cells -> NaN."""
    s = df[col]
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    text = s.astype(object).where(s.notna(), None)
    stripped = pd.Series([t.strip() if isinstance(t, str) else t for t in text], dtype=object)
    stripped = stripped.replace("", None)
    num = pd.to_numeric(stripped, errors="coerce")
    bad = np.flatnonzero(num.isna().to_numpy() & stripped.notna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(
            f"{_where(source, i)}, column '{shown}': cannot parse {text.iloc[i]!r} as a number "
            f"({bad.size} bad cell(s) in this column)"
        )
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _main_face(face: np.ndarray, success: np.ndarray, confidence: np.ndarray) -> float:
    """Face id with most successful rows; ties -> highest mean confidence, then lowest id."""
    stats = pd.DataFrame({"face": face, "ok": success, "conf": confidence}).groupby("face", dropna=False)
    table = pd.DataFrame({"ok": stats["ok"].sum(), "conf": stats["conf"].mean()}).reset_index()
    table = table.sort_values(["ok", "conf", "face"], ascending=[False, False, True], na_position="last")
    return table["face"].iloc[0]


def frame_table_to_au_table(
    df: pd.DataFrame, source: str, source_names: Mapping[str, str] | None = None
) -> AUTable:
    """Turn a frame table with canonical column names into an :class:`AUTable`.

    ``source_names`` maps canonical -> the file's own names, used in error messages only.
    Raises :class:`DataFormatError` (naming ``source``) for: no AU column, no ``frame`` column,
    no rows, unparseable numbers, missing frame numbers, AU_c values other than 0/1.
    """
    shown = dict(source_names or {})

    def name(c: str) -> str:
        return shown.get(c, c)

    au_cols = [c for c in ALL_AU_COLUMNS if c in df.columns]
    if not au_cols:
        expected = [name(c) for c in ALL_AU_COLUMNS]
        raise DataFormatError(f"{source}: no AU columns found; expected some of {expected}")
    if "frame" not in df.columns:
        raise DataFormatError(f"{source}: missing column '{name('frame')}'; it has {list(df.columns)}")
    n = len(df)
    if n == 0:
        raise DataFormatError(f"{source}: no data rows")
    df = df.reset_index(drop=True)

    frame_f = _to_float(df, "frame", source, name("frame"))
    bad = np.flatnonzero(~np.isfinite(frame_f) | (frame_f != np.round(frame_f)))
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(f"{_where(source, i)}, column '{name('frame')}': frame number {frame_f[i]!r} is not an integer")
    values = {c: _to_float(df, c, source, name(c)) for c in au_cols}
    for c in au_cols:
        if c in PRESENCE_COLUMNS:
            v = values[c]
            bad = np.flatnonzero(np.isfinite(v) & (v != 0.0) & (v != 1.0))  # NaN/±inf: frames dropped later
            if bad.size:
                i = int(bad[0])
                raise DataFormatError(f"{_where(source, i)}, column '{name(c)}': presence must be 0 or 1, got {v[i]!r}")
    meta = {c: _to_float(df, c, source, name(c)) for c in ("timestamp", "confidence", "success", "face_id") if c in df.columns}
    success = meta["success"] > 0.5 if "success" in meta else np.ones(n, dtype=bool)
    confidence = meta.get("confidence", np.ones(n))
    timestamp = meta.get("timestamp", np.full(n, np.nan))
    notes = {"rows_read": n, "other_face_rows_dropped": 0, "duplicate_frames_dropped": 0, "values_clipped": 0,
             "nonfinite_values": 0}

    keep = np.ones(n, dtype=bool)
    if "face_id" in meta and pd.Series(meta["face_id"]).nunique(dropna=False) > 1:
        main = _main_face(meta["face_id"], success, confidence)
        keep = np.isnan(meta["face_id"]) if pd.isna(main) else meta["face_id"] == main
        notes["other_face_rows_dropped"] = int((~keep).sum())
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(frame_f[idx], kind="stable")]
    first = np.r_[True, np.diff(frame_f[idx]) != 0]
    notes["duplicate_frames_dropped"] = int((~first).sum())
    idx = idx[first]

    out = np.full((len(idx), len(ALL_AU_COLUMNS)), np.nan, dtype=np.float32)
    lo, hi = INTENSITY_RANGE
    for j, c in enumerate(ALL_AU_COLUMNS):
        if c not in values:
            continue
        v = values[c][idx]
        if c in INTENSITY_COLUMNS:  # ±inf is no intensity: kept, so that its frame is dropped and counted
            finite = np.isfinite(v)
            notes["values_clipped"] += int((finite & ((v < lo) | (v > hi))).sum())
            v = np.where(finite, np.clip(v, lo, hi), v)
        notes["nonfinite_values"] += int(np.isinf(v).sum())
        out[:, j] = v
    notes["unsuccessful_frames"] = int((~success[idx]).sum())
    if "timestamp" not in meta:
        notes["timestamp_missing"] = 1
    return AUTable(
        source=source,
        values=out,
        frame=frame_f[idx].astype(np.int64),
        timestamp=timestamp[idx].astype(np.float64),
        confidence=confidence[idx].astype(np.float32),
        success=success[idx].astype(bool),
        available=tuple(au_cols),
        notes=notes,
    )
