"""MediaPipe-style face tracking: ROI from landmarks, re-detection, faceless videos, agreement with OpenFace.

Stub detector/mesh objects test the tracking logic without models; the real-model tests get the
models via ``face_models`` (skip if unavailable); the agreement test skips without
``/work/shared/realdata/opendbm``.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from datamodules.preprocessing import face_models
from datamodules.preprocessing.extract import NoFaceWarning, extract_video
from datamodules.preprocessing.face_mesh import Detection, FaceLandmarks
from datamodules.preprocessing.mesh_agreement import face_measures, mesh_vs_openface, pearson
from datamodules.preprocessing.mesh_tracker import MeshTracker, build_tracker, landmarks_roi


class StubDetector:
    """Always finds the same face (or none); counts calls."""

    def __init__(self, found: bool = True) -> None:
        self.found, self.calls = found, 0

    def largest(self, rgb: np.ndarray) -> Detection | None:
        self.calls += 1
        keypoints = np.array([[40, 50], [60, 50], [50, 60], [50, 70], [30, 50], [70, 50]], np.float32)
        return Detection(np.array([30, 30, 70, 90], np.float32), keypoints, 0.9) if self.found else None


class StubMesh:
    """Returns a fixed 468-point face with the next presence score of a list; records the crops asked for."""

    def __init__(self, scores: list[float]) -> None:
        self.scores, self.rois = list(scores), []
        grid = np.stack(np.meshgrid(np.linspace(100, 140, 26), np.linspace(200, 260, 18)), -1).reshape(-1, 2)[:468]
        self.points = np.concatenate([grid, np.zeros((468, 1))], axis=1).astype(np.float32)

    def at_roi(self, image: np.ndarray, roi) -> FaceLandmarks:
        self.rois.append(roi)
        return FaceLandmarks(self.points, self.scores.pop(0), roi)


def grey_video(path: Path, frames: int = 6, size: tuple[int, int] = (160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 60 + 10 * i, np.uint8))
    writer.release()
    return path


def test_landmarks_roi_box_square_and_eye_rotation() -> None:
    points = np.zeros((468, 3))
    points[:, :2] = (20, 30)
    points[33, :2], points[133, :2], points[0, :2] = (10, 20), (30, 20), (20, 80)
    assert landmarks_roi(points) == pytest.approx((20.0, 50.0, 90.0, 0.0))  # box 10..30 x 20..80, long side 60
    points[133, :2] = (30, 40)  # eye line falls 20 px over 20 px: rolled by 45 degrees
    cx, cy, side, angle = landmarks_roi(points, scale=2.0)
    assert (cx, cy, side) == pytest.approx((20.0, 50.0, 120.0)) and angle == pytest.approx(math.pi / 4)


def test_tracking_reuses_landmark_roi_and_redetects_on_low_presence() -> None:
    detector, mesh = StubDetector(), StubMesh([0.9, 0.9, 0.2, 0.8, 0.1, 0.3])
    tracker = MeshTracker(detector, mesh, num_points=468, min_presence=0.5)
    frame = np.zeros((120, 160, 3), np.uint8)
    first = tracker.track(frame)
    assert first.detected and detector.calls == 1 and first.points is not None
    second = tracker.track(frame)
    assert not second.detected and detector.calls == 1
    assert mesh.rois[1] == pytest.approx(landmarks_roi(mesh.points))  # the crop follows the last landmarks
    third = tracker.track(frame)  # presence 0.2 on the tracked crop -> BlazeFace again, same frame, then 0.8
    assert third.detected and detector.calls == 2 and third.points is not None and third.presence == 0.8
    fourth = tracker.track(frame)  # 0.1 tracked, 0.3 after re-detection: no face this frame
    assert fourth.points is None and fourth.presence == 0.3 and detector.calls == 3
    assert tracker.roi is None and tracker.detections == 3
    tracker.reset()
    assert tracker.detections == 0


def test_no_detection_gives_no_points_and_keeps_detecting() -> None:
    detector = StubDetector(found=False)
    tracker = MeshTracker(detector, StubMesh([]), num_points=468)
    frame = np.zeros((120, 160, 3), np.uint8)
    results = [tracker.track(frame) for _ in range(3)]
    assert all(r.points is None and r.roi is None and r.detected for r in results) and detector.calls == 3


def test_unknown_model_is_rejected() -> None:
    with pytest.raises(ValueError, match="attention"):
        build_tracker("bogus")


def test_agreement_measures_by_hand() -> None:
    points = np.zeros((2, 4, 2))
    points[:, 1] = (20, 0)  # eye corners 0 and 1, 20 px apart
    points[0, 3], points[1, 3] = (0, 2), (0, 5)
    measures = face_measures(points, {"gap": ((0, 3),)}, (0, 1), 3)
    np.testing.assert_allclose(measures["gap"], [0.1, 0.25])
    np.testing.assert_allclose(measures["nose_y"], [2, 5])
    assert pearson(np.array([1.0, 2, 3, np.nan]), np.array([2.0, 4, 6, 1])) == pytest.approx(1.0)
    assert math.isnan(pearson(np.ones(5), np.arange(5.0)))


# ------------------------------------------------------------------------------------------------
# Real models
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def attention_tracker() -> MeshTracker:
    try:
        return build_tracker("attention", num_threads=1)
    except face_models.FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")


def test_faceless_video_counts_every_frame_without_crash(tmp_path: Path, attention_tracker: MeshTracker) -> None:
    video = grey_video(tmp_path / "grey.mp4", frames=6)
    with pytest.warns(NoFaceWarning, match="grey.mp4"):
        seq = extract_video(video, attention_tracker, progress=False)
    assert seq.points.shape == (6, 478, 3) and not seq.valid.any() and np.isnan(seq.points).all()
    assert seq.notes["no_detection"] == 6 and seq.notes["detections"] == 6 and seq.notes["model"] == 478


def test_shared_video_agrees_with_openface(realdata: Path, attention_tracker: MeshTracker) -> None:
    video = realdata / "opendbm" / "subj01_timepoint01.mp4"
    csv = realdata / "opendbm" / "subj01_timepoint01_openface.csv"
    if not video.is_file() or not csv.is_file():
        pytest.skip(f"{video} or {csv} not found")
    seq = extract_video(video, attention_tracker, progress=False)  # 158 frames, about 1 s
    assert seq.valid.all() and seq.notes["detections"] <= 3
    stats = mesh_vs_openface(seq.points, seq.valid, seq.frame, csv)
    assert stats["frames"] == seq.num_frames
    assert stats["r_nose_x"] >= 0.95 and stats["r_nose_y"] >= 0.95  # measured 0.996 / 0.989
    assert stats["r_eye_left"] >= 0.8 and stats["r_eye_right"] >= 0.8  # measured 0.894 / 0.899


@pytest.mark.parametrize("degrees", [30, -45])
def test_tracking_follows_a_rolled_face(pyfeat: Path, attention_tracker: MeshTracker, degrees: float) -> None:
    rgb = cv2.cvtColor(cv2.imread(str(pyfeat / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    attention_tracker.reset()
    upright = [attention_tracker.track(rgb) for _ in range(3)][-1].points
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    rolled = cv2.warpAffine(rgb, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
    attention_tracker.reset()
    results = [attention_tracker.track(rolled) for _ in range(3)]  # one detection, then tracked crops
    assert attention_tracker.detections == 1 and all(r.points is not None for r in results)
    expected = upright[:, :2] @ turn[:, :2].T + turn[:, 2]
    eye_corners = np.linalg.norm(upright[33, :2] - upright[263, :2])
    error = np.linalg.norm(results[-1].points[:, :2] - expected, axis=1) / eye_corners
    assert np.median(error) < 0.03  # measured 0.009-0.013 for rolls of 25-60 degrees
    assert math.degrees(results[-1].roi[3]) == pytest.approx(-degrees, abs=8)  # the crop turned with the face
