"""Fixed-length windows over variable-length sequences.

Example:
    >>> window_starts(10, window=4, stride=3).tolist()
    [0, 3, 6]
    >>> window_starts(11, window=4, stride=3).tolist()  # the tail is covered by one more window
    [0, 3, 6, 7]
    >>> window_starts(2, window=4, stride=3).tolist()  # shorter than a window: one padded window
    [0]
"""

from __future__ import annotations

import numpy as np


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Start frames of windows of ``window`` frames every ``stride`` frames, covering the end."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


def take_window(sequence: np.ndarray, start: int, window: int) -> np.ndarray:
    """``sequence[start:start+window]``, zero-padded at the end when the sequence is shorter."""
    piece = sequence[start : start + window]
    if len(piece) == window:
        return piece
    padded = np.zeros((window,) + sequence.shape[1:], dtype=sequence.dtype)
    padded[: len(piece)] = piece
    return padded
