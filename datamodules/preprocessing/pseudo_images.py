"""Landmark pseudo-images for CNNs: one image per frame (the seed's mode) or one per clip.

Seed (Jallaglag et al., DAIC-WOZ): each frame's raw ``68 x 3`` landmark matrix (X, Y, Z in mm,
**no normalisation**) is resized to ``224 x 224`` with ``cv2.resize`` (bilinear) and copied to 3
channels; a video is its **first 16 frames**, zero-padded when shorter. :func:`frame_images`
reproduces the resize (``F.interpolate(..., mode="bilinear", align_corners=False)`` equals
``cv2.resize(..., interpolation=INTER_LINEAR)`` for upsampling) and :func:`first_frames` the
clip. Here, windows are instead sampled across the whole video (by the window dataset) and the
landmarks are usually normalised first (:mod:`datamodules.preprocessing.normalize`).

:func:`temporal_image` is the alternative "time x landmark" image: ``(3, T, P)`` with channels
x, y, z, so a 2D CNN sees motion along one axis and face layout along the other.

Both accept numpy arrays or torch tensors and return the same kind (float32).

Example:
    >>> pts = np.zeros((16, 68, 3), np.float32)
    >>> frame_images(pts).shape, temporal_image(pts).shape
    ((16, 3, 224, 224), (3, 16, 68))
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SEED_IMAGE_SIZE: tuple[int, int] = (224, 224)
SEED_CLIP_FRAMES = 16

Array = np.ndarray | torch.Tensor


def _as_tensor(points: Array) -> torch.Tensor:
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (T, P, 3), got {tuple(points.shape)}")
    if isinstance(points, torch.Tensor):
        return points.float()
    return torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))


def _like(out: torch.Tensor, points: Array) -> Array:
    return out if isinstance(points, torch.Tensor) else out.contiguous().numpy()


def frame_images(points: Array, size: tuple[int, int] = SEED_IMAGE_SIZE, channels: int = 3) -> Array:
    """``(T, P, 3) -> (T, channels, H, W)``: each frame's ``P x 3`` matrix resized bilinearly, repeated per channel.

    Example (a 2 x 3 matrix to 4 x 6; each value spreads over a 2 x 2 block, edges clamped):
        >>> m = np.array([[[0.0, 1, 2], [3, 4, 5]]], np.float32)
        >>> frame_images(m, size=(4, 6), channels=1)[0, 0, :, 0].tolist()
        [0.0, 0.75, 2.25, 3.0]
    """
    x = _as_tensor(points)
    img = F.interpolate(x.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False)
    out = img.expand(-1, channels, -1, -1) if isinstance(points, torch.Tensor) else img.repeat(1, channels, 1, 1)
    return _like(out, points)


def temporal_image(points: Array, size: tuple[int, int] | None = None) -> Array:
    """``(T, P, 3) -> (3, T, P)`` (or ``(3, H, W)`` resized bilinearly): channel c, row t, column p = ``points[t, p, c]``.

    Example:
        >>> p = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
        >>> float(temporal_image(p)[1, 1, 2]) == float(p[1, 2, 1])
        True
    """
    img = _as_tensor(points).permute(2, 0, 1)
    if size is not None:
        img = F.interpolate(img.unsqueeze(0), size=tuple(size), mode="bilinear", align_corners=False)[0]
    return _like(img, points)


def first_frames(points: np.ndarray, num_frames: int = SEED_CLIP_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """The seed's clip: the first ``num_frames`` frames, zero-padded; returns ``(points, mask)``.

    Example:
        >>> clip, mask = first_frames(np.ones((3, 68, 3)), 5)
        >>> clip.shape, mask.tolist()
        ((5, 68, 3), [True, True, True, False, False])
    """
    out = np.zeros((num_frames,) + points.shape[1:], dtype=np.float32)
    k = min(num_frames, len(points))
    out[:k] = points[:k]
    mask = np.arange(num_frames) < k
    return out, mask
