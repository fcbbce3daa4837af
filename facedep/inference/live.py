"""Live webcam inference: one frame at a time, trailing smoothing, an optional OpenCV window."""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import cv2
import numpy as np

from facedep.inference.faces import FramePredictor
from facedep.inference.frames import video_frames
from facedep.inference.image_model import LoadedModel
from facedep.inference.outputs import Row, TrailingSmoother

WINDOW_NAME = "facedep predict (q to quit)"


def gui_available() -> bool:
    """Whether ``cv2.imshow`` can open a window (OpenCV built with a GUI, and a display on Linux)."""
    info = cv2.getBuildInformation()
    gui_lines = [line for line in info.splitlines() if line.strip().startswith("GUI:")]
    if gui_lines and gui_lines[0].split(":", 1)[1].strip().upper() in {"NONE", ""}:
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow(WINDOW_NAME, cv2.WINDOW_NORMAL)
    except cv2.error:
        return False
    return True


def draw_overlay(rgb: np.ndarray, row: Row, smoothed: float, fps: float, loaded: LoadedModel) -> np.ndarray:
    """BGR frame with the face box, smoothed score and fps."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if row.box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in row.box)
        high = loaded.binary and smoothed >= loaded.threshold
        cv2.rectangle(bgr, (x0, y0), (x1, y1), (0, 0, 255) if high else (0, 200, 0), 2)
    text = f"score {smoothed:.2f}" if not math.isnan(smoothed) else "no face"
    cv2.putText(bgr, f"{text}  {fps:.1f} fps", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    return bgr


def predict_live(capture: cv2.VideoCapture, source: str, loaded: LoadedModel, detector: Any, window: int,
                 show: bool, stride: int = 1, max_frames: int | None = None) -> list[Row]:
    """One frame at a time, trailing smoothing; a window unless headless; ``q`` or max_frames stops."""
    predictor = FramePredictor(loaded, detector, batch_size=1)
    smoother = TrailingSmoother(window)
    rows: list[Row] = []
    start = time.perf_counter()
    try:
        for frame in video_frames(capture, source, live=True):
            if frame.index % stride:
                continue
            if max_frames is not None and len(rows) >= max_frames:
                break
            row = predictor.add(frame)
            predictor.flush()
            row.smoothed_score = smoother(row.score)
            rows.append(row)
            if show:
                fps = len(rows) / max(time.perf_counter() - start, 1e-9)
                cv2.imshow(WINDOW_NAME, draw_overlay(frame.rgb, row, row.smoothed_score, fps, loaded))
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
            elif len(rows) % 30 == 0:
                print(f"frame {frame.index}: smoothed score {row.smoothed_score:.3f}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        if show:
            cv2.destroyAllWindows()
    return rows
