"""Decoding image files to 8-bit RGB.

Every image is decoded once (Pillow for JPEG, OpenCV otherwise, Pillow as fallback) to 8-bit
RGB: grayscale, alpha, palette and 16-bit images are converted and counted; unreadable or
corrupt files (including truncated JPEGs) raise :class:`UnreadableImage`.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np


class UnreadableImage(ValueError):
    """An image file that no decoder could read (corrupt, truncated or not an image)."""


# ---- decoding -------------------------------------------------------------------------------
def _to_uint8(array: np.ndarray, notes: list[str]) -> np.ndarray:
    """Scale 16-bit / float pixels to uint8 (noting it)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        notes.append("16-bit")
        return (array.astype(np.float32) / 257.0).round().astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        notes.append("float")
        return (np.clip(np.nan_to_num(array), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    notes.append(f"{array.dtype}")
    info = np.iinfo(array.dtype)
    return (np.clip(array, 0, info.max).astype(np.float64) * 255.0 / info.max).round().astype(np.uint8)


def _channels_to_rgb(array: np.ndarray, notes: list[str], bgr: bool) -> np.ndarray:
    """``(H, W)``, ``(H, W, 1|3|4)`` -> ``(H, W, 3)`` RGB; grayscale is replicated, alpha dropped (noted)."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        notes.append("grayscale")
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise UnreadableImage(f"unsupported pixel layout {array.shape}")
    if array.shape[2] == 4:
        notes.append("alpha")
        array = array[:, :, :3]
    return np.ascontiguousarray(array[:, :, ::-1] if bgr else array)


def _decode_pillow(data: bytes, notes: list[str]) -> np.ndarray:
    """Pillow decode (EXIF orientation applied); raises :class:`UnreadableImage` on any failure."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # raises on truncated data
            image = ImageOps.exif_transpose(image)
            mode = image.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                return _channels_to_rgb(_to_uint8(np.asarray(image).astype(np.uint16), notes), notes, bgr=False)
            if mode in ("I", "F"):
                array = np.asarray(image)
                array = array.astype(np.uint16) if mode == "I" and array.max() <= 65535 else array
                return _channels_to_rgb(_to_uint8(array, notes), notes, bgr=False)
            if mode in ("L", "1", "LA"):
                notes.append("grayscale")
            elif mode in ("RGBA", "PA", "RGBa"):
                notes.append("alpha")
            elif mode == "P":
                notes.append("palette")
            elif mode != "RGB":
                notes.append(mode)
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except UnreadableImage:
        raise
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, DecompressionBombError, ...)
        raise UnreadableImage(f"{type(exc).__name__}: {exc}") from exc


def decode_image(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """8-bit RGB ``(H, W, 3)`` of an image file and the conversions made (``grayscale``, ``alpha``, ``16-bit``...).

    JPEGs go through Pillow (it detects truncation); other formats through OpenCV (true 16-bit
    and alpha), with Pillow as the fallback (GIF, ...). Raises :class:`UnreadableImage`.

    Example:
        >>> rgb, notes = decode_image("face.png")  # doctest: +SKIP
    """
    notes: list[str] = []
    data = Path(path).read_bytes()
    if data[:3] == b"\xff\xd8\xff":
        return _decode_pillow(data, notes), notes
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if array is None:
        return _decode_pillow(data, notes), notes
    return _channels_to_rgb(_to_uint8(array, notes), notes, bgr=True), notes

