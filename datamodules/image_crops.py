"""Face crops: manifest boxes (``face_x, face_y, face_width, face_height``), cropping and resizing."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd

from datamodules.io.affectnet import BOX_COLUMNS


def crop_box(image: np.ndarray, box: Sequence[float], margin: float = 0.0) -> np.ndarray | None:
    """Pixels inside ``box`` = (x0, y0, x1, y1), enlarged by ``margin`` (fraction of the side) each side.

    The box is rounded to whole pixels and clipped to the image; ``None`` if nothing is left.

    >>> crop_box(np.zeros((10, 10, 3)), (2, 3, 6, 8)).shape
    (5, 4, 3)
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    height, width = image.shape[:2]
    left, top = max(int(round(x0 - dx)), 0), max(int(round(y0 - dy)), 0)
    right, bottom = min(int(round(x1 + dx)), width), min(int(round(y1 + dy)), height)
    if right <= left or bottom <= top:
        return None
    return image[top:bottom, left:right]


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` = (H, W): area averaging when shrinking, bilinear when enlarging.

    >>> resize_image(np.zeros((10, 20, 3), np.uint8), (4, 4)).shape
    (4, 4, 3)
    """
    height, width = size
    if image.shape[:2] == (height, width):
        return np.ascontiguousarray(image)
    shrink = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def manifest_boxes(table: pd.DataFrame) -> list[tuple[float, float, float, float] | None]:
    """(x0, y0, x1, y1) per row from ``face_x, face_y, face_width, face_height``; ``None`` where absent."""
    if not all(c in table.columns for c in BOX_COLUMNS):
        return [None] * len(table)
    values = table[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return [None if np.isnan(v).any() or v[2] <= 0 or v[3] <= 0 else (v[0], v[1], v[0] + v[2], v[1] + v[3])
            for v in values]

