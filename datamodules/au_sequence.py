"""AUSequenceDataModule: windows of Action-Unit sequences from a manifest, split by subject.

Example (YAML):
    data:
      class_path: datamodules.AUSequenceDataModule
      init_args: {manifest: demo_data/manifest.csv, channels: intensity, window: 64, stride: 16}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from rich.progress import track
from torch.utils.data import DataLoader

from datamodules.au_channels import resolve_channels
from datamodules.au_loading import FrameMaskReport, load_au_table, valid_frames
from datamodules.cache import DEFAULT_CACHE_DIR, ArrayCache
from datamodules.io.au_table import DataFormatError
from datamodules.labels import encode_labels
from datamodules.manifest import load_manifest
from datamodules.splits import assert_disjoint, subject_kfold_split, subject_labels
from datamodules.standardize import ChannelScaler
from datamodules.window_dataset import WindowDataset
from lightning_modules.losses import class_weights_from_labels

STAGES = ("train", "val", "test")


class AUSequenceDataModule(pl.LightningDataModule):
    """Windows of AU sequences; subject-level folds; scaler and class weights from training subjects.

    Args:
        manifest: CSV/Parquet with ``subject_id, path, label`` (+ optional ``split, session``).
        classes: the label values, in class-index order; other labels are an error.
        class_names: display names (default: ``classes`` as text).
        channels: ``intensity``, ``presence``, ``both`` or a list of AU names (``AU04``, ``AU12_c``).
        window: frames per window; ``stride``: step between training windows;
            ``eval_stride``: step for validation/test windows (default: ``window``, no overlap).
        min_confidence: frames with lower tracker confidence are dropped (and counted).
        split: ``kfold`` (stratified subject-level folds) or ``column`` (the manifest's ``split``).
        fold, num_folds, val_folds: which fold is test; how many folds go to validation.
        standardize: z-score channels with statistics of training frames only.
        cache_dir: where parsed files are cached by content (``null`` disables).
        file_format: ``auto`` or one reader (``openface``, ``opendbm``, ``daic-woz``).
    """

    def __init__(
        self,
        manifest: str,
        classes: list[str | int] = [0, 1],
        class_names: list[str] | None = None,
        channels: str | list[str] = "intensity",
        window: int = 64,
        stride: int = 16,
        eval_stride: int | None = None,
        min_confidence: float = 0.8,
        split: Literal["kfold", "column"] = "kfold",
        fold: int = 0,
        num_folds: int = 5,
        val_folds: int = 1,
        standardize: bool = True,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        cache_dir: str | None = str(DEFAULT_CACHE_DIR),
        file_format: Literal["auto", "openface", "opendbm", "daic-woz"] = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.manifest_path = manifest
        self.classes = list(classes)
        self.class_names = class_names or [str(c) for c in classes]
        if len(self.class_names) != len(self.classes):
            raise ValueError(f"class_names {self.class_names} and classes {self.classes} differ in length")
        self.channels = resolve_channels(channels)
        self.window, self.stride = window, stride
        self.eval_stride = eval_stride or window
        self.min_confidence = min_confidence
        self.split, self.fold, self.num_folds, self.val_folds = split, fold, num_folds, val_folds
        self.standardize = standardize
        self.batch_size, self.num_workers = batch_size, num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.cache = ArrayCache(cache_dir)
        self.file_format = file_format
        self.seed = seed
        self.datasets: dict[str, WindowDataset] = {}
        self.scaler: ChannelScaler | None = None
        self.class_weights: torch.Tensor | None = None
        self.data_report: dict = {}
        self.videos: pd.DataFrame | None = None

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    # ---- loading -------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Fill the cache once (rank 0), so every rank's ``setup`` only loads arrays."""
        if self.cache.directory is None:
            return
        manifest = load_manifest(self.manifest_path)
        for path in track(manifest["path"].unique(), description="Caching AU files", transient=True):
            load_au_table(path, self.cache, self.file_format)

    def _assign_splits(self, videos: pd.DataFrame) -> dict[str, list[str]]:
        if self.split == "column":
            if "split" not in videos.columns:
                raise DataFormatError(f"{self.manifest_path}: split='column' but the manifest has no 'split' column")
            parts = {s: sorted(videos.loc[videos["split"] == s, "subject_id"].unique()) for s in STAGES}
        else:
            per_subject = subject_labels(videos)
            parts = subject_kfold_split(
                per_subject.index.to_numpy(), per_subject.to_numpy(), self.fold, self.num_folds, self.val_folds, self.seed
            )
        assert_disjoint(parts)
        return parts

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        videos = load_manifest(self.manifest_path)
        videos["label_index"] = encode_labels(videos["label"], self.classes, self.manifest_path)
        parts = self._assign_splits(videos)
        subject_codes = {s: i for i, s in enumerate(sorted(videos["subject_id"].unique()))}
        videos["subject_index"] = videos["subject_id"].map(subject_codes)
        videos["video_index"] = np.arange(len(videos))
        stage_of = {s: name for name, subjects in parts.items() for s in subjects}
        videos["stage"] = videos["subject_id"].map(stage_of)

        sequences: dict[int, np.ndarray] = {}
        reports = {name: FrameMaskReport() for name in STAGES}
        skipped: list[str] = []
        for row in track(list(videos.itertuples()), description="Loading AU sequences", transient=True):
            if not isinstance(row.stage, str):
                continue  # subject in no split (e.g. split column left empty)
            values, _, report = valid_frames(load_au_table(row.path, self.cache, self.file_format), self.channels, self.min_confidence)
            reports[row.stage] += report
            if len(values) == 0:
                skipped.append(row.path)
                continue
            sequences[row.video_index] = values
        if skipped:
            rank_zero_warn(f"skipped {len(skipped)} file(s) with no usable frame (all failed/low confidence/NaN): {skipped[:5]}")
        videos = videos[videos["video_index"].isin(sequences)].reset_index(drop=True)
        self.videos = videos

        train_rows = videos[videos["stage"] == "train"]
        if train_rows.empty:
            raise DataFormatError(f"{self.manifest_path}: no training video left after splitting and masking")
        self.scaler = (
            ChannelScaler.fit([sequences[i] for i in train_rows["video_index"]])
            if self.standardize
            else ChannelScaler.identity(self.num_channels)
        )
        for name in STAGES:
            rows = videos[videos["stage"] == name]
            self.datasets[name] = WindowDataset(
                [self.scaler.transform(sequences[i]) for i in rows["video_index"]],
                rows["label_index"].tolist(),
                rows["video_index"].tolist(),
                rows["subject_index"].tolist(),
                window=self.window,
                stride=self.stride if name == "train" else self.eval_stride,
            )
        self.class_weights = class_weights_from_labels(self.datasets["train"].window_labels(), self.num_classes)
        self.data_report = self._make_report(parts, reports, skipped)

    def _make_report(self, parts: dict[str, list[str]], reports: dict[str, FrameMaskReport], skipped: list[str]) -> dict:
        assert self.videos is not None
        report: dict = {"manifest": self.manifest_path, "channels": self.channels, "files_skipped": skipped}
        for name in STAGES:
            rows = self.videos[self.videos["stage"] == name]
            ds = self.datasets[name]
            counts = np.bincount(ds.window_labels(), minlength=self.num_classes) if len(ds) else np.zeros(self.num_classes, int)
            report[name] = {
                "subjects": int(rows["subject_id"].nunique()),
                "videos": int(len(rows)),
                "windows": int(len(ds)),
                "padded_videos": ds.padded_sequences,
                "windows_per_class": dict(zip(self.class_names, counts.tolist())),
                "subjects_per_class": dict(
                    zip(self.class_names, np.bincount(subject_labels(rows), minlength=self.num_classes).tolist())
                )
                if len(rows)
                else {},
                "frames": reports[name].as_dict(),
            }
        report["class_weights"] = self.class_weights.tolist() if self.class_weights is not None else None
        return report

    def write_report(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data_report, indent=2))
        return path

    # ---- loaders -------------------------------------------------------------------------
    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[name],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    # ---- metadata for aggregation and checkpoints -----------------------------------------
    def sample_names(self) -> dict[str, dict[int, str]]:
        """Readable names of video and subject ids (for prediction tables)."""
        assert self.videos is not None
        return {
            "video": dict(zip(self.videos["video_index"], self.videos["path"])),
            "subject": dict(zip(self.videos["subject_index"], self.videos["subject_id"])),
        }

    def state_dict(self) -> dict:
        return {"scaler": self.scaler.state_dict() if self.scaler else None, "channels": self.channels}

    def load_state_dict(self, state: dict) -> None:
        if state.get("scaler"):
            self.scaler = ChannelScaler.from_state_dict(state["scaler"])
