"""A dataset of fixed-length windows over many sequences, each window knowing its video and subject."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.windows import take_window, window_span, window_starts


class WindowDataset(Dataset):
    """Windows of ``window`` frames every ``stride`` frames over ``sequences`` (each ``(T_i, C)``).

    Items are dicts: ``x`` ``(window, C)`` float32, ``y`` class index, ``video`` and ``subject``
    (integer ids shared by the whole DataModule) and ``index`` (the window's position in this
    dataset, used to remove duplicates that distributed samplers add).

    Example:
        >>> ds = WindowDataset([np.zeros((10, 2), np.float32)], [1], [0], [0], window=4, stride=3)
        >>> len(ds), ds[0]["x"].shape
        (3, torch.Size([4, 2]))
    """

    def __init__(
        self,
        sequences: list[np.ndarray],
        labels: list[int],
        video_ids: list[int],
        subject_ids: list[int],
        window: int,
        stride: int,
        frame_step: int = 1,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.sequences = sequences
        self.window, self.frame_step, self.transform = window, frame_step, transform
        rows = []
        for i, seq in enumerate(sequences):
            starts = window_starts(len(seq), window, stride, frame_step)
            rows.append(np.stack([np.full(len(starts), i), starts], axis=1))
        self.index = np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.video_ids = np.asarray(video_ids, dtype=np.int64)
        self.subject_ids = np.asarray(subject_ids, dtype=np.int64)
        self.padded_sequences = int(sum(len(s) < window_span(window, frame_step) for s in sequences))

    def __len__(self) -> int:
        return len(self.index)

    def window_labels(self) -> np.ndarray:
        """Class index of every window (for class weights and counts)."""
        return self.labels[self.index[:, 0]]

    def render(self, i: int) -> np.ndarray:
        """Window ``i`` after the optional ``transform`` (e.g. landmarks -> pseudo-image)."""
        seq_idx, start = self.index[i]
        x = take_window(self.sequences[seq_idx], int(start), self.window, self.frame_step)
        return self.transform(x) if self.transform is not None else x

    def arrays(self) -> dict[str, np.ndarray]:
        """All windows at once: ``x`` ``(N, window, ...)`` and ``y``, ``video``, ``subject`` ``(N,)``."""
        x = np.stack([self.render(i) for i in range(len(self))]) if len(self) else None
        seq = self.index[:, 0]
        return {"x": x, "y": self.labels[seq], "video": self.video_ids[seq], "subject": self.subject_ids[seq]}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.item(i, self.render(i))

    def item(self, i: int, x: np.ndarray) -> dict[str, torch.Tensor]:
        """The batch entry of window ``i`` with input ``x``."""
        seq_idx = self.index[i, 0]
        return {
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "y": torch.tensor(self.labels[seq_idx]),
            "video": torch.tensor(self.video_ids[seq_idx]),
            "subject": torch.tensor(self.subject_ids[seq_idx]),
            "index": torch.tensor(i),
        }
