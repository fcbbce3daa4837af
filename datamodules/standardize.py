"""Per-channel standardisation fitted on training data only.

Example:
    >>> s = ChannelScaler.fit([np.array([[0.0], [2.0]])])
    >>> s.transform(np.array([[1.0]])).tolist()
    [[0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ChannelScaler:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, arrays: list[np.ndarray], eps: float = 1e-6) -> ChannelScaler:
        """Mean and std per channel over all frames of ``arrays`` (each ``(T, C)``), in float64."""
        stacked = np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays]).astype(np.float64)
        std = stacked.std(axis=0)
        return cls(mean=stacked.mean(axis=0), std=np.where(std < eps, 1.0, std))

    @classmethod
    def identity(cls, num_channels: int) -> ChannelScaler:
        return cls(mean=np.zeros(num_channels), std=np.ones(num_channels))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def state_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, list[float]]) -> ChannelScaler:
        return cls(mean=np.asarray(state["mean"]), std=np.asarray(state["std"]))
