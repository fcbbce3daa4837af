"""AUSequenceDataModule: windows of Action-Unit sequences from a manifest, split by subject.

Example (YAML):
    data:
      class_path: datamodules.AUSequenceDataModule
      init_args: {manifest: demo_data/manifest.csv, channels: intensity, window: 64, stride: 16}
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pytorch_lightning.utilities import rank_zero_warn
from rich.progress import track

from datamodules.au_loading import FrameMaskReport, load_au_table, valid_frames
from datamodules.au_channels import resolve_channels
from datamodules.base import STAGES, SubjectDataModule
from datamodules.io.au_table import DataFormatError
from datamodules.standardize import ChannelScaler
from datamodules.window_dataset import WindowDataset


class AUSequenceDataModule(SubjectDataModule):
    """Windows of AU sequences; subject-level folds; scaler and class weights (or score statistics) from training subjects.

    Args:
        window: frames per window; stride: step between training windows;
            eval_stride: step between validation/test windows (default: ``window``, no overlap).
        min_confidence: frames with lower tracker confidence are dropped (and counted).
        file_format: ``auto`` or one reader (``openface``, ``opendbm``, ``daic-woz``).
        channels: ``intensity``, ``presence``, ``both`` or a list of AU names (``AU04``, ``AU12_c``).
        **kwargs: see :class:`~datamodules.base.SubjectDataModule` (manifest, classes, split, fold, num_folds, batch_size,
            cache_dir, target, score_range, score_bands, ...).
    """

    supports_score_target = True
    supports_inner_folds = True

    def __init__(
        self,
        manifest: str,
        window: int = 64,
        stride: int = 16,
        eval_stride: int | None = None,
        min_confidence: float = 0.8,
        file_format: Literal["auto", "openface", "opendbm", "daic-woz"] = "auto",
        channels: str | list[str] = "intensity",
        **kwargs: Any,
    ) -> None:
        super().__init__(manifest, **kwargs)
        self.channels = resolve_channels(channels)
        self.save_hyperparameters()
        self.window, self.stride = window, stride
        self.eval_stride = eval_stride or window
        self.min_confidence = min_confidence
        self.file_format = file_format
        self.scaler: ChannelScaler | None = None

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    # ---- loading -------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Fill the cache once (rank 0), so every rank's ``setup`` only loads arrays."""
        if self.cache.directory is None:
            return
        manifest = self.rows_to_read()
        for path in track(manifest["path"].unique(), description="Caching AU files", transient=True):
            load_au_table(path, self.cache, self.file_format)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        videos, parts = self.index_videos()

        sequences: dict[int, np.ndarray] = {}
        reports = {name: FrameMaskReport() for name in STAGES}
        skipped: list[str] = []
        for row in track(list(videos.itertuples()), description="Loading AU sequences", transient=True):
            values, _, report = valid_frames(load_au_table(row.path, self.cache, self.file_format), self.channels, self.min_confidence)
            reports[row.stage] += report
            if len(values) == 0:
                skipped.append(row.path)
                continue
            sequences[row.video_index] = values
        if skipped:
            rank_zero_warn(f"skipped {len(skipped)} file(s) with no usable frame (all failed/low confidence/NaN): {skipped[:5]}")
        videos = videos[videos["video_index"].isin(sequences)].reset_index(drop=True)
        self.check_classes(videos, videos["stage"])  # skipped files may have taken a class's last video
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
                rows["target"].to_numpy(),
                rows["video_index"].tolist(),
                rows["subject_index"].tolist(),
                window=self.window,
                stride=self.stride if name == "train" else self.eval_stride,
            )
        self.fit_targets()
        self.data_report = self._make_report(parts, reports, skipped)
        self._warn_dropped(reports)

    def _warn_dropped(self, reports: dict[str, FrameMaskReport]) -> None:
        """Say on the console how many frames had non-finite AU values or confidences (dropped)."""
        nonfinite = sum(r.dropped_nonfinite for r in reports.values())
        if nonfinite:
            rank_zero_warn(f"{self.manifest_path}: dropped {nonfinite} frame(s) with a non-finite (±inf/NaN) AU value or "
                           "confidence; counted as dropped_nonfinite in the data report")

    def _make_report(self, parts: dict[str, list[str]], reports: dict[str, FrameMaskReport], skipped: list[str]) -> dict:
        assert self.videos is not None
        report: dict = {"manifest": self.manifest_path, "channels": self.channels, "files_skipped": skipped,
                        "split": self.split_summary(parts)}
        for name in STAGES:
            rows = self.videos[self.videos["stage"] == name]
            report[name] = {**self.stage_summary(rows, self.datasets[name], reports[name].as_dict()),
                            "padded_videos": self.datasets[name].padded_sequences}
        report["class_weights"] = self.class_weights.tolist() if self.class_weights is not None else None
        return {**report, **self.target_report()}

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"scaler": self.scaler.state_dict() if self.scaler else None, "channels": self.channels,
                "target_stats": self.target_stats}

    def load_state_dict(self, state: dict) -> None:
        if state.get("scaler"):
            self.scaler = ChannelScaler.from_state_dict(state["scaler"])
        if state.get("target_stats"):
            self.target_stats = dict(state["target_stats"])
