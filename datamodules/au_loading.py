"""Load one video's AU frames through the content-keyed cache, then mask the frames we cannot trust.

Frames are dropped when the tracker failed (``success == 0``), when its confidence is not a finite
number (``dropped_nonfinite``) or is below ``min_confidence``, when a selected channel is NaN
(``dropped_nan``) or ``±inf`` (``dropped_nonfinite``); every drop is counted, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from datamodules.cache import ArrayCache
from datamodules.io.au_table import ALL_AU_COLUMNS, AUTable, DataFormatError

CACHE_NAMESPACE = "au-table-v2"  # v2: ±inf intensities kept (v1 clipped them to 0/5)
_COUNT_KEYS = ("rows_read", "duplicate_frames_dropped", "other_face_rows_dropped", "values_clipped", "nonfinite_values")


def table_to_arrays(table: AUTable) -> dict[str, np.ndarray]:
    """Compact arrays for the cache (AU values as float16)."""
    arrays = {
        "values": table.values.astype(np.float16),
        "frame": table.frame.astype(np.int64),
        "timestamp": table.timestamp.astype(np.float64),
        "confidence": table.confidence.astype(np.float32),
        "success": table.success.astype(bool),
        "available": np.array([c in table.available for c in ALL_AU_COLUMNS]),
    }
    for key in _COUNT_KEYS:
        arrays[f"note_{key}"] = np.array(int(table.notes.get(key, 0)))
    return arrays


def arrays_to_table(arrays: dict[str, np.ndarray], source: str) -> AUTable:
    available = tuple(c for c, ok in zip(ALL_AU_COLUMNS, arrays["available"]) if ok)
    notes = {key: int(arrays[f"note_{key}"]) for key in _COUNT_KEYS}
    return AUTable(
        source=source,
        values=arrays["values"].astype(np.float32),
        frame=arrays["frame"],
        timestamp=arrays["timestamp"],
        confidence=arrays["confidence"],
        success=arrays["success"],
        available=available,
        notes=notes,
    )


def load_au_table(path: str, cache: ArrayCache, file_format: str = "auto") -> AUTable:
    """Read an AU file (any supported format) or take its parsed arrays from the cache."""
    from datamodules.io.registry import read_au_file

    arrays = cache.get_or_compute(
        path, f"{CACHE_NAMESPACE}-{file_format}", lambda: table_to_arrays(read_au_file(path, fmt=file_format))
    )
    return arrays_to_table(arrays, path)


@dataclass
class FrameMaskReport:
    """Counts of frames kept and dropped for one file (summed over files by ``+``)."""

    files: int = 0
    frames: int = 0
    kept: int = 0
    dropped_failed: int = 0
    dropped_low_confidence: int = 0
    dropped_nan: int = 0
    dropped_nonfinite: int = 0
    parse_notes: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: FrameMaskReport) -> FrameMaskReport:
        notes = dict(self.parse_notes)
        for k, v in other.parse_notes.items():
            notes[k] = notes.get(k, 0) + v
        return FrameMaskReport(
            files=self.files + other.files,
            frames=self.frames + other.frames,
            kept=self.kept + other.kept,
            dropped_failed=self.dropped_failed + other.dropped_failed,
            dropped_low_confidence=self.dropped_low_confidence + other.dropped_low_confidence,
            dropped_nan=self.dropped_nan + other.dropped_nan,
            dropped_nonfinite=self.dropped_nonfinite + other.dropped_nonfinite,
            parse_notes=notes,
        )

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        return {
            "files": self.files,
            "frames": self.frames,
            "kept": self.kept,
            "dropped_failed": self.dropped_failed,
            "dropped_low_confidence": self.dropped_low_confidence,
            "dropped_nan": self.dropped_nan,
            "dropped_nonfinite": self.dropped_nonfinite,
            **{f"parse_{k}": v for k, v in self.parse_notes.items()},
        }


def valid_frames(
    table: AUTable, channels: list[str], min_confidence: float
) -> tuple[np.ndarray, np.ndarray, FrameMaskReport]:
    """Selected channels of the trustworthy frames: ``(values (T', C) float32, frame (T',), report)``.

    Raises :class:`DataFormatError` naming the file when a selected channel is not in the source.
    """
    missing = [c for c in channels if c not in table.available]
    if missing:
        raise DataFormatError(
            f"{table.source}: selected AU channels {missing} are not in this file; it has {list(table.available)}"
        )
    values = table.values[:, table.channel_index(channels)]
    failed = ~table.success
    bad_conf = ~failed & ~np.isfinite(table.confidence)  # NaN < min_confidence is False: caught here
    low_conf = ~failed & ~bad_conf & (table.confidence < min_confidence)
    checked = ~(failed | bad_conf | low_conf)
    nan_rows = checked & np.isnan(values).any(axis=1)
    inf_rows = checked & ~nan_rows & np.isinf(values).any(axis=1)
    keep = checked & ~nan_rows & ~inf_rows
    report = FrameMaskReport(
        files=1,
        frames=table.num_frames,
        kept=int(keep.sum()),
        dropped_failed=int(failed.sum()),
        dropped_low_confidence=int(low_conf.sum()),
        dropped_nan=int(nan_rows.sum()),
        dropped_nonfinite=int(bad_conf.sum() + inf_rows.sum()),
        parse_notes={k: v for k, v in table.notes.items() if k != "rows_read"},
    )
    return values[keep].astype(np.float32), table.frame[keep], report
