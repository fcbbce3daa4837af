"""The views of a multimodal video (AUs, landmarks, face crops): manifest columns, loading, alignment.

Each view of a video is read (through the content-keyed cache) into a :class:`ViewTrack`: the frame numbers and
timestamps the file lists, which of them are valid (AUs: tracker success and confidence, finite values, as
:func:`~datamodules.au_loading.valid_frames`; landmarks: the reader's ``valid`` mask; faces: the crop exists and
decodes, or a face was found in the video frame) and the data of the valid frames only. :func:`align` puts the
tracks of one video on a common timeline (the sorted union of their frame numbers, or of their timestamps matched
within half a frame period) and gives, per view, the row of its data at each timeline frame (-1: none).

Example:
    >>> nan = np.full(3, np.nan)
    >>> tracks = {"aus": ViewTrack(np.array([1, 2, 3]), nan, np.array([1, 1, 0], bool), np.zeros((2, 1))),
    ...           "faces": ViewTrack(np.array([2, 4]), nan[:2], np.array([1, 1], bool), np.zeros((2, 1)))}
    >>> timeline = align(tracks)
    >>> timeline.frame.tolist(), timeline.rows["aus"].tolist(), timeline.rows["faces"].tolist()
    ([1, 2, 3, 4], [0, 1, -1, -1], [-1, 0, -1, 1])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.au_loading import load_au_table, valid_frames
from datamodules.cache import ArrayCache
from datamodules.io.au_table import DataFormatError
from datamodules.multimodal_faces import VideoFaceCropper, is_video, load_faces

VIEWS: tuple[str, ...] = ("aus", "landmarks", "faces")
VIEW_COLUMNS: dict[str, str] = {"aus": "au_path", "landmarks": "landmarks_path", "faces": "faces_path"}
LANDMARKS_CACHE_VERSION = 1


def resolve_views(views: list[str] | tuple[str, ...]) -> list[str]:
    """The configured views in canonical order (:data:`VIEWS`); unknown, repeated or no view is an error.

    >>> resolve_views(["faces", "aus"])
    ['aus', 'faces']
    """
    views = list(views)
    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views or len(set(views)) != len(views):
        raise ValueError(f"views must be a non-empty subset of {list(VIEWS)} without repeats, got {views}")
    return [v for v in VIEWS if v in views]


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip()


def view_paths(table: pd.DataFrame, manifest: str | Path, views: list[str]) -> dict[str, list[str | None]]:
    """Per view, each row's absolute file path, or ``None`` where the cell is blank (the video lacks the view).

    ``aus`` comes from ``au_path`` or, without that column, from ``path``. A configured view whose column the
    manifest lacks is a :class:`DataFormatError` naming the manifest and the column. Relative paths are relative
    to the manifest's folder.
    """
    root = Path(manifest).parent
    out: dict[str, list[str | None]] = {}
    for view in views:
        column = VIEW_COLUMNS[view]
        if column not in table.columns:
            if view == "aus":
                out[view] = table["path"].astype(str).tolist()
                continue
            raise DataFormatError(f"manifest {manifest}: view {view!r} is configured but the manifest has no "
                                  f"{column!r} column (it has {list(table.columns)}); add it or drop the view")
        cells = [None if _blank(v) else Path(str(v).strip()) for v in table[column]]
        out[view] = [None if c is None else str(c if c.is_absolute() else root / c) for c in cells]
    return out


@dataclass
class ViewTrack:
    """One view of one video on its own frames.

    Attributes:
        frame: ``(n,)`` int64 frame numbers the file lists, increasing.
        timestamp: ``(n,)`` float64 seconds (NaN where unknown).
        valid: ``(n,)`` bool usable frames.
        data: ``(n_valid, ...)`` the valid frames' values (AUs ``(C,)`` float32, points ``(P, 3)`` float32,
            crops ``(S, S, 3)`` uint8).
        counts: frame counts for the data report (summed over videos).
    """

    frame: np.ndarray
    timestamp: np.ndarray
    valid: np.ndarray
    data: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)


@contextmanager
def reading(view: str, path: str) -> Iterator[None]:
    """Turn any failure to read ``path`` into a :class:`DataFormatError` that names the file and the view."""
    try:
        yield
    except DataFormatError as exc:
        if path in str(exc):
            raise
        raise DataFormatError(f"{path} ({view} file): {exc}") from exc
    except Exception as exc:  # noqa: BLE001 (parsers raise many types: ParserError, UnicodeDecodeError, OSError, ...)
        raise DataFormatError(f"{path}: cannot read this {view} file ({type(exc).__name__}: {exc})") from exc


class ViewLoader:
    """Reads the views of videos with one run's settings (see :class:`~datamodules.multimodal.MultimodalDataModule`)."""

    def __init__(self, cache: ArrayCache, channels: list[str], min_confidence: float, file_format: str,
                 landmark_format: str, face_size: int, cropper: VideoFaceCropper) -> None:
        self.cache, self.channels, self.min_confidence = cache, channels, min_confidence
        self.file_format, self.landmark_format = file_format, landmark_format
        self.face_size, self.cropper = face_size, cropper
        self.video_sources = 0  # face sources that were videos (so the detector mode matters)

    def load(self, view: str, path: str) -> ViewTrack:
        """The :class:`ViewTrack` of ``view`` from ``path``; a file that cannot be read raises naming it."""
        if view != "faces" and not Path(path).is_file():
            raise DataFormatError(f"{path}: the {view} file does not exist")
        with reading(view, path):
            return {"aus": self._aus, "landmarks": self._landmarks, "faces": self._faces}[view](path)

    def _aus(self, path: str) -> ViewTrack:
        table = load_au_table(path, self.cache, self.file_format)
        values, kept, report = valid_frames(table, self.channels, self.min_confidence)
        counts = {k: v for k, v in report.as_dict().items() if k != "files"}
        return ViewTrack(table.frame, table.timestamp, np.isin(table.frame, kept), values, counts)

    def _landmarks(self, path: str) -> ViewTrack:
        from datamodules.io.landmarks import read_landmark_file
        from datamodules.preprocessing.normalize import normalize_sequence

        def compute() -> dict[str, np.ndarray]:
            seq = read_landmark_file(path, fmt=self.landmark_format, min_confidence=self.min_confidence)
            if seq.num_valid:
                try:
                    seq = normalize_sequence(seq)  # centre + inter-ocular scale, per video
                except ValueError as exc:  # a point set without known eye points
                    raise DataFormatError(f"{path}: {exc} (landmarks are scaled by the inter-ocular distance)") from exc
            return {"points": seq.points[seq.valid].astype(np.float32), "valid": seq.valid, "frame": seq.frame,
                    "timestamp": seq.timestamp}

        namespace = f"mm-landmarks-v{LANDMARKS_CACHE_VERSION}-{self.landmark_format}-conf{self.min_confidence}"
        arrays = self.cache.get_or_compute(path, namespace, compute)
        valid = arrays["valid"].astype(bool)
        counts = {"frames": len(valid), "kept": int(valid.sum()), "dropped_invalid": int((~valid).sum())}
        return ViewTrack(arrays["frame"], arrays["timestamp"], valid, arrays["points"], counts)

    def _faces(self, path: str) -> ViewTrack:
        self.video_sources += is_video(path)
        arrays = load_faces(path, self.cache, self.face_size, self.cropper)
        valid = arrays["valid"].astype(bool)
        counts = {"frames": len(valid), "kept": int(valid.sum()),
                  "crops_undecodable": int(arrays["note_crops_undecodable"]),
                  "no_face_detected": int(arrays["note_no_face_detected"])}
        return ViewTrack(arrays["frame"], arrays["timestamp"], valid, arrays["crops"], counts)


# ---- alignment --------------------------------------------------------------------------------
@dataclass
class Timeline:
    """One video's common timeline: ``frame (L,)`` (frame numbers, or with timestamp alignment the first frame
    number matched at each point), and per view ``rows[view] (L,)``: the row of ``track.data`` at each timeline
    frame, -1 where the view has no valid frame there."""

    frame: np.ndarray
    rows: dict[str, np.ndarray]

    @property
    def length(self) -> int:
        return len(self.frame)


def _rows(track: ViewTrack, positions: np.ndarray, length: int) -> np.ndarray:
    rows = np.full(length, -1, dtype=np.int64)
    rows[positions[track.valid]] = np.arange(int(track.valid.sum()))
    return rows


def align(tracks: dict[str, ViewTrack]) -> Timeline:
    """Align on frame numbers: the timeline is the sorted union of the tracks' frame numbers."""
    frame = np.unique(np.concatenate([t.frame for t in tracks.values()])) if tracks else np.zeros(0, np.int64)
    return Timeline(frame, {v: _rows(t, np.searchsorted(frame, t.frame), len(frame)) for v, t in tracks.items()})


def _frame_clock(tracks: dict[str, ViewTrack], sources: dict[str, str]) -> tuple[float, float]:
    """``(t0, seconds per frame)``: the frame period is the median time step per frame step within each timed
    view; ``time = t0 + frame * period`` follows the first view (in view order) that has timestamps."""
    steps, t0 = [], None
    for track in tracks.values():
        ok = np.isfinite(track.timestamp)
        frame, stamp = track.frame[ok].astype(np.float64), track.timestamp[ok]
        if len(frame) < 2:
            continue
        steps.append(np.diff(stamp) / np.diff(frame))
        if t0 is None:
            t0 = stamp
            reference = frame
    if not steps:
        raise DataFormatError(f"align_on: timestamp needs timestamps (two or more frames) in one of the video's "
                              f"files; none has them: {sorted(sources.values())}")
    period = float(np.median(np.concatenate(steps)))
    return float(np.median(t0 - reference * period)), period


def align_timestamps(tracks: dict[str, ViewTrack], sources: dict[str, str]) -> Timeline:
    """Align on timestamps: frames of different views whose times differ by less than half a frame period are one
    timeline point (a view's frames without a time, e.g. crop folders, get one from the video's other files through
    the frame numbers); the timeline is the sorted union of the points."""
    t0, period = _frame_clock(tracks, sources)
    if not period > 0:
        raise DataFormatError(f"align_on: timestamp: timestamps do not increase with the frame number in "
                              f"{sorted(sources.values())}")
    half = period / 2
    events = []
    for order, (view, track) in enumerate(tracks.items()):
        stamps = np.where(np.isfinite(track.timestamp), track.timestamp, t0 + track.frame * period)
        events += [(float(t), order, j) for j, t in enumerate(stamps)]
    events.sort()
    views = list(tracks)
    positions = {v: np.zeros(len(t.frame), dtype=np.int64) for v, t in tracks.items()}
    first_frame: list[int] = []
    start, members = -np.inf, set()
    for stamp, order, j in events:
        if stamp - start >= half or order in members:
            start, members = stamp, set()
            first_frame.append(int(tracks[views[order]].frame[j]))
        members.add(order)
        positions[views[order]][j] = len(first_frame) - 1
    length = len(first_frame)
    return Timeline(np.asarray(first_frame, dtype=np.int64),
                    {v: _rows(t, positions[v], length) for v, t in tracks.items()})


def sum_counts(total: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    """``total + counts`` key by key (counts of the data report)."""
    merged = Counter(total)
    merged.update(counts)
    return dict(merged)
