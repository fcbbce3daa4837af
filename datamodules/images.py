"""FaceImageDataModule: face images from a manifest, decoded once, cropped, cached, augmented per split.

Every image is decoded once (Pillow for JPEG, OpenCV otherwise, Pillow as fallback) to 8-bit
RGB: grayscale, alpha, palette and 16-bit images are converted and counted; unreadable or
corrupt files (including truncated JPEGs) are skipped, counted in the data report and warned
about. The face is cropped from the manifest's box (``face_x, face_y, face_width,
face_height``), else, with ``detect_faces``, from the largest BlazeFace detection, else the whole
image is used; the crop is resized to ``image_size`` (no aspect-ratio padding).

The uint8 images ``(N, H, W, 3)`` of the whole manifest are stored in
``<cache_dir>/face-images/<key>.npy`` (memory-mapped later), keyed by the files' content digests,
the boxes and the crop settings, so later epochs, folds and runs decode no JPEG. ``cache_dir:
null`` keeps them in memory.

Items are ``{x, y, video, subject, index}``: ``x`` float32 ``(3, H, W)`` normalised with the
backbone's mean/std (with ``normalize_on_device: true``, uint8 ``(3, H, W)`` that the DataModule's
``on_after_batch_transfer`` normalises on the training device: a quarter of the bytes through the
workers, shared memory and the host-to-device copy, and no float work in the workers); ``video`` is the image's id (``sample_names()["video"]`` gives its path) and
``subject`` its group's id (the image itself when the manifest has no groups).

Example (YAML):
    data:
      class_path: datamodules.FaceImageDataModule
      init_args: {manifest: faces/manifest.csv, image_size: 96, normalization: resnet18}
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from pytorch_lightning.utilities import rank_zero_warn
from rich.progress import track
from torch.utils.data import DataLoader, Dataset

from datamodules.base import STAGES, SubjectDataModule, per_sample_subjects
from datamodules.cache import file_digest
from datamodules.io.affectnet import BOX_COLUMNS
from datamodules.io.au_table import DataFormatError
from datamodules.label_stats import class_weights_from_labels
from datamodules.manifest import load_manifest

CACHE_VERSION = 1
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Default training augmentation (albumentations class names and arguments).
DEFAULT_TRAIN_TRANSFORMS: list[dict[str, Any]] = [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "Affine", "scale": [0.95, 1.05], "translate_percent": [-0.05, 0.05], "rotate": [-10, 10], "p": 0.5},
    {"name": "ColorJitter", "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02, "p": 0.5},
]
MAX_NAMED = 5


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


# ---- cropping and resizing ------------------------------------------------------------------
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


# ---- transforms and normalisation -----------------------------------------------------------
def build_transforms(specs: Sequence[dict[str, Any]] | None) -> Any | None:
    """An ``albumentations.Compose`` of ``[{"name": "HorizontalFlip", "p": 0.5}, ...]``; ``None`` if empty.

    Example:
        >>> build_transforms([{"name": "HorizontalFlip", "p": 1.0}])  # doctest: +SKIP
    """
    if not specs:
        return None
    import albumentations as A

    steps = []
    for spec in specs:
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if not isinstance(name, str) or not hasattr(A, name):
            raise ValueError(f"unknown albumentations transform {name!r} in {spec}")
        steps.append(getattr(A, name)(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}))
    return A.Compose(steps)


def resolve_normalization(
    normalization: str | None = "imagenet", mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` on [0, 1] pixels: explicit lists, ``imagenet``, a timm model name, or none.

    >>> resolve_normalization("imagenet")[0]
    (0.485, 0.456, 0.406)
    >>> resolve_normalization(None)
    ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    """
    if mean is not None or std is not None:
        if mean is None or std is None or len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std must both be 3 values (std > 0); got mean={mean}, std={std}")
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if normalization is None or normalization == "none":
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if normalization == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    import timm

    cfg = timm.get_pretrained_cfg(normalization)
    if cfg is None:
        raise ValueError(f"normalization {normalization!r}: not 'imagenet', null, nor a timm model name")
    return tuple(float(v) for v in cfg.mean), tuple(float(v) for v in cfg.std)


# ---- dataset --------------------------------------------------------------------------------
class FaceImageDataset(Dataset):
    """Images ``images[rows[i]]`` (uint8 HWC), augmented by ``transform`` and normalised to float32 CHW
    (uint8 CHW, left for :func:`normalize_batch` on the device, when ``device_normalize`` is set).

    Example:
        >>> ds = FaceImageDataset(np.zeros((2, 8, 8, 3), np.uint8), [1], [0], [1], [0])
        >>> ds[0]["x"].shape
        torch.Size([3, 8, 8])
    """

    def __init__(self, images: np.ndarray, rows: Sequence[int], labels: Sequence[int], video_ids: Sequence[int],
                 subject_ids: Sequence[int], transform: Any | None = None,
                 mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        self.images, self.transform = images, transform
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.video_ids = np.asarray(video_ids, dtype=np.int64)
        self.subject_ids = np.asarray(subject_ids, dtype=np.int64)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.device_normalize = False
        self._seed: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def window_labels(self) -> np.ndarray:
        """Class index of every image (for class weights and counts)."""
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


def normalize_batch(batch: Any, mean: Sequence[float], std: Sequence[float]) -> Any:
    """Batch ``x`` uint8 ``(B, 3, H, W)`` -> float32 ``(x / 255 - mean) / std``, where ``x`` already is
    (on GPU: after the host-to-device copy); other batches pass unchanged.

    Example:
        >>> out = normalize_batch({"x": torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)}, (0.5,) * 3, (0.5,) * 3)
        >>> out["x"].flatten().tolist()
        [1.0, 1.0, 1.0]
    """
    if not isinstance(batch, dict) or not isinstance(batch.get("x"), torch.Tensor) or batch["x"].dtype != torch.uint8:
        return batch
    x = batch["x"]
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean_t, std_t = _channel_stats(tuple(mean), tuple(std), x.device)
    return {**batch, "x": (x.float() / 255.0 - mean_t.view(shape)) / std_t.view(shape)}  # the host's formula


@functools.lru_cache(maxsize=16)
def _channel_stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """float32 ``mean`` and ``std`` on ``device``, made once (a copy per batch would wait for the GPU's queue)."""
    return (torch.tensor(mean, dtype=torch.float32, device=device),
            torch.tensor(std, dtype=torch.float32, device=device))


# ---- the DataModule -------------------------------------------------------------------------
class FaceImageDataModule(SubjectDataModule):
    """Face images for image CNNs; subject-level folds (each image its own subject without groups).

    Args:
        image_size: side (int) or ``[H, W]`` of the stored and returned images.
        detect_faces: without a manifest box, crop the largest BlazeFace detection (whole image if none).
        face_margin: enlarge every crop box by this fraction of its side on each side.
        min_face_score: detector score threshold.
        train_transforms: albumentations steps for training (``null``: :data:`DEFAULT_TRAIN_TRANSFORMS`, ``[]``: none).
        eval_transforms: steps for validation/test (default: none).
        normalization: ``imagenet``, a timm model name (its pretrained mean/std) or ``null`` ([0, 1] pixels).
        mean, std: explicit per-channel values (override ``normalization``).
        normalize_on_device: batches carry uint8 images, normalised on the training device after the copy
            (for GPUs that the workers' float work and bytes cannot keep fed; same values as on the host).
        **kwargs: see :class:`~datamodules.base.SubjectDataModule` (``standardize`` is unused here).
    """

    def __init__(
        self,
        manifest: str,
        image_size: int | tuple[int, int] = 224,
        detect_faces: bool = False,
        face_margin: float = 0.0,
        min_face_score: float = 0.5,
        train_transforms: list[dict[str, Any]] | None = None,
        eval_transforms: list[dict[str, Any]] | None = None,
        normalization: str | None = "imagenet",
        mean: list[float] | None = None,
        std: list[float] | None = None,
        normalize_on_device: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(manifest, **kwargs)
        self.save_hyperparameters()
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"image_size must be an int or [H, W]; got {image_size}")
        self.image_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.detect_faces, self.face_margin, self.min_face_score = detect_faces, face_margin, min_face_score
        self.train_transform_specs = DEFAULT_TRAIN_TRANSFORMS if train_transforms is None else list(train_transforms)
        self.eval_transform_specs = list(eval_transforms or [])
        self.mean, self.std = resolve_normalization(normalization, mean, std)
        self.normalize_on_device = normalize_on_device
        self.decode_report: dict[str, Any] = {}
        self.identity_leakage = False
        self._detector: Any | None = None

    @property
    def num_channels(self) -> int:
        return 3

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        self.datasets[name].device_normalize = self.normalize_on_device
        return super()._loader(name, shuffle)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Normalise uint8 batches (``normalize_on_device``) where they landed."""
        return normalize_batch(batch, self.mean, self.std)

    # ---- decoding and the cache ----------------------------------------------------------
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

    def prepare_data(self) -> None:
        """Fill the image cache once (rank 0), so every rank's ``setup`` only memory-maps it."""
        if self.cache.directory is not None:
            self.load_images(load_manifest(self.manifest_path))

    # ---- setup ---------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        videos, parts = self.index_videos()
        images, report = self.load_images(videos)
        valid = np.asarray(report["valid"], dtype=bool)
        self._warn_decoding(videos, report)
        self.videos = videos = videos[valid].reset_index(drop=True)
        if (videos["stage"] == "train").sum() == 0:
            raise DataFormatError(f"{self.manifest_path}: no readable training image after splitting")
        self.check_classes(videos, videos["stage"])  # unreadable images may have taken a class's last one
        self.identity_leakage = self._check_subjects(videos)
        for name in STAGES:
            rows = videos[videos["stage"] == name]
            specs = self.train_transform_specs if name == "train" else self.eval_transform_specs
            self.datasets[name] = FaceImageDataset(
                images, rows["video_index"].tolist(), rows["label_index"].tolist(), rows["video_index"].tolist(),
                rows["subject_index"].tolist(), build_transforms(specs), self.mean, self.std,
            )
        self.class_weights = class_weights_from_labels(self.datasets["train"].window_labels(), self.num_classes)
        self.data_report = self._report(parts, report, videos_all=len(valid))

    def _check_subjects(self, videos: pd.DataFrame) -> bool:
        """Warn (and return True) when every image is its own subject: then the folds split images, not people."""
        leakage = per_sample_subjects(videos)
        if leakage:
            rank_zero_warn(
                f"{self.manifest_path}: every image has its own subject_id ({len(videos)} images), so the folds split "
                "images, not people, and LEAK IDENTITY (one person's images in train and test). Build the manifest "
                "with a group column (--group-column) to split by person.")
        return leakage

    def _warn_decoding(self, videos: pd.DataFrame, report: dict[str, Any]) -> None:
        paths = videos["path"].tolist()
        unreadable = [paths[int(i)] for i in report["unreadable"]]
        self.decode_report = {**report, "unreadable_files": unreadable}
        if unreadable:
            rank_zero_warn(f"skipped {len(unreadable)} unreadable/corrupt image(s): {unreadable[:MAX_NAMED]}")
        if report["converted"]:
            rank_zero_warn(f"converted image(s) to 8-bit RGB: {report['converted']} (images counted per conversion)")

    def _report(self, parts: dict[str, list[str]], report: dict[str, Any], videos_all: int) -> dict:
        assert self.videos is not None
        unreadable = self.decode_report["unreadable_files"]
        out: dict[str, Any] = {
            "manifest": self.manifest_path,
            "identity_leakage": self.identity_leakage,
            "split": self.split_summary(parts),
            "image_size": list(self.image_size),
            "images": {"listed": videos_all, "unreadable": len(unreadable), "converted": report["converted"],
                       "crops": report["crops"]},
            "files_skipped": unreadable,
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "transforms": {"train": self.train_transform_specs, "eval": self.eval_transform_specs},
        }
        for name in STAGES:
            rows = self.videos[self.videos["stage"] == name]
            out[name] = self.stage_summary(rows, self.datasets[name], {"images": int(len(rows))})
        out["class_weights"] = self.class_weights.tolist() if self.class_weights is not None else None
        return out

