"""AUFrameDataModule: frame-level (tabular) AU vectors, e.g. the AU severity CSV with 4 classes.

Reads a frame-level manifest (``subject_id, path, label, row``, as written by
``scripts/make_manifest.py --format au-severity-csv``): each row points at one CSV row. Splits
are by subject; when every subject has a single frame (no group column was known) the split is
frame-level and leaks identity, which the run says loudly and records in its data report.
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
from torch.utils.data import DataLoader

from datamodules.au_channels import resolve_channels
from datamodules.cache import DEFAULT_CACHE_DIR, ArrayCache
from datamodules.frame_dataset import FrameDataset
from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.labels import encode_labels
from datamodules.manifest import load_manifest
from datamodules.splits import assert_disjoint, subject_kfold_split, subject_labels
from datamodules.standardize import ChannelScaler
from lightning_modules.losses import class_weights_from_labels

STAGES = ("train", "val", "test")
CACHE_NAMESPACE = "au-severity-v1"


class AUFrameDataModule(pl.LightningDataModule):
    """Frame vectors ``(C,)`` for MLP-style models; scaler and class weights from training subjects.

    Args mirror :class:`~datamodules.au_sequence.AUSequenceDataModule`; ``label_column`` names the
    CSV's label column (used for the cache of the parsed CSV).
    """

    def __init__(
        self,
        manifest: str,
        classes: list[str | int] = [0, 1, 2, 3],
        class_names: list[str] | None = ["healthy", "mild", "moderate", "severe"],
        channels: str | list[str] = "both",
        label_column: str = "label",
        split: Literal["kfold", "column"] = "kfold",
        fold: int = 0,
        num_folds: int = 5,
        val_folds: int = 1,
        standardize: bool = True,
        batch_size: int = 1024,
        num_workers: int = 0,
        cache_dir: str | None = str(DEFAULT_CACHE_DIR),
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
        self.label_column = label_column
        self.split, self.fold, self.num_folds, self.val_folds = split, fold, num_folds, val_folds
        self.standardize, self.batch_size, self.num_workers = standardize, batch_size, num_workers
        self.cache = ArrayCache(cache_dir)
        self.seed = seed
        self.datasets: dict[str, FrameDataset] = {}
        self.class_weights: torch.Tensor | None = None
        self.data_report: dict = {}
        self.subject_names: list[str] = []

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _load_values(self, path: str) -> np.ndarray:
        from datamodules.io.au_severity import read_au_severity_csv

        def parse() -> dict[str, np.ndarray]:
            import warnings

            with warnings.catch_warnings():  # the leakage warning is raised by this module, once
                warnings.simplefilter("ignore", UserWarning)
                values, _, _ = read_au_severity_csv(path, label_column=self.label_column)
            return {"values": values.astype(np.float16)}

        values = self.cache.get_or_compute(path, CACHE_NAMESPACE, parse)["values"]
        return values[:, [ALL_AU_COLUMNS.index(c) for c in self.channels]].astype(np.float32)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        frames = load_manifest(self.manifest_path)
        if "row" not in frames.columns:
            raise DataFormatError(f"{self.manifest_path}: a frame-level manifest needs a 'row' column")
        frames["label_index"] = encode_labels(frames["label"], self.classes, self.manifest_path)
        values = np.empty((len(frames), self.num_channels), dtype=np.float32)
        for path, rows in frames.groupby("path").groups.items():
            table = self._load_values(str(path))
            positions = frames.loc[rows, "row"].to_numpy(dtype=np.int64)
            if positions.max() >= len(table):
                raise DataFormatError(f"{self.manifest_path}: row {positions.max()} is past the end of {path} ({len(table)} rows)")
            values[frames.index.get_indexer(rows)] = table[positions]
        nan_rows = np.isnan(values).any(axis=1)
        if nan_rows.any():
            rank_zero_warn(f"{self.manifest_path}: dropped {int(nan_rows.sum())} frame(s) with NaN AU values")
            frames, values = frames[~nan_rows].reset_index(drop=True), values[~nan_rows]

        leakage = bool(frames["subject_id"].is_unique)
        if leakage:
            rank_zero_warn(
                f"{self.manifest_path}: every subject has exactly one frame, so this split is frame-level and "
                "LEAKS IDENTITY (the same person's frames land in train and test). Name a group column."
            )
        if self.split == "column":
            parts = {s: sorted(frames.loc[frames["split"] == s, "subject_id"].unique()) for s in STAGES}
        else:
            per_subject = subject_labels(frames)
            parts = subject_kfold_split(per_subject.index.to_numpy(), per_subject.to_numpy(), self.fold, self.num_folds, self.val_folds, self.seed)
        assert_disjoint(parts)
        self.subject_names = sorted(frames["subject_id"].unique())
        codes = pd.Series(np.arange(len(self.subject_names)), index=self.subject_names)
        subject_index = codes.loc[frames["subject_id"]].to_numpy()
        stage_of = pd.Series({s: name for name, subjects in parts.items() for s in subjects})
        stages = stage_of.reindex(frames["subject_id"]).to_numpy()

        train = stages == "train"
        scaler = ChannelScaler.fit([values[train]]) if self.standardize else ChannelScaler.identity(self.num_channels)
        for name in STAGES:
            mask = stages == name
            self.datasets[name] = FrameDataset(scaler.transform(values[mask]), frames["label_index"].to_numpy()[mask], subject_index[mask])
        self.class_weights = class_weights_from_labels(self.datasets["train"].window_labels(), self.num_classes)
        self.data_report = {
            "manifest": self.manifest_path,
            "identity_leakage": leakage,
            "channels": self.channels,
            **{
                name: {
                    "subjects": len(parts[name]),
                    "frames": len(self.datasets[name]),
                    "frames_per_class": dict(zip(self.class_names, np.bincount(self.datasets[name].window_labels(), minlength=self.num_classes).tolist())),
                }
                for name in STAGES
            },
            "frames_dropped_nan": int(nan_rows.sum()),
            "class_weights": self.class_weights.tolist(),
        }

    def write_report(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.data_report, indent=2))
        return path

    def sample_names(self) -> dict[str, dict[int, str]]:
        names = dict(enumerate(self.subject_names))
        return {"video": names, "subject": names}

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.datasets[name], batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
