"""Helpers shared by the prediction tests: frame counts of videos and hand-made checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytorch_lightning as pl
import torch


def count_frames(video: str | Path) -> int:
    """Frames OpenCV decodes from ``video`` (read one by one: container counts can be wrong)."""
    capture, n = cv2.VideoCapture(str(video)), 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


def write_video(path: str | Path, frames: int = 5, size: tuple[int, int] = (64, 64), fps: float = 10.0) -> Path:
    """A small readable mp4 of flat grey frames (no face)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 + 10 * i, np.uint8))
    writer.release()
    return Path(path)


def video_fps(video: str | Path) -> float:
    """The frame rate ``video`` declares."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps


def save_untrained_checkpoint(model: pl.LightningModule, path: str | Path, datamodule_hparams: dict[str, Any]) -> Path:
    """``model`` saved by a Trainer (as a CLI run saves it) with ``datamodule_hparams`` as the DataModule's settings."""
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, max_steps=0, accelerator="cpu",
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["datamodule_hyper_parameters"] = datamodule_hparams
    torch.save(checkpoint, path)
    return Path(path)
