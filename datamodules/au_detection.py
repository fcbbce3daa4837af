"""AUDetectionDataModule: face frames with multi-label Action-Unit targets, split by subject.

Reads a frame manifest from ``scripts/make_au_manifest.py`` (:mod:`datamodules.au_manifest`):
``subject_id, path, label, segment, frame, <AU>..., [<AU>_intensity...], [atypicality]``.
Everything image-related (decode once into the uint8 cache, crops, albumentations per split,
normalisation, unreadable images counted) is :class:`~datamodules.images.FaceImageDataModule`'s.

``num_classes`` is the number of AUs and ``class_names`` their names, so the CLI's links give a
multi-label model its outputs. The manifest's ``label`` (subject class, e.g. ``ASD``/``TD``, or
``unknown``) only stratifies the subject-level folds. Items: ``{x, aus, [intensity],
[atypicality], video, subject, index}``; ``aus`` is float ``(K,)`` 0/1 (NaN where unknown),
``video`` the segment's id (``sample_names()["video"]`` gives ``<subject>#<segment>``).

Example (YAML):
    data:
      class_path: datamodules.AUDetectionDataModule
      init_args: {manifest: data/HRM/frames.csv, au_names: hrm22, image_size: 224, num_folds: 3}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.utilities import rank_zero_warn

from datamodules.au_manifest import report_path
from datamodules.base import STAGES
from datamodules.image_dataset import FaceImageDataset
from datamodules.image_transforms import build_transforms
from datamodules.images import FaceImageDataModule
from datamodules.io.au_table import DataFormatError
from datamodules.io.hrm import resolve_au_subset
from datamodules.labels import encode_labels
from datamodules.manifest import load_manifest

#: Mean/std of the HRM release's detectors (224 px faces): ``normalization: null`` + these as ``mean``/``std``.
HRM_MEAN: tuple[float, float, float] = (0.4434, 0.3635, 0.3540)
HRM_STD: tuple[float, float, float] = (0.1947, 0.1981, 0.1991)
POS_WEIGHT_RANGE: tuple[float, float] = (0.1, 100.0)


class AUFrameDataset(FaceImageDataset):
    """Face frames with AU targets: ``aus (N, K)``, optional ``intensity (N, K)`` and ``atypicality (N,)``.

    Example:
        >>> ds = AUFrameDataset(np.zeros((2, 8, 8, 3), np.uint8), [1], [0], [0], [0], np.ones((1, 3)))
        >>> ds[0]["aus"].tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, images: np.ndarray, rows: Sequence[int], labels: Sequence[int], video_ids: Sequence[int],
                 subject_ids: Sequence[int], aus: np.ndarray, intensity: np.ndarray | None = None,
                 atypicality: np.ndarray | None = None, transform: Any | None = None,
                 mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__(images, rows, labels, video_ids, subject_ids, transform, mean, std)
        self.aus = np.asarray(aus, dtype=np.float32)
        if self.aus.ndim != 2 or len(self.aus) != len(self.rows):
            raise ValueError(f"aus must be (N, K) with N = {len(self.rows)} rows, got shape {self.aus.shape}")
        self.intensity = None if intensity is None else np.asarray(intensity, dtype=np.float32)
        self.atypicality = None if atypicality is None else np.asarray(atypicality, dtype=np.float32)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(i)
        del item["y"]
        item["aus"] = torch.from_numpy(self.aus[i])
        if self.intensity is not None:
            item["intensity"] = torch.from_numpy(self.intensity[i])
        if self.atypicality is not None:
            item["atypicality"] = torch.tensor(self.atypicality[i])
        return item


def _column_block(frames: pd.DataFrame, columns: Sequence[str | None], lo: float, hi: float,
                  integer: bool, source: str) -> np.ndarray:
    """``(N, K)`` float32 of ``columns`` (NaN for ``None`` or empty cells); values checked in [lo, hi]."""
    out = np.full((len(frames), len(columns)), np.nan, dtype=np.float32)
    for j, column in enumerate(columns):
        if column is None:
            continue
        values = pd.to_numeric(frames[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero((frames[column].notna().to_numpy() & np.isnan(values)) | (values < lo) | (values > hi)
                             | (integer & ~np.isnan(values) & (values != np.round(values))))
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(f"{source}, row {i + 2}, column '{column}': {frames[column].iloc[i]!r} is not "
                                  f"{'0 or 1' if integer else f'a value in [{lo:g}, {hi:g}]'}")
        out[:, j] = values
    return out


class AUDetectionDataModule(FaceImageDataModule):
    """Frames + multi-label AU targets; subject-level folds stratified by the subject class.

    Args:
        manifest: frame manifest (see :mod:`datamodules.au_manifest`).
        au_names: subset name (``hrm22``, ``hrm17``, ``hrm_all``, ``openface_r17``, ``openface_c18``) or AU names.
        subject_classes: the manifest's ``label`` values in order (default: the sorted values found).
        **kwargs: see :class:`~datamodules.images.FaceImageDataModule` (image_size, transforms,
            normalization, split, fold, num_folds, batch_size, cache_dir, ...); ``classes`` and
            ``class_names`` are the AUs here: left at their defaults (other values are an error).
    """

    labels_are_targets = False  # ``label`` is the subject's group (it stratifies the folds); the targets are AUs

    def __init__(self, manifest: str, au_names: str | list[str] = "hrm22",
                 subject_classes: list[str | int] | None = None, **kwargs: Any) -> None:
        # The CLI passes the base class's defaults (classes [0, 1], class_names null): only other values are errors.
        given = {"classes": kwargs.pop("classes", [0, 1]), "class_names": kwargs.pop("class_names", None)}
        for name, value in given.items():
            if value not in ([0, 1], None):
                raise ValueError(f"AUDetectionDataModule: {name} are the AU names here (set au_names); "
                                 f"the subject labels' classes are subject_classes (got {name}={value})")
        super().__init__(manifest, **kwargs)
        for store in (self.hparams, getattr(self, "_hparams_initial", {})):  # the CLI records the given defaults:
            for name in given:  # drop them, or they clash with the model's class_names when hparams are merged
                store.pop(name, None)
        self.au_names: list[str] = list(resolve_au_subset(au_names))
        self.class_names = list(self.au_names)
        self.subject_classes = None if subject_classes is None else list(subject_classes)
        self.targets: dict[str, np.ndarray | None] = {}
        self.pos_weight_notes: list[str] = []

    @property
    def num_classes(self) -> int:
        return len(self.au_names)

    # ---- manifest and targets ----------------------------------------------------------------
    def index_videos(self) -> tuple[pd.DataFrame, dict[str, list[str]]]:
        """Frames with ``label_index, subject_index, video_index`` (row), ``segment_index``, ``stage``."""
        frames = load_manifest(self.manifest_path)
        missing = [c for c in ("segment", *self.au_names) if c not in frames.columns]
        if missing:
            known = [c for c in frames.columns if c.startswith(("AU", "AD")) and not c.endswith("_intensity")]
            raise DataFormatError(f"{self.manifest_path}: no column(s) {missing} for au_names {self.au_names}; "
                                  f"it has AU columns {known}")
        found = sorted(pd.unique(frames["label"]), key=str)
        self.classes = list(self.subject_classes) if self.subject_classes is not None else found
        frames["label_index"] = encode_labels(frames["label"], self.classes, self.manifest_path)
        parts = self.assign_splits(frames)
        codes = {s: i for i, s in enumerate(sorted(frames["subject_id"].unique()))}
        frames["subject_index"] = frames["subject_id"].map(codes)
        frames["video_index"] = np.arange(len(frames))  # the row in the image cache
        frames["segment_index"] = frames.groupby(["subject_id", "segment"], sort=True).ngroup()
        frames["stage"] = frames["subject_id"].map({s: name for name, subjects in parts.items() for s in subjects})
        return frames, parts

    def _read_targets(self, frames: pd.DataFrame) -> dict[str, np.ndarray | None]:
        source = self.manifest_path
        intensity = [f"{a}_intensity" if f"{a}_intensity" in frames.columns else None for a in self.au_names]
        return {
            "aus": _column_block(frames, self.au_names, 0, 1, True, source),
            "intensity": _column_block(frames, intensity, 0, 5, False, source) if any(intensity) else None,
            "atypicality": _column_block(frames, ["atypicality"], 0, 4, False, source)[:, 0]
            if "atypicality" in frames.columns else None,
        }

    # ---- setup ---------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        frames, parts = self.index_videos()
        targets = self._read_targets(frames)
        images, report = self.load_images(frames)
        self._warn_decoding(frames, report)
        keep = np.asarray(report["valid"], dtype=bool) & frames["stage"].notna().to_numpy()
        self.videos = frames = frames[keep].reset_index(drop=True)
        if (frames["stage"] == "train").sum() == 0:
            raise DataFormatError(f"{self.manifest_path}: no readable training frame after splitting")
        self.targets = {k: None if v is None else v[keep] for k, v in targets.items()}
        for name in STAGES:
            at = np.flatnonzero(frames["stage"].to_numpy() == name)
            rows = frames.iloc[at]
            specs = self.train_transform_specs if name == "train" else self.eval_transform_specs
            pick = {k: None if v is None else v[at] for k, v in self.targets.items()}
            self.datasets[name] = AUFrameDataset(
                images, rows["video_index"].tolist(), rows["label_index"].tolist(), rows["segment_index"].tolist(),
                rows["subject_index"].tolist(), pick["aus"], pick["intensity"], pick["atypicality"],
                build_transforms(specs), self.mean, self.std,
            )
        self.class_weights = None  # multi-label: see pos_weight()
        weights = self.pos_weight()
        self.data_report = self._au_report(parts, report, len(keep), weights)

    # ---- label statistics ----------------------------------------------------------------
    def au_frequencies(self, stage: str = "train") -> torch.Tensor:
        """Positive rate per AU over ``stage``'s frames (unknown labels ignored; NaN if none known)."""
        aus = self.datasets[stage].aus
        known = (~np.isnan(aus)).sum(axis=0)
        rate = np.where(known > 0, np.nansum(aus, axis=0) / np.maximum(known, 1), np.nan)
        return torch.tensor(rate, dtype=torch.float32)

    def pos_weight(self) -> torch.Tensor:
        """``(1 - p) / p`` per AU from the training frames, clipped to [0.1, 100] (for ``BCEWithLogitsLoss``).

        An AU that never (or always) occurs in training gets the bound, and a note (warned and
        kept in ``pos_weight_notes`` / the data report); an AU never labelled gets 1.
        """
        p = self.au_frequencies("train").double()
        lo, hi = POS_WEIGHT_RANGE
        weights = ((1 - p) / p).clamp(lo, hi)
        pairs = list(zip(self.au_names, p.tolist()))
        notes = [f"{a}: never occurs in the training frames (pos_weight {hi:g})" for a, v in pairs if v == 0]
        notes += [f"{a}: present in every training frame (pos_weight {lo:g})" for a, v in pairs if v == 1]
        notes += [f"{a}: no labelled training frame (pos_weight 1)" for a, v in pairs if np.isnan(v)]
        weights = torch.where(torch.isnan(p), torch.ones_like(p), weights)
        if notes and notes != self.pos_weight_notes:
            rank_zero_warn("; ".join(notes))
        self.pos_weight_notes = notes
        return weights.float()

    def sample_names(self) -> dict[str, dict[int, str]]:
        """Readable ids: segment id -> ``<subject_id>#<segment>``, subject id -> ``subject_id``."""
        assert self.videos is not None, "call setup() first"
        seg = self.videos.drop_duplicates("segment_index")
        return {
            "video": {int(i): f"{s}#{g}" for i, s, g in zip(seg["segment_index"], seg["subject_id"], seg["segment"])},
            "subject": dict(zip(self.videos["subject_index"], self.videos["subject_id"])),
        }

    def _au_report(self, parts: dict[str, list[str]], report: dict[str, Any], listed: int,
                   weights: torch.Tensor) -> dict:
        assert self.videos is not None
        build = report_path(self.manifest_path)
        out: dict[str, Any] = {
            "manifest": self.manifest_path,
            "manifest_build": json.loads(build.read_text()) if build.exists() else None,
            "au_names": self.au_names,
            "subject_classes": [str(c) for c in self.classes],
            "split": self.split_summary(parts),
            "image_size": list(self.image_size),
            "images": {"listed": listed, "unreadable": len(self.decode_report["unreadable_files"]),
                       "converted": report["converted"], "crops": report["crops"]},
            "files_skipped": self.decode_report["unreadable_files"],
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "transforms": {"train": self.train_transform_specs, "eval": self.eval_transform_specs},
            "targets": {"intensity": self.targets["intensity"] is not None,
                        "atypicality": self.targets["atypicality"] is not None},
        }
        for name in STAGES:
            rows, aus = self.videos[self.videos["stage"] == name], self.datasets[name].aus
            per_subject = rows.groupby("subject_id")["label_index"].first()
            out[name] = {
                "subjects": int(len(per_subject)), "segments": int(rows["segment_index"].nunique()),
                "frames": int(len(rows)),
                "subjects_per_class": {str(c): int((per_subject == i).sum()) for i, c in enumerate(self.classes)},
                "positives": dict(zip(self.au_names, np.nansum(aus, axis=0).astype(int).tolist())),
                "unknown_labels": dict(zip(self.au_names, np.isnan(aus).sum(axis=0).astype(int).tolist())),
                "subject_ids": sorted(rows["subject_id"].unique().tolist()),
            }
        out["au_frequencies_train"] = dict(zip(self.au_names, self.au_frequencies("train").tolist()))
        out["pos_weight"] = dict(zip(self.au_names, weights.tolist()))
        out["pos_weight_notes"] = self.pos_weight_notes
        out["class_weights"] = None
        return out
