"""Fixed-length windows over variable-length sequences.

Example:
    >>> window_starts(10, window=4, stride=3).tolist()
    [0, 3, 6]
    >>> window_starts(11, window=4, stride=3).tolist()  # the tail is covered by one more window
    [0, 3, 6, 7]
    >>> window_starts(2, window=4, stride=3).tolist()  # shorter than a window: one padded window
    [0]
    >>> take_window(np.arange(10), 1, window=3, step=2).tolist()  # every 2nd frame
    [1, 3, 5]
"""

from __future__ import annotations

import numpy as np


def window_span(window: int, step: int = 1) -> int:
    """Frames covered by ``window`` samples taken every ``step`` frames."""
    return (window - 1) * step + 1


def window_starts(length: int, window: int, stride: int, step: int = 1) -> np.ndarray:
    """Start frames of windows (``window`` frames, every ``step``-th) every ``stride`` frames, covering the end."""
    if window < 1 or stride < 1 or step < 1:
        raise ValueError(f"window, stride and step must be >= 1, got window={window}, stride={stride}, step={step}")
    span = window_span(window, step)
    if length <= span:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - span + 1, stride, dtype=np.int64)
    if starts[-1] != length - span:
        starts = np.append(starts, length - span)
    return starts


def take_window(sequence: np.ndarray, start: int, window: int, step: int = 1) -> np.ndarray:
    """Every ``step``-th frame from ``start``, ``window`` of them; zero-padded when the sequence is shorter."""
    piece = sequence[start : start + window_span(window, step) : step]
    if len(piece) == window:
        return piece
    padded = np.zeros((window,) + sequence.shape[1:], dtype=sequence.dtype)
    padded[: len(piece)] = piece
    return padded
