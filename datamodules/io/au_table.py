"""The canonical in-memory form of one video's Action-Unit frames, shared by every AU reader.

Canonical channel names follow OpenFace 2.x: ``AU01_r`` (intensity, 0-5) and ``AU01_c``
(presence, 0/1). Every reader maps its own names onto these (OpenDBM ``fac_AU01int`` ->
``AU01_r``, ``fac_AU01pres`` -> ``AU01_c``) and fills channels the source lacks with NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INTENSITY_AUS: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
PRESENCE_AUS: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU28", "AU45",
)
INTENSITY_COLUMNS: tuple[str, ...] = tuple(f"{au}_r" for au in INTENSITY_AUS)
PRESENCE_COLUMNS: tuple[str, ...] = tuple(f"{au}_c" for au in PRESENCE_AUS)
ALL_AU_COLUMNS: tuple[str, ...] = INTENSITY_COLUMNS + PRESENCE_COLUMNS
"""All 35 canonical AU channels: 17 intensities then 18 presences (the AU severity CSV's set)."""

INTENSITY_RANGE: tuple[float, float] = (0.0, 5.0)


class DataFormatError(ValueError):
    """A data file (or a row/column in it) cannot be used. The message names the file."""


@dataclass
class AUTable:
    """Parsed AU frames of one video, one face, sorted by frame number.

    Attributes:
        source: path of the file it was read from.
        values: ``(T, 35)`` float32 in :data:`ALL_AU_COLUMNS` order; NaN where the source has
            no such channel or the cell was empty/NaN. Finite intensities already clipped to [0, 5];
            ``±inf`` cells are kept (their frames are dropped as non-finite when selected).
        frame: ``(T,)`` int64 frame numbers, strictly increasing.
        timestamp: ``(T,)`` float64 seconds.
        confidence: ``(T,)`` float32 tracker confidence (1.0 where the source has none).
        success: ``(T,)`` bool tracker success flag (True where the source has none).
        available: canonical channels the source actually provides.
        notes: parse-time counts, e.g. ``rows_read``, ``duplicate_frames_dropped``,
            ``other_face_rows_dropped``, ``values_clipped``, ``nonfinite_values`` (±inf cells).
    """

    source: str
    values: np.ndarray
    frame: np.ndarray
    timestamp: np.ndarray
    confidence: np.ndarray
    success: np.ndarray
    available: tuple[str, ...]
    notes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.frame)
        if self.values.shape != (n, len(ALL_AU_COLUMNS)):
            raise DataFormatError(
                f"{self.source}: values shape {self.values.shape} != ({n}, {len(ALL_AU_COLUMNS)})"
            )
        for name in ("timestamp", "confidence", "success"):
            if len(getattr(self, name)) != n:
                raise DataFormatError(f"{self.source}: {name} has {len(getattr(self, name))} rows, frame has {n}")

    @property
    def num_frames(self) -> int:
        return len(self.frame)

    def channel_index(self, columns: list[str] | tuple[str, ...]) -> list[int]:
        """Indices of canonical ``columns`` in :attr:`values`."""
        lookup = {c: i for i, c in enumerate(ALL_AU_COLUMNS)}
        return [lookup[c] for c in columns]
