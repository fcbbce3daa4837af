"""FaceImageDataset: cached uint8 face images, augmented and normalised per item.

Items are ``{x, y, video, subject, index}``: ``x`` float32 ``(3, H, W)`` normalised with the
backbone's mean/std (with ``device_normalize``, uint8 ``(3, H, W)`` that
:func:`~datamodules.image_transforms.normalize_batch` normalises on the training device); ``y`` the
int64 class index, or the float32 score of a score target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.window_dataset import as_targets


class FaceImageDataset(Dataset):
    """Images ``images[rows[i]]`` (uint8 HWC), augmented by ``transform`` and normalised to float32 CHW
    (uint8 CHW, left for :func:`normalize_batch` on the device, when ``device_normalize`` is set).

    Example:
        >>> ds = FaceImageDataset(np.zeros((2, 8, 8, 3), np.uint8), [1], [0], [1], [0])
        >>> ds[0]["x"].shape
        torch.Size([3, 8, 8])
    """

    def __init__(self, images: np.ndarray, rows: Sequence[int], labels: Sequence[int] | Sequence[float] | np.ndarray,
                 video_ids: Sequence[int], subject_ids: Sequence[int], transform: Any | None = None,
                 mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        self.images, self.transform = images, transform
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = as_targets(labels)
        self.video_ids = np.asarray(video_ids, dtype=np.int64)
        self.subject_ids = np.asarray(subject_ids, dtype=np.int64)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.device_normalize = False
        self._seed: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def window_labels(self) -> np.ndarray:
        """Target of every image: class index (for class weights and counts) or float32 score."""
        return self.labels

    def _reseed(self) -> None:
        """Give the augmentation its own stream per DataLoader worker and epoch (forked copies repeat otherwise)."""
        seed = torch.initial_seed() % 2**32
        if seed != self._seed:
            self.transform.set_random_seed(seed)
            self._seed = seed

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 ``(H, W, 3)`` after augmentation."""
        image = np.array(self.images[self.rows[i]])
        if self.transform is None:
            return image
        self._reseed()
        return self.transform(image=image)["image"]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image = self.image(i)
        x = image if self.device_normalize else (image.astype(np.float32) / 255.0 - self.mean) / self.std
        return {
            "x": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
            "y": torch.tensor(self.labels[i]),
            "video": torch.tensor(self.video_ids[i]),
            "subject": torch.tensor(self.subject_ids[i]),
            "index": torch.tensor(i),
        }
