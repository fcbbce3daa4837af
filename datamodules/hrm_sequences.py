"""HRMSequenceDataModule: windows of Hugging-Rain-Man AU presence sequences with an atypicality target.

The manifest has one HRM label CSV per row (``subject_id, path, label``; ``label`` is the
subject's group, e.g. ``ASD``/``TD``, used only to stratify the subject-level folds); build it with
``python scripts/make_hrm_manifest.py --format hrm <root> --out <root>/hrm_sequences.csv``.
Channels are the 0/1 presence (codes 2-5 = present) of an AU subset. Frames with a NaN target are
dropped; windows never cross a segment (run of consecutive frame numbers) nor a dropped frame;
segments shorter than a window give no window. All three are counted in the data report.

Items: ``{x: (window, C) float32, y: float target, video: segment id, subject, index}``.

Example (YAML):
    data:
      class_path: datamodules.hrm_sequences.HRMSequenceDataModule
      init_args: {manifest: demo_hrm/hrm_sequences.csv, aus: hrm22, window: 15, stride: 1, num_folds: 3}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import Dataset

from datamodules.base import STAGES, SubjectDataModule
from datamodules.io.au_table import DataFormatError
from datamodules.io.hrm import find_hrm_label_files, presence, read_hrm_labels, resolve_au_subset, segments
from datamodules.make_manifest import manifest_path
from datamodules.manifest import load_manifest, write_manifest
from datamodules.standardize import ChannelScaler

Reduce = Literal["mean", "last", "mode"]
UNKNOWN_GROUP = "unknown"


def build_hrm_manifest(root: str | Path, out: str | Path) -> pd.DataFrame:
    """Write a per-subject manifest of ``root/labels/[<group>/]<subject>.csv`` (paths relative to ``out``).

    Example:
        >>> build_hrm_manifest("demo_hrm", "demo_hrm/hrm_sequences.csv").columns.tolist()  # doctest: +SKIP
        ['subject_id', 'path', 'label']
    """
    files = find_hrm_label_files(root)
    if not files:
        raise DataFormatError(f"{root}: no label CSV under labels/")
    out_dir = Path(os.path.abspath(out)).parent
    df = pd.DataFrame([(s, manifest_path(p, out_dir), g or UNKNOWN_GROUP) for s, g, p in files],
                      columns=["subject_id", "path", "label"])
    write_manifest(df, out)
    return df


def reduce_windows(values: np.ndarray, starts: np.ndarray, window: int, how: Reduce) -> np.ndarray:
    """Per window starting at ``starts``: mean, last or mode (most frequent; ties: smallest) of ``values``.

    >>> reduce_windows(np.array([1.0, 2.0, 2.0, 5.0]), np.array([0, 1]), 3, "mode").tolist()
    [2.0, 2.0]
    """
    w = sliding_window_view(np.asarray(values, dtype=np.float64), window)[starts]
    if how == "mean":
        return w.mean(axis=1)
    if how == "last":
        return w[:, -1].copy()
    if how == "mode":
        s = np.sort(w, axis=1)
        counts = (s[:, :, None] == s[:, None, :]).sum(axis=2)
        return s[np.arange(len(s)), counts.argmax(axis=1)]
    raise ValueError(f"target_reduce must be mean, last or mode, got {how!r}")


class SegmentWindowDataset(Dataset):
    """Windows ``x[o : o + window]`` at ``offsets`` into one ``(M, C)`` frame array, with a target each.

    >>> ds = SegmentWindowDataset(np.zeros((6, 2), np.float32), np.array([0, 3]), np.array([0.5, 1.0]),
    ...                           np.array([0, 1]), np.array([0, 0]), window=3)
    >>> ds[1]["x"].shape, float(ds[1]["y"])
    (torch.Size([3, 2]), 1.0)
    """

    def __init__(self, x: np.ndarray, offsets: np.ndarray, targets: np.ndarray, video_ids: np.ndarray,
                 subject_ids: np.ndarray, window: int) -> None:
        self.x, self.window = np.ascontiguousarray(x, dtype=np.float32), window
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.video_ids = np.asarray(video_ids, dtype=np.int64)
        self.subject_ids = np.asarray(subject_ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        o = int(self.offsets[i])
        return {"x": torch.from_numpy(self.x[o : o + self.window]), "y": torch.tensor(self.targets[i]),
                "video": torch.tensor(self.video_ids[i]), "subject": torch.tensor(self.subject_ids[i]),
                "index": torch.tensor(i)}


class HRMSequenceDataModule(SubjectDataModule):
    """HRM AU presence windows -> atypicality regression; subject-level folds stratified by group.

    Args:
        aus: AU subset name (``hrm22``, ``hrm17``, ``hrm_all``) or a list of HRM AU names.
        target_column: regression target column of the CSVs (``Abnormal-avg`` or one annotator).
        target_reduce: the window's target from its frames: ``mean``, ``last`` or ``mode``.
        window: frames per window; stride: step between training windows; eval_stride: val/test step.
        subject_classes: group labels in order (default: the sorted values of the manifest's ``label``).
        standardize: z-score channels with training statistics (off: presence is already 0/1).
        **kwargs: see :class:`~datamodules.base.SubjectDataModule` (split, fold, num_folds, batch_size, ...);
            ``classes``/``class_names`` are the target here and must stay at their defaults.
    """

    labels_are_targets = False  # ``label`` is the subject's group (it stratifies the folds); the target is atypicality

    def __init__(self, manifest: str, aus: str | list[str] = "hrm22", target_column: str = "Abnormal-avg",
                 target_reduce: Reduce = "mean", window: int = 15, stride: int = 1, eval_stride: int = 1,
                 subject_classes: list[str] | None = None, standardize: bool = False, **kwargs: Any) -> None:
        given = {"classes": kwargs.pop("classes", [0, 1]), "class_names": kwargs.pop("class_names", None)}
        for name, value in given.items():
            if value not in ([0, 1], None):
                raise ValueError(f"HRMSequenceDataModule: {name} is the target here (set target_column); "
                                 f"group labels are subject_classes (got {name}={value})")
        if target_reduce not in ("mean", "last", "mode"):
            raise ValueError(f"target_reduce must be mean, last or mode, got {target_reduce!r}")
        if min(window, stride, eval_stride) < 1:
            raise ValueError(f"window, stride and eval_stride must be >= 1, got {window}, {stride}, {eval_stride}")
        super().__init__(manifest, standardize=standardize, **kwargs)
        self.save_hyperparameters()
        for store in (self.hparams, getattr(self, "_hparams_initial", {})):
            for name in given:  # the model's class_names come from ours: no clash when hparams are merged
                store.pop(name, None)
        self.aus = list(resolve_au_subset(aus))
        self.target_column, self.target_reduce = target_column, target_reduce
        self.window, self.stride, self.eval_stride = window, stride, eval_stride
        self.subject_classes = None if subject_classes is None else list(subject_classes)
        self.class_names = [target_column]
        self.scaler: ChannelScaler | None = None
        self.segment_names: dict[int, str] = {}

    @property
    def num_channels(self) -> int:
        return len(self.aus)

    @property
    def num_classes(self) -> int:
        return 1

    def index_videos(self) -> tuple[pd.DataFrame, dict[str, list[str]]]:
        """The manifest (one row per file) with ``label_index, subject_index, video_index, stage``."""
        found = sorted(pd.unique(load_manifest(self.manifest_path)["label"].astype(str)))
        self.classes = list(self.subject_classes) if self.subject_classes is not None else found
        return super().index_videos()

    def _read(self, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``frames (T,)``, presence ``(T, C)`` and target ``(T,)`` of one CSV."""
        table = read_hrm_labels(path)
        if self.target_column not in table.columns:
            raise DataFormatError(f"{path}: no target column {self.target_column!r} (a regression CSV has "
                                  f"Abnormal-j..Abnormal-avg); columns: {list(table.columns)}")
        target = pd.to_numeric(table[self.target_column], errors="coerce").to_numpy(np.float64)
        return table["frame"].to_numpy(np.int64), presence(table, self.aus), target

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        files, parts = self.index_videos()
        files = files[files["stage"].notna()].reset_index(drop=True)  # subjects in no split are left out
        self.videos = files
        built: dict[str, dict[str, Any]] = {
            name: {"x": [], "off": [], "y": [], "video": [], "subject": [], "size": 0, "segments": 0,
                   "segments_skipped": 0, "subjects": {}, "no_window": [], "frames": dict.fromkeys(
                       ("frames", "kept", "dropped_nan_target", "dropped_nan_au", "dropped_short_segment"), 0)}
            for name in STAGES
        }
        segment_counter: dict[str, int] = {}
        for row in files.itertuples():  # manifest order: segment ids do not depend on the fold
            self._add_file(row, built[row.stage], segment_counter)
        if not any(len(o) for o in built["train"]["off"]):
            raise DataFormatError(f"{self.manifest_path}: no training window (window {self.window} longer than "
                                  f"every segment, or every target NaN?)")
        train_x = np.concatenate(built["train"]["x"])
        self.scaler = ChannelScaler.fit([train_x]) if self.standardize else ChannelScaler.identity(self.num_channels)
        for name, acc in built.items():
            x = np.concatenate(acc["x"]) if acc["x"] else np.zeros((0, self.num_channels), np.float32)
            cat = lambda k, dt: np.concatenate(acc[k]).astype(dt) if acc[k] else np.zeros(0, dt)  # noqa: E731
            self.datasets[name] = SegmentWindowDataset(
                self.scaler.transform(x) if len(x) else x, cat("off", np.int64), cat("y", np.float32),
                cat("video", np.int64), cat("subject", np.int64), self.window)
        self.data_report = {**self._make_report(built), "split": self.split_summary(parts)}
        skipped = sum(a["segments_skipped"] for a in built.values())
        if skipped:
            rank_zero_warn(f"{skipped} segment(s) shorter than window={self.window} (after dropping NaN targets) "
                           "gave no window; counted in the data report")

    def _add_file(self, row: Any, acc: dict[str, Any], counter: dict[str, int]) -> None:
        """Append one CSV's kept frames, its windows (offsets into the stage's frame array) and counts to ``acc``."""
        frames, x, target = self._read(row.path)
        seg = segments(frames)  # the file's segments, before any frame is dropped
        n_seg = int(seg.max()) + 1 if len(seg) else 0
        first = counter.get(row.subject_id, 0)
        counter[row.subject_id] = first + n_seg
        gids = np.arange(len(self.segment_names), len(self.segment_names) + n_seg)
        self.segment_names.update({int(g): f"{row.subject_id}#{first + k}" for k, g in enumerate(gids)})
        nan_target = np.isnan(target)
        nan_au = np.isnan(x).any(axis=1) & ~nan_target
        keep = ~(nan_target | nan_au)
        frames, x, target, seg = frames[keep], x[keep], target[keep], seg[keep]
        runs = segments(frames)  # a new run at every segment gap and at every dropped frame
        run_start = np.flatnonzero(np.r_[True, np.diff(runs) != 0]) if len(runs) else np.zeros(0, np.int64)
        run_len = np.diff(np.r_[run_start, len(runs)])
        stride = self.stride if row.stage == "train" else self.eval_stride
        starts = [b + np.arange(0, n - self.window + 1, stride) for b, n in zip(run_start, run_len) if n >= self.window]
        starts = np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)
        short = int(run_len[run_len < self.window].sum())
        counts = acc["frames"]
        counts["frames"] += int(len(keep))
        counts["dropped_nan_target"] += int(nan_target.sum())
        counts["dropped_nan_au"] += int(nan_au.sum())
        counts["dropped_short_segment"] += short
        counts["kept"] += int(len(frames)) - short
        used = np.unique(seg[starts])
        acc["segments"] += n_seg
        acc["segments_skipped"] += n_seg - len(used)
        acc["x"].append(x)
        acc["off"].append(acc["size"] + starts)
        acc["size"] += len(x)
        acc["y"].append(reduce_windows(target, starts, self.window, self.target_reduce) if len(starts) else np.zeros(0))
        acc["video"].append(gids[seg[starts]])
        acc["subject"].append(np.full(len(starts), row.subject_index, dtype=np.int64))
        if not len(starts):
            acc["no_window"].append(row.path)
        if row.subject_id not in acc["subjects"]:
            acc["subjects"][row.subject_id] = row.label

    def _make_report(self, built: dict[str, dict[str, Any]]) -> dict[str, Any]:
        report: dict[str, Any] = {
            "manifest": self.manifest_path, "aus": self.aus, "target_column": self.target_column,
            "target_reduce": self.target_reduce, "window": self.window, "stride": self.stride,
            "eval_stride": self.eval_stride, "subject_classes": [str(c) for c in self.classes],
            "standardize": self.standardize,
            "files_skipped": [p for acc in built.values() for p in acc["no_window"]],
        }
        for name, acc in built.items():
            ds: SegmentWindowDataset = self.datasets[name]  # type: ignore[assignment]
            groups = pd.Series(acc["subjects"], dtype=object)
            report[name] = {
                "subjects": len(acc["subjects"]), "videos": len(acc["x"]), "segments": acc["segments"],
                "segments_used": int(len(np.unique(ds.video_ids))), "segments_skipped_short": acc["segments_skipped"],
                "windows": len(ds), "subjects_per_class": {str(k): int(v) for k, v in groups.value_counts().sort_index().items()},
                "frames": dict(acc["frames"]),
                "target": {k: float(getattr(ds.targets, k)()) if len(ds) else None for k in ("mean", "std", "min", "max")},
                "subject_ids": sorted(acc["subjects"]),
            }
        return report

    def sample_names(self) -> dict[str, dict[int, str]]:
        """Readable ids: segment id -> ``<subject_id>#<segment>`` (k-th segment of the subject), subject id -> id."""
        assert self.videos is not None, "call setup() first"
        return {"video": dict(self.segment_names),
                "subject": {int(i): s for i, s in zip(self.videos["subject_index"], self.videos["subject_id"])}}

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict() if self.scaler else None, "aus": self.aus}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("scaler"):
            self.scaler = ChannelScaler.from_state_dict(state["scaler"])
