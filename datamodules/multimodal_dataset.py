"""Windows over aligned multimodal videos: every window carries every view, absent views masked.

A window is ``window`` timeline frames every ``stride`` frames (:func:`~datamodules.windows.window_starts`). A view is
present in a window when its valid frames cover at least ``min_view_coverage`` of the window's frames (the real
frames: a video shorter than a window has one zero-padded window); an absent view's tensor is all zeros and its
``present`` entry False. A window with no present view is dropped (counted in :attr:`dropped_windows`).

Batch (what :meth:`MultimodalWindowDataset.__getitems__` gives, ``B`` windows)::

    x: {"aus": (B, T, C) float32, "landmarks": (B, T, P, 3) float32, "faces": (B, F, 3, S, S) float32,
        "present": (B, V) bool}   (only the run's views)
    y: (B,) int64 class index or float32 score; video, subject, index: (B,) int64

AUs and landmarks arrive standardised (invalid frames 0); face crops are stored as uint8 and standardised per
channel here: ``F`` crops sampled evenly over the window's frames, an invalid one replaced by the nearest valid crop
of the same window (earlier on a tie), so a present face view shows only observed faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.window_dataset import WindowBatch, as_targets
from datamodules.windows import window_starts


@dataclass
class AlignedVideo:
    """One video on its timeline: per view, ``rows[view] (L,)`` the row of ``data[view]`` at each timeline frame
    (-1: no valid frame) and ``data[view]`` the valid frames (AUs and landmarks standardised; crops uint8)."""

    length: int
    rows: dict[str, np.ndarray]
    data: dict[str, np.ndarray]


def view_coverage(valid: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Share of each window's real frames where ``valid`` is True.

    >>> view_coverage(np.array([1, 1, 0, 0, 1], bool), np.array([0, 1]), 4).tolist()
    [0.5, 0.5]
    """
    cumulative = np.concatenate([[0], np.cumsum(valid)])
    ends = np.minimum(starts + window, len(valid))
    return (cumulative[ends] - cumulative[starts]) / np.maximum(ends - starts, 1)


def sample_positions(valid: np.ndarray, count: int) -> np.ndarray | None:
    """``count`` positions spread evenly over a window's frames, each moved to the nearest valid frame
    (the earlier on a tie); ``None`` when no frame is valid.

    >>> sample_positions(np.array([1, 0, 0, 1, 1, 0, 0, 0], bool), 4).tolist()
    [0, 3, 4, 4]
    """
    valid_at = np.flatnonzero(valid)
    if not len(valid_at):
        return None
    wanted = np.rint(np.linspace(0, len(valid) - 1, count)).astype(np.int64)
    return valid_at[np.abs(valid_at[None, :] - wanted[:, None]).argmin(axis=1)]


class MultimodalWindowDataset(Dataset):
    """Windows of aligned videos; items and batches as in the module docstring.

    Args:
        videos: the videos on their timelines.
        labels, video_ids, subject_ids: per video (as :class:`~datamodules.window_dataset.WindowDataset`).
        views: the run's views, in canonical order (``present`` columns).
        frame_shapes: per view, the shape of one frame's data (``(C,)``, ``(P, 3)``, ``(S, S, 3)``).
        window, stride, face_frames, min_view_coverage: see :class:`~datamodules.multimodal.MultimodalDataModule`.
        face_mean, face_std: per-channel statistics of ``[0, 1]`` pixels (training subjects').
    """

    def __init__(
        self,
        videos: list[AlignedVideo],
        labels: Sequence[int] | Sequence[float] | np.ndarray,
        video_ids: list[int],
        subject_ids: list[int],
        views: list[str],
        frame_shapes: dict[str, tuple[int, ...]],
        window: int,
        stride: int,
        face_frames: int = 4,
        min_view_coverage: float = 0.5,
        face_mean: np.ndarray | None = None,
        face_std: np.ndarray | None = None,
    ) -> None:
        self.videos, self.views, self.frame_shapes = videos, list(views), frame_shapes
        self.window, self.face_frames = window, face_frames
        self.face_mean = np.zeros(3, np.float32) if face_mean is None else np.asarray(face_mean, np.float32)
        self.face_std = np.ones(3, np.float32) if face_std is None else np.asarray(face_std, np.float32)
        index, present = [], []
        self.dropped_windows = 0
        self.windows_per_video = np.zeros(len(videos), dtype=np.int64)
        for i, video in enumerate(videos):
            starts = window_starts(video.length, window, stride)
            shown = np.stack([view_coverage(video.rows[v] >= 0, starts, window) >= min_view_coverage
                              for v in self.views], axis=1)
            keep = shown.any(axis=1)
            self.dropped_windows += int((~keep).sum())
            self.windows_per_video[i] = int(keep.sum())
            index.append(np.stack([np.full(int(keep.sum()), i), starts[keep]], axis=1))
            present.append(shown[keep])
        self.index = np.concatenate(index).astype(np.int64) if index else np.zeros((0, 2), np.int64)
        #: ``(N, V)`` bool: view ``views[j]`` present in window ``i``.
        self.present = np.concatenate(present) if present else np.zeros((0, len(self.views)), bool)
        self.labels = as_targets(labels)
        self.video_ids = np.asarray(video_ids, dtype=np.int64)
        self.subject_ids = np.asarray(subject_ids, dtype=np.int64)
        self.padded_sequences = int(sum(v.length < window for v in videos))

    def __len__(self) -> int:
        return len(self.index)

    def window_labels(self) -> np.ndarray:
        """Target of every window: class index (for class weights and counts) or float32 score."""
        return self.labels[self.index[:, 0]]

    def masked_windows(self) -> dict[str, int]:
        """Windows where each view is absent (masked)."""
        return {v: int((~self.present[:, j]).sum()) for j, v in enumerate(self.views)}

    # ---- one view of one window -----------------------------------------------------------------
    def _frames(self, video: AlignedVideo, view: str, start: int, out: np.ndarray) -> None:
        """AUs or landmarks of the window into ``out`` ``(T, ...)`` (zeros stay where a frame is invalid)."""
        rows = video.rows[view][start : start + self.window]
        ok = rows >= 0
        out[: len(rows)][ok] = video.data[view][rows[ok]]

    def _faces(self, video: AlignedVideo, start: int, out: np.ndarray) -> None:
        """``face_frames`` standardised crops of the window into ``out`` ``(F, 3, S, S)``."""
        rows = video.rows["faces"][start : start + self.window]
        picked = sample_positions(rows >= 0, self.face_frames)
        if picked is None:
            return
        crops = video.data["faces"][rows[picked]].astype(np.float32) / 255.0
        out[:] = ((crops - self.face_mean) / self.face_std).transpose(0, 3, 1, 2)

    def _shape(self, view: str) -> tuple[int, ...]:
        if view == "faces":
            size = self.frame_shapes["faces"]
            return (self.face_frames, size[2], size[0], size[1])
        return (self.window, *self.frame_shapes[view])

    # ---- items and batches ---------------------------------------------------------------------
    def _x(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        x: dict[str, torch.Tensor] = {}
        for j, view in enumerate(self.views):
            out = np.zeros((len(rows), *self._shape(view)), dtype=np.float32)
            for b, i in enumerate(rows):
                if not self.present[i, j]:
                    continue
                seq, start = self.index[i]
                if view == "faces":
                    self._faces(self.videos[seq], int(start), out[b])
                else:
                    self._frames(self.videos[seq], view, int(start), out[b])
            x[view] = torch.from_numpy(out)
        x["present"] = torch.from_numpy(self.present[rows].copy())
        return x

    def __getitems__(self, indices: Sequence[int]) -> WindowBatch:
        """The collated batch of windows ``indices`` (module docstring); loaders need ``collate_fn=collate_windows``."""
        rows = np.asarray(indices, dtype=np.int64).reshape(-1)
        seq = self.index[rows, 0]
        return WindowBatch({
            "x": self._x(rows),
            "y": torch.from_numpy(self.labels[seq]),
            "video": torch.from_numpy(self.video_ids[seq]),
            "subject": torch.from_numpy(self.subject_ids[seq]),
            "index": torch.from_numpy(rows),
        })

    def batch_of(self, indices: Sequence[int]) -> dict:
        """Windows ``indices`` as one batch (a plain dict; for explanations and analyses)."""
        return dict(self.__getitems__(indices))

    def __getitem__(self, i: int) -> dict:
        """One window (the batch of ``[i]`` without its batch dimension)."""
        batch = self.batch_of([i])
        return {key: ({k: v[0] for k, v in value.items()} if key == "x" else value[0]) for key, value in batch.items()}
