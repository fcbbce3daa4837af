"""MultimodalDataModule: AU sequences, landmarks and face crops of each video, aligned on the frame number.

Manifest: the usual columns (``subject_id, path, label`` [, ``score, split, session``]) plus one path column per view:
``au_path`` (an AU file; without this column ``path`` is the AU file), ``landmarks_path`` (a landmark file) and
``faces_path`` (a folder of aligned crops or a video). A blank cell means the video lacks that view: its windows carry
the view as absent (``present`` False, zeros) and the data report counts it; nothing is zero-filled as if observed.
Relative paths are relative to the manifest's folder. A view file that exists but cannot be read is a
:class:`DataFormatError` naming the file (never skipped silently); so is a listed view file that does not exist.

Views are read by :mod:`datamodules.multimodal_views` (faces: :mod:`datamodules.multimodal_faces`), aligned onto one
timeline per video and cut into windows by :mod:`datamodules.multimodal_dataset` (batch layout there). Statistics
(AU channel scaler, landmark x/y/z mean and std, face pixel mean and std per RGB channel) are fitted on the training
stage's videos only. One video on its own is read, aligned and windowed by the same methods
(:meth:`MultimodalDataModule.video_windows`, with the statistics a checkpoint restores: ``predict.py``).

Example (YAML):
    data:
      class_path: datamodules.MultimodalDataModule
      init_args: {manifest: data/multimodal.csv, views: [aus, landmarks, faces], window: 64, stride: 16, face_size: 32}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pytorch_lightning.utilities import rank_zero_warn
from rich.progress import track

from datamodules.au_channels import resolve_channels
from datamodules.base import STAGES, SubjectDataModule
from datamodules.io.au_table import DataFormatError
from datamodules.multimodal_dataset import AlignedVideo, MultimodalWindowDataset
from datamodules.multimodal_faces import VideoFaceCropper
from datamodules.multimodal_views import (
    Timeline, ViewLoader, ViewTrack, align, align_timestamps, resolve_views, sum_counts, view_paths,
)
from datamodules.standardize import ChannelScaler

MAX_NAMED = 5
ViewName = Literal["aus", "landmarks", "faces"]


def pixel_scaler(crops: list[np.ndarray]) -> ChannelScaler:
    """Per-channel mean and std of ``[0, 1]`` pixels over uint8 crops ``(n, S, S, 3)`` (float64 sums per video).

    >>> s = pixel_scaler([np.full((1, 2, 2, 3), 255, np.uint8), np.zeros((1, 2, 2, 3), np.uint8)])
    >>> s.mean.tolist(), s.std.tolist()
    ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    """
    count, total, squares = 0, np.zeros(3), np.zeros(3)
    for array in crops:
        pixels = array.reshape(-1, 3).astype(np.float64) / 255.0
        count += len(pixels)
        total += pixels.sum(axis=0)
        squares += np.square(pixels).sum(axis=0)
    if not count:
        raise ValueError("pixel_scaler needs at least one crop")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return ChannelScaler(mean=mean, std=np.where(std < 1e-6, 1.0, std))


class MultimodalDataModule(SubjectDataModule):
    """Windows carrying every available view of a video (AUs, landmarks, face crops); subject-level folds.

    Args:
        views: the views of the run, any non-empty subset of ``[aus, landmarks, faces]`` (kept in that order); a
            view whose manifest column is missing is an error naming the manifest and the column.
        window: timeline frames per window; stride: step between training windows;
            eval_stride: step between validation/test windows (default: ``window``).
        min_confidence: AU and landmark frames with lower tracker confidence are invalid (counted).
        file_format: the AU reader (``auto``, ``openface``, ``opendbm``, ``daic-woz``).
        landmark_format: the landmark reader (``auto``, ``openface``, ``openface-2d``, ``daic-woz``, ``opendbm``,
            ``npz``).
        channels: AU channels: ``intensity``, ``presence``, ``both`` or a list of AU names (``AU04``, ``AU12_c``).
        face_size: side of the stored face crops (pixels).
        face_frames: crops per window, sampled evenly over its frames.
        face_margin: video faces: enlarge the detected box by this fraction of its side on each side.
        detect_faces: video faces: crop the largest BlazeFace face (else, or without the detector, the centred square).
        min_face_score: the detector's score threshold.
        min_view_coverage: a view is present in a window when its valid frames cover at least this share of the
            window's frames (0 < m <= 1); windows with no present view are dropped and counted.
        align_on: ``frame`` (frame numbers) or ``timestamp`` (nearest timestamp within half a frame period).
        **kwargs: see :class:`~datamodules.base.SubjectDataModule` (classes, split, fold, num_folds, batch_size,
            cache_dir, target, score_range, inner_fold, ...).

    Example:
        >>> dm = MultimodalDataModule("m.csv", views=["aus", "landmarks"], window=32)  # doctest: +SKIP
        >>> dm.setup("fit"); dm.num_channels  # doctest: +SKIP
        {'aus': 17, 'landmarks': 3}
    """

    supports_score_target = True
    supports_inner_folds = True

    def __init__(
        self,
        manifest: str,
        views: list[ViewName] = ["aus", "landmarks", "faces"],
        window: int = 64,
        stride: int = 16,
        eval_stride: int | None = None,
        min_confidence: float = 0.8,
        file_format: Literal["auto", "openface", "opendbm", "daic-woz"] = "auto",
        landmark_format: Literal["auto", "openface", "openface-2d", "daic-woz", "opendbm", "npz"] = "auto",
        channels: str | list[str] = "intensity",
        face_size: int = 32,
        face_frames: int = 4,
        face_margin: float = 0.1,
        detect_faces: bool = True,
        min_face_score: float = 0.5,
        min_view_coverage: float = 0.5,
        align_on: Literal["frame", "timestamp"] = "frame",
        **kwargs: Any,
    ) -> None:
        super().__init__(manifest, **kwargs)
        self.views = resolve_views(views)
        self.channels = resolve_channels(channels)
        self.save_hyperparameters()
        if min(window, stride, face_size, face_frames) < 1 or (eval_stride is not None and eval_stride < 1):
            raise ValueError(f"window, stride, eval_stride, face_size and face_frames must be >= 1, got {window}, "
                             f"{stride}, {eval_stride}, {face_size}, {face_frames}")
        if not 0.0 < min_view_coverage <= 1.0:
            raise ValueError(f"min_view_coverage must be in (0, 1], got {min_view_coverage}")
        if align_on not in ("frame", "timestamp"):
            raise ValueError(f"align_on must be 'frame' or 'timestamp', got {align_on!r}")
        self.window, self.stride = window, stride
        self.eval_stride = eval_stride or window
        self.min_confidence = min_confidence
        self.file_format, self.landmark_format = file_format, landmark_format
        self.face_size, self.face_frames = face_size, face_frames
        self.min_view_coverage, self.align_on = min_view_coverage, align_on
        self.cropper = VideoFaceCropper(face_margin, min_face_score, detect_faces)
        self.num_points: int | None = None
        self.scalers: dict[str, ChannelScaler] = {}
        self.videos_skipped: list[str] = []

    @property
    def num_channels(self) -> dict[str, int]:  # type: ignore[override]  (one entry per view)
        """Input channels per view, in view order: AU channels, 3 (x, y, z), 3 (RGB)."""
        sizes = {"aus": len(self.channels), "landmarks": 3, "faces": 3}
        return {view: sizes[view] for view in self.views}

    def view_loader(self) -> ViewLoader:
        """A :class:`ViewLoader` with this run's reading settings (its cache, channels, formats, crop size)."""
        return ViewLoader(self.cache, self.channels, self.min_confidence, self.file_format, self.landmark_format,
                          self.face_size, self.cropper)

    # ---- one video: read, align, standardise, window (training, evaluation and predict.py) ----------------
    def load_video(self, sources: Mapping[str, str], loader: ViewLoader | None = None,
                   ) -> tuple[Timeline, dict[str, ViewTrack]]:
        """One video's view files read (``sources``: view -> file; a view left out is absent) and aligned on one
        timeline (``align_on``). A file that does not exist or cannot be read is a :class:`DataFormatError` naming it."""
        loader = loader or self.view_loader()
        tracks = {view: loader.load(view, path) for view, path in sources.items()}
        timeline = align(tracks) if self.align_on == "frame" else align_timestamps(tracks, dict(sources))
        return timeline, tracks

    def aligned_video(self, timeline: Timeline, tracks: dict[str, ViewTrack], standardized: bool = True) -> AlignedVideo:
        """A loaded video on its timeline with every view of the run (a view without a track: no valid frame);
        ``standardized``: AUs and landmarks through the fitted (or checkpoint-loaded) :attr:`scalers`."""
        rows = {v: timeline.rows.get(v, np.full(timeline.length, -1, np.int64)) for v in self.views}
        data = {v: self._empty(v) if v not in tracks else
                (self.scalers[v].transform(tracks[v].data) if standardized and v != "faces" else tracks[v].data)
                for v in self.views}
        return AlignedVideo(timeline.length, rows, data)

    def window_dataset(self, videos: list[AlignedVideo], targets: Sequence[Any] | np.ndarray, video_ids: list[int],
                       subject_ids: list[int], stride: int | None = None,
                       standardized: bool = True) -> MultimodalWindowDataset:
        """The windows of aligned videos with this run's settings (``stride``: default ``eval_stride``, as validation
        and test; face crops standardised with the fitted face statistics when ``standardized``)."""
        faces = self.scalers.get("faces") if standardized else None
        return MultimodalWindowDataset(
            videos, targets, video_ids, subject_ids, self.views, self._frame_shapes(), window=self.window,
            stride=self.eval_stride if stride is None else stride, face_frames=self.face_frames,
            min_view_coverage=self.min_view_coverage, face_mean=None if faces is None else faces.mean,
            face_std=None if faces is None else faces.std,
        )

    def video_windows(self, sources: Mapping[str, str], loader: ViewLoader | None = None,
                      ) -> tuple[MultimodalWindowDataset, Timeline, dict[str, ViewTrack]]:
        """One video's evaluation windows exactly as validation and test build them (:meth:`load_video`,
        :meth:`aligned_video` standardised, :meth:`window_dataset` at ``eval_stride``), target 0, video and subject 0.

        Needs the statistics (:attr:`scalers`, fitted by :meth:`setup` or restored by :meth:`load_state_dict`) of
        every view, and :attr:`num_points` when the run has landmarks; a landmark file with another point count is a
        :class:`DataFormatError` naming it.
        """
        missing = [v for v in self.views if v not in self.scalers]
        if missing:
            raise ValueError(f"no fitted statistics for view(s) {missing}: setup() or load_state_dict() first")
        if "landmarks" in self.views and self.num_points is None:
            raise ValueError("the landmark point count is unknown: setup() or load_state_dict() first")
        timeline, tracks = self.load_video(sources, loader)
        if "landmarks" in tracks and tracks["landmarks"].data.shape[1] != self.num_points:
            raise DataFormatError(f"{sources['landmarks']}: {tracks['landmarks'].data.shape[1]} landmark points, but the "
                                  f"run's landmark files have {self.num_points}")
        dataset = self.window_dataset([self.aligned_video(timeline, tracks)], [0], [0], [0])
        return dataset, timeline, tracks

    # ---- loading -------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Fill the cache once (rank 0) from the rows this run may read (:meth:`rows_to_read`)."""
        if self.cache.directory is None:
            return
        rows = self.rows_to_read()
        paths, loader = view_paths(rows, self.manifest_path, self.views), self.view_loader()
        for view in self.views:
            for path in track(sorted({p for p in paths[view] if p is not None}), description=f"Caching {view}",
                              transient=True):
                loader.load(view, path)

    def _load_videos(self, videos: pd.DataFrame) -> tuple[dict[int, tuple[Timeline, dict[str, ViewTrack]]], ViewLoader]:
        """Every video's tracks and timeline (videos with no view file are skipped and named)."""
        paths, loader = view_paths(videos, self.manifest_path, self.views), self.view_loader()
        loaded: dict[int, tuple[Timeline, dict[str, ViewTrack]]] = {}
        first_points: tuple[int, str] | None = None
        for position, row in enumerate(track(list(videos.itertuples()), description="Loading views", transient=True)):
            sources = {v: paths[v][position] for v in self.views if paths[v][position] is not None}
            if not sources:
                self.videos_skipped.append(f"{row.path} (no view file)")
                continue
            timeline, tracks = self.load_video(sources, loader)
            if "landmarks" in tracks:
                count = tracks["landmarks"].data.shape[1]
                first_points = first_points or (count, sources["landmarks"])
                if count != first_points[0]:
                    raise DataFormatError(
                        f"{sources['landmarks']}: {count} landmark points, but {first_points[1]} has "
                        f"{first_points[0]}; every landmark file of a run needs the same point set")
            loaded[row.video_index] = (timeline, tracks)
        self.num_points = first_points[0] if first_points else None
        return loaded, loader

    def _empty(self, view: str) -> np.ndarray:
        return np.zeros((0, *self._frame_shapes()[view]), np.uint8 if view == "faces" else np.float32)

    def _frame_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"aus": (len(self.channels),), "landmarks": (self.num_points or 0, 3),
                "faces": (self.face_size, self.face_size, 3)}

    def _datasets(self, videos: pd.DataFrame, loaded: dict, standardized: bool) -> dict[str, MultimodalWindowDataset]:
        out = {}
        for name in STAGES:
            rows = videos[videos["stage"] == name]
            out[name] = self.window_dataset(
                [self.aligned_video(*loaded[i], standardized=standardized) for i in rows["video_index"]],
                rows["target"].to_numpy(), rows["video_index"].tolist(), rows["subject_index"].tolist(),
                stride=self.stride if name == "train" else self.eval_stride, standardized=standardized)
        return out

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        videos, parts = self.index_videos()
        self.videos_skipped = []
        loaded, loader = self._load_videos(videos)
        videos = videos[videos["video_index"].isin(loaded)].reset_index(drop=True)
        first_pass = self._datasets(videos, loaded, standardized=False)  # which videos keep a window
        dropped = {name: first_pass[name].dropped_windows for name in STAGES}
        keep = set()
        for name in STAGES:
            rows = videos[videos["stage"] == name]
            for index, windows in zip(rows["video_index"], first_pass[name].windows_per_video):
                if windows:
                    keep.add(index)
                else:
                    self.videos_skipped.append(f"{videos.loc[videos['video_index'] == index, 'path'].iloc[0]} "
                                               "(no window with a present view)")
        if self.videos_skipped:
            rank_zero_warn(f"skipped {len(self.videos_skipped)} video(s): {self.videos_skipped[:MAX_NAMED]}")
        self.videos = videos = videos[videos["video_index"].isin(keep)].reset_index(drop=True)
        self.check_classes(videos, videos["stage"])  # skipped videos may have taken a class's last one
        train = videos.loc[videos["stage"] == "train", "video_index"].tolist()
        if not train:
            raise DataFormatError(f"{self.manifest_path}: no training video left after splitting and masking")
        self.scalers = self._fit_scalers([loaded[i][1] for i in train])
        self.datasets = self._datasets(videos, loaded, standardized=True)
        self.fit_targets()
        self.data_report = self._report(parts, loaded, loader, dropped)

    def _fit_scalers(self, train: list[dict[str, ViewTrack]]) -> dict[str, ChannelScaler]:
        """Per view, the statistics of the training videos' valid frames (identity with ``standardize: false``)."""
        scalers = {}
        for view in self.views:
            if not self.standardize:
                scalers[view] = ChannelScaler.identity(self.num_channels[view])
                continue
            arrays = [t[view].data for t in train if view in t and len(t[view].data)]
            if not arrays:
                raise DataFormatError(f"{self.manifest_path}: no training video has a valid {view} frame "
                                      f"({self.split_description()}), so its statistics cannot be fitted")
            if view == "faces":
                scalers[view] = pixel_scaler(arrays)
            else:
                scalers[view] = ChannelScaler.fit([a.reshape(-1, self.num_channels[view]) for a in arrays])
        return scalers

    # ---- report --------------------------------------------------------------------------
    def _view_summary(self, rows: pd.DataFrame, loaded: dict, dataset: MultimodalWindowDataset) -> dict:
        summary: dict[str, dict[str, Any]] = {}
        masked = dataset.masked_windows()
        for view in self.views:
            counts: dict[str, int] = {}
            missing = frames_missing = 0
            for index in rows["video_index"]:
                timeline, tracks = loaded[index]
                if view in tracks:
                    counts = sum_counts(counts, tracks[view].counts)
                    frames_missing += int((timeline.rows[view] < 0).sum())
                else:
                    missing += 1
                    frames_missing += timeline.length
            summary[view] = {"videos_missing": missing, "frames_missing": frames_missing,
                             "windows_masked": masked[view], "frames": counts}
        return summary

    def _report(self, parts: dict[str, list[str]], loaded: dict, loader: ViewLoader, dropped: dict[str, int]) -> dict:
        assert self.videos is not None
        report: dict[str, Any] = {
            "manifest": self.manifest_path, "views": self.views, "channels": self.channels, "align_on": self.align_on,
            "window": self.window, "min_view_coverage": self.min_view_coverage, "num_points": self.num_points,
            "files_skipped": self.videos_skipped, "split": self.split_summary(parts),
        }
        if "faces" in self.views:
            detector = ("not needed (no video face source)" if not loader.video_sources else
                        "BlazeFace, largest face" if self.cropper.mode == "detect" else self.cropper.fallback)
            report["faces"] = {"face_size": self.face_size, "face_frames": self.face_frames,
                               "video_sources": loader.video_sources, "video_crops": detector}
        for name in STAGES:
            rows = self.videos[self.videos["stage"] == name]
            dataset = self.datasets[name]
            timeline = int(sum(loaded[i][0].length for i in rows["video_index"]))
            report[name] = {**self.stage_summary(rows, dataset, {"timeline": timeline}),
                            "views": self._view_summary(rows, loaded, dataset),
                            "windows_without_any_view": dropped[name], "padded_videos": dataset.padded_sequences}
        report["statistics"] = {"fitted_on": "train", **{v: s.state_dict() for v, s in self.scalers.items()}}
        report["class_weights"] = self.class_weights.tolist() if self.class_weights is not None else None
        return {**report, **self.target_report()}

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"views": self.views, "channels": self.channels, "num_points": self.num_points,
                "scalers": {v: s.state_dict() for v, s in self.scalers.items()}, "target_stats": self.target_stats}

    def load_state_dict(self, state: dict) -> None:
        for key in ("views", "channels"):
            if key in state and list(state[key]) != list(getattr(self, key)):
                raise ValueError(f"checkpoint {key} {state[key]} differ from this DataModule's {getattr(self, key)}")
        self.scalers = {v: ChannelScaler.from_state_dict(s) for v, s in (state.get("scalers") or {}).items()}
        if state.get("num_points") is not None:
            self.num_points = int(state["num_points"])
        if state.get("target_stats"):
            self.target_stats = dict(state["target_stats"])
