"""AUFrameDataModule: frame-level (tabular) AU vectors, e.g. the AU severity CSV with 4 classes.

Reads a frame-level manifest (``subject_id, path, label, row``, as written by
``scripts/make_manifest.py --format au-severity-csv``): each row points at one CSV row. Splits
are by subject; when every subject has a single frame (no group column was known) the split is
frame-level and leaks identity, which the run says loudly and records in its data report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pytorch_lightning.utilities import rank_zero_warn

from datamodules.au_channels import resolve_channels
from datamodules.base import STAGES, SubjectDataModule, per_sample_subjects
from datamodules.frame_dataset import FrameDataset
from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.label_stats import class_weights_from_labels
from datamodules.labels import encode_labels
from datamodules.manifest import load_manifest
from datamodules.standardize import ChannelScaler

CACHE_NAMESPACE = "au-severity-v1"
CHUNK_ROWS = 65536


class AUFrameDataModule(SubjectDataModule):
    """Frame vectors ``(C,)`` for MLP-style models; scaler and class weights from training subjects.

    Args:
        label_column: the CSV's label column (read when the CSV is parsed into the cache).
        channels: ``both`` (the severity CSV's 35 AU columns), ``intensity``, ``presence`` or AU names.
        **kwargs: see :class:`~datamodules.base.SubjectDataModule`; for the AU severity CSV set
            ``classes: [0, 1, 2, 3]``.
    """

    def __init__(self, manifest: str, label_column: str = "label", channels: str | list[str] = "both", **kwargs: Any) -> None:
        super().__init__(manifest, **kwargs)
        self.channels = resolve_channels(channels)
        self.save_hyperparameters()
        self.label_column = label_column
        self.subject_names: list[str] = []

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    def _load_table(self, path: str) -> np.ndarray:
        """The CSV's ``(rows, 35)`` float16 AU table (parsed once, then from the content-keyed cache)."""
        from datamodules.io.au_severity import read_au_severity_csv

        def parse() -> dict[str, np.ndarray]:
            import warnings

            with warnings.catch_warnings():  # the leakage warning is raised by this module, once
                warnings.simplefilter("ignore", UserWarning)
                values, _, _ = read_au_severity_csv(path, label_column=self.label_column)
            return {"values": values.astype(np.float16)}

        return self.cache.get_or_compute(path, CACHE_NAMESPACE, parse)["values"]

    def _gather(self, frames: pd.DataFrame) -> np.ndarray:
        """``(len(frames), C)`` float32 AU vectors of the manifest rows, gathered in row chunks.

        Rows are taken from the float16 table before the channel selection and the cast, a chunk at a
        time, so the only full-size array is the float32 result.
        """
        columns = [ALL_AU_COLUMNS.index(c) for c in self.channels]
        values = np.empty((len(frames), self.num_channels), dtype=np.float32)
        for path, rows in frames.groupby("path").groups.items():
            table = self._load_table(str(path))
            positions = frames.loc[rows, "row"].to_numpy(dtype=np.int64)
            if positions.max() >= len(table):
                raise DataFormatError(f"{self.manifest_path}: row {positions.max()} is past the end of {path} ({len(table)} rows)")
            targets = frames.index.get_indexer(rows)
            for start in range(0, len(positions), CHUNK_ROWS):
                chunk = slice(start, start + CHUNK_ROWS)
                values[targets[chunk]] = table[positions[chunk]][:, columns]
            del table
        return values

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        frames = load_manifest(self.manifest_path)
        if "row" not in frames.columns:
            raise DataFormatError(f"{self.manifest_path}: a frame-level manifest needs a 'row' column")
        frames["label_index"] = encode_labels(frames["label"], self.classes, self.manifest_path)
        values = self._gather(frames)
        nan_rows = np.isnan(values).any(axis=1)
        inf_rows = ~nan_rows & np.isinf(values).any(axis=1)  # ±inf is no intensity: dropped, not standardised
        for rows, what in ((nan_rows, "NaN"), (inf_rows, "non-finite (±inf)")):
            if rows.any():
                rank_zero_warn(f"{self.manifest_path}: dropped {int(rows.sum())} frame(s) with {what} AU values")
        drop = nan_rows | inf_rows
        if drop.any():
            frames, values = frames[~drop], values[~drop]  # the index stays the manifest's (row numbers in messages)

        leakage = per_sample_subjects(frames)
        if leakage:
            rank_zero_warn(
                f"{self.manifest_path}: every subject has exactly one frame, so this split is frame-level and "
                "LEAKS IDENTITY (the same person's frames land in train and test). Name a group column."
            )
        parts = self.assign_splits(frames)
        self.subject_names = sorted(frames["subject_id"].unique())
        codes = pd.Series(np.arange(len(self.subject_names)), index=self.subject_names)
        subject_index = codes.loc[frames["subject_id"]].to_numpy()
        stage_of = pd.Series({s: name for name, subjects in parts.items() for s in subjects})
        stages = stage_of.reindex(frames["subject_id"]).to_numpy()

        train = stages == "train"
        scaler = ChannelScaler.fit([values[train]]) if self.standardize else ChannelScaler.identity(self.num_channels)
        scaler.transform_(values)  # in place: the per-stage copies below are the only other full-size arrays
        labels = frames["label_index"].to_numpy()
        for name in STAGES:
            mask = stages == name
            self.datasets[name] = FrameDataset(values[mask], labels[mask], subject_index[mask])
        del values
        self.class_weights = class_weights_from_labels(self.datasets["train"].window_labels(), self.num_classes)
        self.data_report = {
            "manifest": self.manifest_path,
            "identity_leakage": leakage,
            "channels": self.channels,
            "split": self.split_summary(parts),
            **{
                name: {
                    "subjects": len(parts[name]),
                    "frames": len(self.datasets[name]),
                    "frames_per_class": dict(zip(self.class_names, np.bincount(self.datasets[name].window_labels(), minlength=self.num_classes).tolist())),
                }
                for name in STAGES
            },
            "frames_dropped_nan": int(nan_rows.sum()),
            "frames_dropped_nonfinite": int(inf_rows.sum()),
            "class_weights": self.class_weights.tolist(),
        }

    def sample_names(self) -> dict[str, dict[int, str]]:
        names = dict(enumerate(self.subject_names))
        return {"video": names, "subject": names}
