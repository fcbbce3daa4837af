"""LandmarkDataModule: 3D-landmark sequences -> pseudo-images, windows, subject-level folds.

Manifest rows point at landmark files (OpenFace 2.x CSVs, DAIC-WOZ ``*_CLNF_features3D.txt``,
OpenDBM landmark CSVs, or ``.npz`` from ``scripts/extract_landmarks.py``). Each video is
normalised on its own (centre, inter-ocular scale, optional rigid alignment to its own mean
shape: nothing is shared across videos or folds), cached on disk by content, and cut into
windows of ``frames_per_sample`` valid frames (every ``frame_step``-th) that become:

- ``mode: frames`` (the seed's): each frame's ``P x 3`` matrix resized to ``image_size``, 3
  channels: samples ``(T, 3, H, W)`` for :class:`~lightning_modules.nets.CNNLSTM`;
- ``mode: temporal``: the window as one image, time x landmark with x, y, z as channels:
  samples ``(3, T, P)`` (or resized to ``image_size``) for :class:`~lightning_modules.nets.ImageCNN`.

With ``image_cache: true`` every stage's windows are rendered once into a float16 ``.npy`` on
disk (keyed by the sources' content and the settings) and memory-mapped in later epochs/runs.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.utilities import rank_zero_warn
from rich.progress import track
from torch.utils.data import Dataset

from datamodules.base import STAGES, SubjectDataModule
from datamodules.cache import file_digest
from datamodules.io.au_table import DataFormatError
from datamodules.window_dataset import WindowDataset


def render_window(points: np.ndarray, mode: str, image_size: tuple[int, int] | None) -> np.ndarray:
    """A window of points ``(T, P, 3)`` as the model's input (see the module docstring)."""
    from datamodules.preprocessing.pseudo_images import frame_images, temporal_image

    if mode == "frames":
        return frame_images(points, size=tuple(image_size or (224, 224)))
    image = temporal_image(points)
    if image_size is not None and tuple(image.shape[1:]) != tuple(image_size):
        image = torch.nn.functional.interpolate(torch.from_numpy(image)[None], size=tuple(image_size), mode="bilinear",
                                                align_corners=False)[0].numpy()
    return image


class RenderedDataset(Dataset):
    """Pre-rendered windows (a memory-mapped float16 array) with the same items as :class:`WindowDataset`."""

    def __init__(self, images: np.ndarray, source: WindowDataset) -> None:
        self.images, self.source = images, source

    def __len__(self) -> int:
        return len(self.images)

    def window_labels(self) -> np.ndarray:
        return self.source.window_labels()

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.source.item(i, np.asarray(self.images[i], dtype=np.float32))


class LandmarkDataModule(SubjectDataModule):
    """Landmark pseudo-images for CNN(-LSTM) models; subject-level folds or a split column.

    Args:
        mode: ``frames`` (per-frame images, the seed's) or ``temporal`` (one image per window).
        frames_per_sample: frames per sample (the seed used the first 16 of each video).
        stride: frames between training windows; eval_stride: between val/test windows
            (default: the window's span, no overlap).
        frame_step: take every ``frame_step``-th valid frame (longer context per sample).
        image_size: ``[H, W]`` of each pseudo-image (frames mode; default 224x224 as the seed) or
            of the temporal image (default: its natural ``T x P``).
        center, scale, align: per-video normalisation steps.
        min_confidence: tracker confidence below which a frame is invalid (OpenFace sources).
        file_format: ``auto`` or a landmark reader (``openface``, ``daic-woz``, ``opendbm``, ``npz``).
        image_cache: render all windows once to a memory-mapped float16 file.
        **kwargs: see :class:`~datamodules.base.SubjectDataModule` (``target: score`` for score regression).
    """

    supports_score_target = True
    supports_inner_folds = True

    def __init__(
        self,
        manifest: str,
        mode: Literal["frames", "temporal"] = "frames",
        frames_per_sample: int = 16,
        stride: int = 8,
        eval_stride: int | None = None,
        frame_step: int = 1,
        image_size: tuple[int, int] | None = None,
        center: bool = True,
        scale: bool = True,
        align: bool = False,
        min_confidence: float = 0.8,
        file_format: str = "auto",
        image_cache: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(manifest, **kwargs)
        self.save_hyperparameters()
        self.mode = mode
        self.frames_per_sample, self.stride, self.frame_step = frames_per_sample, stride, frame_step
        self.eval_stride = eval_stride or (frames_per_sample - 1) * frame_step + 1
        self.image_size = tuple(image_size) if image_size is not None else None
        self.normalization = {"center": center, "scale": scale, "align": align}
        self.min_confidence = min_confidence
        self.file_format = file_format
        self.image_cache = image_cache

    @property
    def num_channels(self) -> int:
        return 3

    # ---- loading -------------------------------------------------------------------------
    def _namespace(self) -> str:
        flags = "".join(k[0] for k, on in self.normalization.items() if on)
        return f"landmarks-v1-{self.file_format}-conf{self.min_confidence}-{flags or 'raw'}"

    def _load_points(self, path: str) -> tuple[np.ndarray, dict[str, int]]:
        """Normalised points of the valid frames ``(T', P, 3)`` and counts, through the cache."""
        from datamodules.io.landmarks import read_landmark_file
        from datamodules.preprocessing.normalize import normalize_sequence

        def compute() -> dict[str, np.ndarray]:
            seq = read_landmark_file(path, fmt=self.file_format, min_confidence=self.min_confidence)
            if seq.num_valid:
                seq = normalize_sequence(seq, **self.normalization)
            return {"points": seq.points[seq.valid].astype(np.float32), "frames": np.array(seq.num_frames)}

        arrays = self.cache.get_or_compute(path, self._namespace(), compute)
        points = arrays["points"]
        return points, {"frames": int(arrays["frames"]), "kept": len(points)}

    def prepare_data(self) -> None:
        if self.cache.directory is None:
            return
        for path in track(self.rows_to_read()["path"].unique(), description="Caching landmarks", transient=True):
            self._load_points(path)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        videos, parts = self.index_videos()

        sequences: dict[int, np.ndarray] = {}
        counts = {name: {"frames": 0, "kept": 0} for name in STAGES}
        skipped: list[str] = []
        num_points: set[int] = set()
        for row in track(list(videos.itertuples()), description="Loading landmarks", transient=True):
            points, count = self._load_points(row.path)
            for key in count:
                counts[row.stage][key] += count[key]
            if len(points) == 0:
                skipped.append(row.path)
                continue
            num_points.add(points.shape[1])
            sequences[row.video_index] = points
        if skipped:
            rank_zero_warn(f"skipped {len(skipped)} landmark file(s) with no valid frame: {skipped[:5]}")
        if len(num_points) > 1:
            raise DataFormatError(f"{self.manifest_path}: files mix landmark sets of {sorted(num_points)} points")
        self.videos = videos = videos[videos["video_index"].isin(sequences)].reset_index(drop=True)
        self.check_classes(videos, videos["stage"])  # skipped files may have taken a class's last video
        render = partial(render_window, mode=self.mode, image_size=self.image_size)
        for name in STAGES:
            rows = videos[videos["stage"] == name]
            windows = WindowDataset(
                [sequences[i] for i in rows["video_index"]], rows["target"].to_numpy(), rows["video_index"].tolist(),
                rows["subject_index"].tolist(), window=self.frames_per_sample,
                stride=self.stride if name == "train" else self.eval_stride, frame_step=self.frame_step, transform=render,
            )
            self.datasets[name] = self._rendered(windows, name, rows) if self.image_cache and len(windows) else windows
        self.fit_targets()
        self.data_report = self._report(parts, counts, skipped)

    def _rendered(self, windows: WindowDataset, stage: str, rows: pd.DataFrame) -> RenderedDataset:
        """Render every window once into ``<cache>/pseudo-images/<key>.npy`` (float16) and memory-map it."""
        if self.cache.directory is None:
            raise ValueError("image_cache needs a cache_dir")
        key = hashlib.sha1(json.dumps({
            "files": [file_digest(p) for p in rows["path"]], "settings": self._namespace(), "mode": self.mode,
            "size": self.image_size, "T": self.frames_per_sample, "step": self.frame_step, "stride": windows.index[:, 1].tolist(),
        }).encode()).hexdigest()
        target = self.cache.directory / "pseudo-images" / f"{key}.npy"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            first = windows.render(0)
            out = np.lib.format.open_memmap(str(target) + ".tmp", mode="w+", dtype=np.float16, shape=(len(windows),) + first.shape)
            for i in track(range(len(windows)), description=f"Rendering {stage} pseudo-images", transient=True):
                out[i] = windows.render(i)
            out.flush()
            del out
            Path(str(target) + ".tmp").replace(target)
        return RenderedDataset(np.load(target, mmap_mode="r"), windows)

    def _report(self, parts: dict[str, list[str]], counts: dict[str, dict[str, int]], skipped: list[str]) -> dict:
        assert self.videos is not None
        report: dict = {"manifest": self.manifest_path, "mode": self.mode, "files_skipped": skipped,
                        "split": self.split_summary(parts)}
        for name in STAGES:
            frames = {**counts[name], "dropped_invalid": counts[name]["frames"] - counts[name]["kept"]}
            report[name] = self.stage_summary(self.videos[self.videos["stage"] == name], self.datasets[name], frames)
        report["class_weights"] = self.class_weights.tolist() if self.class_weights is not None else None
        return {**report, **self.target_report()}

