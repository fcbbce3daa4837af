"""A dataset of single frames (tabular AU vectors), each knowing its subject."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class FrameDataset(Dataset):
    """Rows of ``values`` ``(N, C)``; items match :class:`WindowDataset`'s (``video`` = subject).

    Example:
        >>> ds = FrameDataset(np.zeros((3, 2), np.float32), np.array([0, 1, 1]), np.array([5, 5, 6]))
        >>> ds[2]["x"].shape, int(ds[2]["subject"])
        (torch.Size([2]), 6)
    """

    def __init__(self, values: np.ndarray, labels: np.ndarray, subject_ids: np.ndarray) -> None:
        self.values = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.subjects = torch.from_numpy(np.asarray(subject_ids, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def window_labels(self) -> np.ndarray:
        return self.labels.numpy()

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.values[i], "y": self.labels[i], "video": self.subjects[i], "subject": self.subjects[i], "index": torch.tensor(i)}
