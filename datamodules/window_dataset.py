"""A dataset of fixed-length windows over many sequences, each window knowing its video and subject."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from datamodules.windows import take_window, window_span, window_starts


def as_targets(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Targets as stored for items: float scores as float32, integer class indices as int64 (an empty list too;
    an empty array keeps its kind).

    >>> as_targets([1, 0]).dtype, as_targets([3.5, 10.0]).dtype, as_targets(np.array([2, 9], np.float32)).dtype
    (dtype('int64'), dtype('float32'), dtype('float32'))
    """
    array = np.asarray(values)
    if array.dtype.kind == "f" and (array.size or isinstance(values, np.ndarray)):
        return array.astype(np.float32)
    return array.astype(np.int64)


class WindowBatch(dict):
    """A batch from :meth:`WindowDataset.__getitems__`; indexing it by position (what ``default_collate`` does)
    says which ``collate_fn`` to use instead of failing with ``KeyError: 0``."""

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, int):
            raise TypeError("this dataset fetches whole batches (__getitems__): give the DataLoader "
                            "collate_fn=datamodules.window_dataset.collate_windows")
        raise KeyError(key)


class WindowDataset(Dataset):
    """Windows of ``window`` frames every ``stride`` frames over ``sequences`` (each ``(T_i, C)``).

    Items are dicts: ``x`` ``(window, C)`` float32, ``y`` the target (int64 class index, or float32 score:
    see :func:`as_targets`), ``video`` and ``subject``
    (integer ids shared by the whole DataModule) and ``index`` (the window's position in this
    dataset, used to remove duplicates that distributed samplers add).

    A DataLoader fetches whole batches through :meth:`__getitems__` (one stacked array and one tensor
    per key instead of five tensors per window and a collation: ~7x less time per batch); such loaders
    need ``collate_fn=collate_windows``, as the DataModules' loaders have.

    Example:
        >>> ds = WindowDataset([np.zeros((10, 2), np.float32)], [1], [0], [0], window=4, stride=3)
        >>> len(ds), ds[0]["x"].shape
        (3, torch.Size([4, 2]))
    """

    def __init__(
        self,
        sequences: list[np.ndarray],
        labels: Sequence[int] | Sequence[float] | np.ndarray,
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
        self.labels = as_targets(labels)
        self.video_ids = np.asarray(video_ids, dtype=np.int64)
        self.subject_ids = np.asarray(subject_ids, dtype=np.int64)
        self.padded_sequences = int(sum(len(s) < window_span(window, frame_step) for s in sequences))

    def __len__(self) -> int:
        return len(self.index)

    def window_labels(self) -> np.ndarray:
        """Target of every window: class index (for class weights and counts) or float32 score."""
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

    def __getitems__(self, indices: Sequence[int]) -> WindowBatch:
        """The collated batch of windows ``indices`` (what ``default_collate`` of the items would give).

        Example:
            >>> ds = WindowDataset([np.ones((10, 2), np.float32)], [1], [0], [0], window=4, stride=3)
            >>> batch = ds.__getitems__([2, 0])
            >>> tuple(batch["x"].shape), batch["index"].tolist(), batch["y"].tolist()
            ((2, 4, 2), [2, 0], [1, 1])
        """
        rows = np.asarray(indices, dtype=np.int64)
        seq = self.index[rows, 0]
        x = np.stack([self.render(int(i)) for i in rows]) if len(rows) else np.zeros((0, self.window), np.float32)
        return WindowBatch({
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "y": torch.from_numpy(self.labels[seq]),
            "video": torch.from_numpy(self.video_ids[seq]),
            "subject": torch.from_numpy(self.subject_ids[seq]),
            "index": torch.from_numpy(rows),
        })

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


def collate_windows(batch: Any) -> Any:
    """``collate_fn`` for loaders over datasets that may fetch whole batches (:meth:`WindowDataset.__getitems__`):
    a batch dict passes through, a list of items goes to ``default_collate``.

    Example:
        >>> collate_windows([{"y": torch.tensor(1)}, {"y": torch.tensor(0)}])["y"].tolist()
        [1, 0]
    """
    return dict(batch) if isinstance(batch, WindowBatch) else default_collate(batch)
