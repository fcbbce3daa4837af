"""FaceImageDataModule: face images from a manifest, decoded once, cropped, cached, augmented per split.

Decoding: :mod:`datamodules.image_decoding`; crops: :mod:`datamodules.image_crops`; the uint8 cache:
:mod:`datamodules.image_cache`; augmentation and normalisation: :mod:`datamodules.image_transforms`;
items: :mod:`datamodules.image_dataset`. Unreadable or corrupt files are skipped, counted in the data
report and warned about. With ``normalize_on_device: true`` batches carry uint8 images that the
DataModule's ``on_after_batch_transfer`` normalises on the training device: a quarter of the bytes
through the workers, shared memory and the host-to-device copy, and no float work in the workers.
With ``augment_on_device: true`` (implies ``normalize_on_device``) the training augmentation runs there
too, batched (:mod:`datamodules.image_device_augment`): the workers only gather cached uint8 crops.
Items: ``video`` is the image's id (``sample_names()["video"]`` gives its path) and ``subject`` its
group's id (the image itself when the manifest has no groups).

Example (YAML):
    data:
      class_path: datamodules.FaceImageDataModule
      init_args: {manifest: faces/manifest.csv, image_size: 96, normalization: resnet18}
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import DataLoader

from datamodules.base import STAGES, SubjectDataModule, per_sample_subjects
from datamodules.image_cache import FaceImageCacheMixin
from datamodules.image_dataset import FaceImageDataset
from datamodules.image_device_augment import DeviceAugmentation
from datamodules.image_transforms import (
    DEFAULT_TRAIN_TRANSFORMS,
    build_transforms,
    normalize_batch,
    normalize_unit_batch,
    resolve_normalization,
)
from datamodules.io.au_table import DataFormatError

MAX_NAMED = 5


class FaceImageDataModule(FaceImageCacheMixin, SubjectDataModule):
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
        augment_on_device: run ``train_transforms`` on the training device, batched, instead of in the
            workers (HorizontalFlip, Affine and ColorJitter; others are refused); implies ``normalize_on_device``.
        **kwargs: see :class:`~datamodules.base.SubjectDataModule` (``standardize`` is unused here; ``target: score``
            regresses each image's score).
    """

    supports_score_target = True
    supports_inner_folds = True

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
        augment_on_device: bool = False,
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
        self.normalize_on_device = normalize_on_device or augment_on_device
        self.device_augmentation = (DeviceAugmentation(self.train_transform_specs, seed=self.seed)
                                    if augment_on_device and self.train_transform_specs else None)
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
        """Normalise uint8 batches (``normalize_on_device``) where they landed; training batches are
        augmented there first with ``augment_on_device``."""
        trainer = getattr(self, "trainer", None)
        return self.device_batch(batch, training=bool(trainer is not None and trainer.training))

    def device_batch(self, batch: Any, training: bool) -> Any:
        """``batch`` after the copy: augmented when ``training`` (``augment_on_device``), then normalised.

        Also for loops without a Trainer (e.g. ``benchmark.py overhead``'s plain loop).
        """
        if training and self.device_augmentation is not None and isinstance(batch, dict) \
                and isinstance(batch.get("x"), torch.Tensor) and batch["x"].dtype == torch.uint8:
            return normalize_unit_batch({**batch, "x": self.device_augmentation(batch["x"])}, self.mean, self.std)
        return normalize_batch(batch, self.mean, self.std)

    def prepare_data(self) -> None:
        """Fill the image cache once (rank 0), so every rank's ``setup`` only memory-maps it."""
        if self.cache.directory is not None:
            self.load_images(self.rows_to_read())

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
            if name == "train" and self.device_augmentation is not None:
                specs = []  # augmented on the device, batched
            self.datasets[name] = FaceImageDataset(
                images, rows["video_index"].tolist(), rows["target"].to_numpy(), rows["video_index"].tolist(),
                rows["subject_index"].tolist(), build_transforms(specs), self.mean, self.std,
            )
        self.fit_targets()
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
        return {**out, **self.target_report()}

