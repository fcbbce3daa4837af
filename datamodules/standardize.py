"""Per-channel standardisation fitted on training data only.

Example:
    >>> s = ChannelScaler.fit([np.array([[0.0], [2.0]])])
    >>> s.transform(np.array([[1.0]])).tolist()
    [[0.0]]
    >>> s.transform_(np.array([[3.0]], dtype=np.float32)).tolist()
    [[2.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_ROWS = 8192


def _chunks(arrays: list[np.ndarray]):  # noqa: ANN202 (generator of (rows, C) float64 blocks)
    for array in arrays:
        for start in range(0, len(array), CHUNK_ROWS):
            yield array[start : start + CHUNK_ROWS].astype(np.float64)


@dataclass
class ChannelScaler:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, arrays: list[np.ndarray], eps: float = 1e-6) -> ChannelScaler:
        """Mean and std per channel over all frames of ``arrays`` (each ``(T, C)``), in float64.

        Two passes over row chunks (float64 accumulators), so no float64 copy of the data is made.
        """
        flat = [a.reshape(-1, a.shape[-1]) for a in arrays]
        count = sum(len(a) for a in flat)
        if count == 0:
            raise ValueError("ChannelScaler.fit needs at least one frame")
        mean = sum(chunk.sum(axis=0, dtype=np.float64) for chunk in _chunks(flat)) / count
        squares = sum(np.square(chunk - mean).sum(axis=0) for chunk in _chunks(flat))
        std = np.sqrt(squares / count)
        return cls(mean=mean, std=np.where(std < eps, 1.0, std))

    @classmethod
    def identity(cls, num_channels: int) -> ChannelScaler:
        return cls(mean=np.zeros(num_channels), std=np.ones(num_channels))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """A standardised float32 copy of ``values`` (computed in float64 per row chunk)."""
        out = np.empty(values.shape, dtype=np.float32)
        self._apply(values.reshape(-1, values.shape[-1]), out.reshape(-1, values.shape[-1]))
        return out

    def transform_(self, values: np.ndarray) -> np.ndarray:
        """Standardise the float32 array ``values`` in place (no full-size temporary); returns it."""
        if values.dtype != np.float32 or not values.flags.c_contiguous:
            raise ValueError("transform_ needs a C-contiguous float32 array; use transform()")
        flat = values.reshape(-1, values.shape[-1])
        self._apply(flat, flat)
        return values

    def _apply(self, source: np.ndarray, out: np.ndarray) -> None:
        for start in range(0, len(source), CHUNK_ROWS):
            rows = slice(start, start + CHUNK_ROWS)
            out[rows] = (source[rows] - self.mean) / self.std

    def state_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, list[float]]) -> ChannelScaler:
        return cls(mean=np.asarray(state["mean"]), std=np.asarray(state["std"]))
