"""Load a manifest's AU data into one long frame table for analysis (valid frames only).

Two layouts:

* video manifests (one row per video: OpenFace, OpenDBM, DAIC-WOZ files): every file goes through
  the content-keyed cache, frames with ``success == 0``, ``confidence < min_confidence`` or a NaN
  channel are dropped and counted, and each kept frame gets its normalised time ``t`` in [0, 1]
  (position of its frame number between the video's first and last frame);
* frame-level manifests (a ``row`` column, e.g. the AU severity CSV): every row is one frame of
  one CSV, read once; there is no time (``t`` is NaN). When every subject id is unique the file had
  no subject column, and ``subject_level`` is False: frames are then not independent samples.

Example:
    >>> data = load_frames("demo/manifest.csv", ["0", "1"], ["healthy", "depressed"], cache=None)  # doctest: +SKIP
    >>> data.frames.columns[:7].tolist()  # doctest: +SKIP
    ['video', 'subject_id', 'label', 'group', 'session', 'frame', 't']
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.au_loading import FrameMaskReport, load_au_table, valid_frames
from datamodules.cache import ArrayCache
from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.labels import encode_labels
from datamodules.manifest import load_manifest

META_COLUMNS: tuple[str, ...] = ("video", "subject_id", "label", "group", "session", "frame", "t")
"""Columns of :attr:`FrameData.frames` before the AU channels."""
SEVERITY_CACHE_NAMESPACE = "au-severity-v1"
"""Shared with :class:`datamodules.au_frames.AUFrameDataModule`: one parse serves both."""
FORMATS: tuple[str, ...] = ("auto", "openface", "opendbm", "daic-woz", "au-severity")


@dataclass
class FrameData:
    """Valid frames of every video in one table, plus what was dropped and why.

    Attributes:
        frames: ``video`` (int), ``subject_id``, ``label`` (class index), ``group`` (class name),
            ``session``, ``frame``, ``t`` (normalised time, NaN without time), then one float32
            column per channel in :attr:`channels`.
        channels: canonical AU channels present in every file (in ``ALL_AU_COLUMNS`` order).
        class_names: name of each class index.
        videos: one row per video: ``video, subject_id, label, group, session, path, frames, kept``.
        drops: summed frame-mask counts (``frames, kept, dropped_failed, ...``).
        has_time: False for frame-level data (no curves).
        subject_level: False when each subject id occurs once (frame-level data without subjects).
        source_format: ``"videos"`` or ``"au-severity"``.
        notes: things the report must say (channels left out, empty videos, ...).
    """

    frames: pd.DataFrame
    channels: list[str]
    class_names: list[str]
    videos: pd.DataFrame
    drops: dict[str, int]
    has_time: bool
    subject_level: bool
    source_format: str
    notes: list[str] = field(default_factory=list)


def normalised_time(frame: np.ndarray, first: int, last: int) -> np.ndarray:
    """Position of each frame number between the video's ``first`` and ``last`` frame, in [0, 1].

    Example:
        >>> normalised_time(np.array([1, 3, 5]), 1, 5).tolist()
        [0.0, 0.5, 1.0]
    """
    span = float(last - first)
    if span <= 0:
        return np.zeros(len(frame), dtype=np.float32)
    return ((np.asarray(frame, dtype=np.float64) - first) / span).astype(np.float32)


def subject_labels(manifest: pd.DataFrame, label_index: np.ndarray, source: str) -> None:
    """Fail when one subject's rows carry different labels (a subject must belong to one group)."""
    per_subject = pd.Series(label_index, index=manifest["subject_id"].to_numpy()).groupby(level=0).nunique()
    bad = per_subject[per_subject > 1].index.tolist()
    if bad:
        raise DataFormatError(f"{source}: subject(s) {bad[:5]} have videos with different labels")


def detect_format(manifest: pd.DataFrame, file_format: str) -> str:
    """``au-severity`` when asked or when the manifest has a ``row`` column; else the AU file format."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown format {file_format!r}; use one of {list(FORMATS)}")
    if file_format == "auto" and "row" in manifest.columns:
        return "au-severity"
    return file_format


def load_frames(
    manifest_path: str | Path,
    classes: Sequence[str | int],
    class_names: Sequence[str],
    cache: ArrayCache | None = None,
    min_confidence: float = 0.8,
    file_format: str = "auto",
    label_column: str = "label",
) -> FrameData:
    """Read the manifest and return :class:`FrameData` (labels outside ``classes`` are an error)."""
    if len(classes) != len(class_names):
        raise ValueError(f"{len(classes)} classes {list(classes)} but {len(class_names)} class names {list(class_names)}")
    source = str(manifest_path)
    manifest = load_manifest(manifest_path).reset_index(drop=True)
    label_index = encode_labels(manifest["label"], list(classes), source)
    cache = cache if cache is not None else ArrayCache(None)
    fmt = detect_format(manifest, file_format)
    if fmt == "au-severity":
        return _load_severity(manifest, label_index, list(class_names), cache, label_column, source)
    subject_labels(manifest, label_index, source)
    return _load_videos(manifest, label_index, list(class_names), cache, min_confidence, fmt)


def _video_block(
    path: str, cache: ArrayCache, fmt: str, min_confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, set[str], FrameMaskReport]:
    """``(values (T', 35) with NaN for absent channels, frame, t, available, report)`` of one file."""
    table = load_au_table(path, cache, fmt)
    available = [c for c in ALL_AU_COLUMNS if c in table.available]
    values, frame, report = valid_frames(table, available, min_confidence)
    full = np.full((len(values), len(ALL_AU_COLUMNS)), np.nan, dtype=np.float32)
    full[:, table.channel_index(available)] = values
    first, last = (int(table.frame[0]), int(table.frame[-1])) if table.num_frames else (0, 0)
    return full, frame, normalised_time(frame, first, last), set(available), report


def _load_videos(
    manifest: pd.DataFrame, label_index: np.ndarray, class_names: list[str], cache: ArrayCache,
    min_confidence: float, fmt: str,
) -> FrameData:
    blocks, metas, video_rows, notes = [], [], [], []
    total = FrameMaskReport()
    common: set[str] | None = None
    union: set[str] = set()
    sessions = _sessions(manifest)
    for i, row in manifest.iterrows():
        values, frame, t, available, report = _video_block(row["path"], cache, fmt, min_confidence)
        total = total + report
        common = available if common is None else common & available
        union |= available
        video_rows.append({
            "video": i, "subject_id": row["subject_id"], "label": int(label_index[i]),
            "group": class_names[label_index[i]], "session": sessions[i], "path": row["path"],
            "frames": report.frames, "kept": report.kept,
        })
        if report.kept == 0:
            notes.append(f"{row['path']}: no valid frame (all {report.frames} dropped); video left out")
            continue
        blocks.append(values)
        metas.append((i, frame, t))
    if not blocks:
        raise DataFormatError("no valid frame in any video of the manifest")
    channels = [c for c in ALL_AU_COLUMNS if c in (common or set())]
    left_out = sorted(union - set(channels), key=ALL_AU_COLUMNS.index)
    if left_out:
        notes.append(f"channels {left_out} are missing from some files and were left out of the analysis")
    videos = pd.DataFrame(video_rows)
    frames = _assemble(blocks, metas, videos, channels)
    drops = {k: int(v) for k, v in total.as_dict().items() if isinstance(v, int)}
    return FrameData(frames, channels, class_names, videos, drops, True, True, "videos", notes)


def _sessions(manifest: pd.DataFrame) -> list[str]:
    """The manifest's session per row, or the row's order within its subject (1-based)."""
    if "session" in manifest.columns and manifest["session"].notna().all():
        return [str(s) for s in manifest["session"]]
    return [str(k + 1) for k in manifest.groupby("subject_id").cumcount()]


def _assemble(
    blocks: list[np.ndarray], metas: list[tuple[int, np.ndarray, np.ndarray]], videos: pd.DataFrame,
    channels: list[str],
) -> pd.DataFrame:
    """Stack per-video blocks into the long frame table."""
    values = np.concatenate(blocks)[:, [ALL_AU_COLUMNS.index(c) for c in channels]]
    video = np.concatenate([np.full(len(f), i, dtype=np.int64) for i, f, _ in metas])
    info = videos.set_index("video").loc[video]
    frames = pd.DataFrame({
        "video": video,
        "subject_id": pd.Categorical(info["subject_id"].to_numpy()),
        "label": info["label"].to_numpy(dtype=np.int64),
        "group": pd.Categorical(info["group"].to_numpy()),
        "session": pd.Categorical(info["session"].to_numpy()),
        "frame": np.concatenate([f for _, f, _ in metas]).astype(np.int64),
        "t": np.concatenate([t for _, _, t in metas]).astype(np.float32),
    })
    return pd.concat([frames, pd.DataFrame(values, columns=channels)], axis=1)


def _severity_videos(frames: pd.DataFrame, keep: np.ndarray, path: str) -> pd.DataFrame:
    """One row per subject (its pseudo-video): frames listed and kept."""
    table = frames[["video", "subject_id", "label", "group"]].assign(kept=keep.astype(np.int64))
    videos = table.groupby("video", observed=True).agg(
        subject_id=("subject_id", "first"), label=("label", "first"), group=("group", "first"),
        frames=("kept", "size"), kept=("kept", "sum"),
    ).reset_index()
    videos["subject_id"] = videos["subject_id"].astype(str)
    videos["group"] = videos["group"].astype(str)
    return videos.assign(session="1", path=path)


def _read_severity_values(path: str, cache: ArrayCache, label_column: str) -> np.ndarray:
    """All 35 AU columns of one AU severity CSV (parsed once, then from the cache)."""
    from datamodules.io.au_severity import read_au_severity_csv

    def parse() -> dict[str, np.ndarray]:
        with warnings.catch_warnings():  # the leakage note is made by the caller, per manifest
            warnings.simplefilter("ignore", UserWarning)
            values, _, _ = read_au_severity_csv(path, label_column=label_column)
        return {"values": values.astype(np.float16)}

    return cache.get_or_compute(path, SEVERITY_CACHE_NAMESPACE, parse)["values"].astype(np.float32)


def _load_severity(
    manifest: pd.DataFrame, label_index: np.ndarray, class_names: list[str], cache: ArrayCache,
    label_column: str, source: str,
) -> FrameData:
    if "row" not in manifest.columns:
        raise DataFormatError(f"{source}: a frame-level (au-severity) manifest needs a 'row' column")
    channels = list(ALL_AU_COLUMNS)
    values = np.empty((len(manifest), len(channels)), dtype=np.float32)
    for path, rows in manifest.groupby("path").groups.items():
        table = _read_severity_values(str(path), cache, label_column)
        positions = manifest.loc[rows, "row"].to_numpy(dtype=np.int64)
        if positions.max() >= len(table) or positions.min() < 0:
            raise DataFormatError(f"{source}: row {positions.max()} is outside {path} ({len(table)} rows)")
        values[manifest.index.get_indexer(rows)] = table[positions]
    keep = ~np.isnan(values).any(axis=1)
    subjects = manifest["subject_id"].to_numpy()
    subject_level = not manifest["subject_id"].is_unique
    if subject_level:
        subject_labels(manifest, label_index, source)
    subject_codes = pd.Categorical(subjects)
    frames = pd.DataFrame({
        "video": subject_codes.codes.astype(np.int64),  # no videos: one pseudo-video per subject
        "subject_id": subject_codes,
        "label": label_index,
        "group": pd.Categorical(np.asarray(class_names, dtype=object)[label_index]),
        "session": pd.Categorical(np.full(len(manifest), "1", dtype=object)),
        "frame": manifest["row"].to_numpy(dtype=np.int64),
        "t": np.full(len(manifest), np.nan, dtype=np.float32),
    })
    frames = pd.concat([frames, pd.DataFrame(values, columns=channels)], axis=1)
    videos = _severity_videos(frames, keep, manifest["path"].iloc[0] if manifest["path"].nunique() == 1 else "")
    frames = frames[keep].reset_index(drop=True)
    drops = {"files": int(manifest["path"].nunique()), "frames": len(manifest), "kept": int(keep.sum()),
             "dropped_nan": int((~keep).sum())}
    notes = []
    if not subject_level:
        notes.append(
            "NO SUBJECT COLUMN: every manifest row has its own subject id, so statistics are computed over "
            "FRAMES. Frames of the same person are NOT independent: p-values and q-values are far too small "
            "and clusters may follow identity. Build the manifest with --group-column to test subjects."
        )
    return FrameData(frames, channels, class_names, videos, drops, False, subject_level, "au-severity", notes)
