"""Decoding, cropping and the uint8 face-image cache of :class:`~datamodules.images.FaceImageDataModule`.

The face is cropped from the manifest's box, else, with ``detect_faces``, from the largest
BlazeFace detection, else the whole image is used; the crop is resized to ``image_size`` (no
aspect-ratio padding). The uint8 images ``(N, H, W, 3)`` of the whole manifest are stored in
``<cache_dir>/face-images/<key>.npy`` (memory-mapped later), keyed by the files' content digests,
the boxes and the crop settings, so later epochs, folds and runs decode no JPEG. ``cache_dir:
null`` keeps them in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import track

from datamodules.cache import ArrayCache, file_digest
from datamodules.image_crops import crop_box, manifest_boxes, resize_image
from datamodules.image_decoding import UnreadableImage, decode_image
from datamodules.io.au_table import DataFormatError

CACHE_VERSION = 1


class FaceImageCacheMixin:
    """The image loading of a face-image DataModule: it sets the attributes below, this mixin fills the cache."""

    image_size: tuple[int, int]
    detect_faces: bool
    face_margin: float
    min_face_score: float
    cache: ArrayCache
    _detector: Any | None

    def _settings(self) -> dict[str, Any]:
        return {"v": CACHE_VERSION, "size": list(self.image_size), "margin": self.face_margin,
                "detect": self.detect_faces, "min_score": self.min_face_score if self.detect_faces else None}

    def _cache_key(self, table: pd.DataFrame) -> str:
        digests: dict[str, str] = {}
        files = [digests.setdefault(p, file_digest(p)) for p in table["path"]]
        boxes = [None if b is None else [round(v, 3) for v in b] for b in manifest_boxes(table)]
        payload = json.dumps({"settings": self._settings(), "files": files, "boxes": boxes})
        return hashlib.sha1(payload.encode()).hexdigest()

    def _detect(self, image: np.ndarray) -> np.ndarray | None:
        """Box of the largest detected face, or ``None``."""
        if self._detector is None:
            from datamodules.preprocessing.face_mesh import FaceDetector
            from datamodules.preprocessing.face_models import ensure_face_models

            self._detector = FaceDetector(ensure_face_models()["detector"], min_score=self.min_face_score)
        face = self._detector.largest(image)
        return None if face is None else np.asarray(face.box, dtype=float)

    def _face(self, image: np.ndarray, box: tuple[float, ...] | None, counts: Counter) -> np.ndarray:
        """The crop of one decoded image (manifest box, detection or whole), resized; ``counts`` the mode."""
        crop = None
        if box is not None:
            crop = crop_box(image, box, self.face_margin)
            counts["manifest_box" if crop is not None else "box_outside_image"] += 1
        elif self.detect_faces:
            found = self._detect(image)
            crop = crop_box(image, found, self.face_margin) if found is not None else None
            counts["detected" if crop is not None else "no_face_detected"] += 1
        if crop is None:
            counts["whole_image"] += 1
            crop = image
        return resize_image(crop, self.image_size)

    def _decode_all(self, table: pd.DataFrame, out: np.ndarray) -> dict[str, Any]:
        """Decode, crop and resize every row into ``out``; return the decode report (``valid`` per row)."""
        valid = np.zeros(len(table), dtype=bool)
        crops, conversions, errors = Counter(), Counter(), {}
        boxes = manifest_boxes(table)
        for i, path in enumerate(track(table["path"].tolist(), description="Decoding face images", transient=True)):
            try:
                image, notes = decode_image(path)
            except (UnreadableImage, OSError) as exc:
                errors[i] = str(exc)[:200]
                continue
            conversions.update(set(notes))
            out[i] = self._face(image, boxes[i], crops)
            valid[i] = True
        return {"valid": valid.tolist(), "crops": dict(crops), "converted": dict(conversions),
                "unreadable": {str(k): v for k, v in errors.items()}}

    def load_images(self, table: pd.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
        """Images ``(N, H, W, 3)`` uint8 of ``table``'s rows and the decode report, through the cache."""
        shape = (len(table), *self.image_size, 3)
        if self.cache.directory is None:
            out = np.zeros(shape, dtype=np.uint8)
            return out, self._decode_all(table, out)
        key = self._cache_key(table)
        target = self.cache.directory / "face-images" / f"{key}.npy"
        meta = target.with_suffix(".json")
        if not (target.exists() and meta.exists()):
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{key}.{os.getpid()}.tmp.npy")
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            report = self._decode_all(table, out)
            out.flush()
            del out
            tmp_meta = meta.with_name(f"{key}.{os.getpid()}.tmp.json")
            tmp_meta.write_text(json.dumps(report))
            os.replace(tmp_meta, meta)
            os.replace(tmp, target)  # last: an existing .npy means a complete entry
        images = np.load(target, mmap_mode="r")
        if images.shape != shape:
            raise DataFormatError(f"cached images {target} have shape {images.shape}, expected {shape}; delete it")
        return images, json.loads(meta.read_text())
