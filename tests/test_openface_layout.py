"""Mesh frames in OpenFace 2.x's CSV layout: the 68-point map, the camera, the writer and the readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.io.au_table import INTENSITY_AUS
from datamodules.io.landmarks import LandmarkSequence, read_openface_landmarks
from datamodules.io.openface import read_openface_csv
from datamodules.preprocessing.openface_layout import (IBUG68_FROM_MESH, IBUG68_GROUPS, camera_points, mesh_to_ibug68,
                                                       openface_camera, openface_table, write_openface_csv)


def synthetic_sequence(frames: int = 6, invalid: tuple[int, ...] = (2,), seed: int = 0) -> LandmarkSequence:
    """A random 468-point mesh per frame (pixels), NaN on ``invalid`` frames."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(100, 300, size=(frames, 468, 3)).astype(np.float32)
    points[..., 2] -= 200
    valid = np.ones(frames, dtype=bool)
    valid[list(invalid)] = False
    points[~valid] = np.nan
    frame = np.arange(frames) * 2  # stride 2
    return LandmarkSequence(source="synthetic.mp4", points=points, valid=valid, frame=frame, timestamp=frame / 30.0,
                            fps=30.0, notes={})


def synthetic_aus(valid: np.ndarray) -> pd.DataFrame:
    """AU columns of the 17 intensity AUs: ``_r`` = 0.5 * (AU rank + frame), ``_c`` = 1 above 2; NaN where invalid."""
    t = np.arange(len(valid))[:, None]
    r = np.where(valid[:, None], np.clip(0.5 * (np.arange(len(INTENSITY_AUS))[None] + t), 0, 5), np.nan)
    data = {f"{au}_r": r[:, k] for k, au in enumerate(INTENSITY_AUS)}
    data.update({f"{au}_c": np.where(valid, (r[:, k] > 2).astype(float), np.nan) for k, au in enumerate(INTENSITY_AUS)})
    return pd.DataFrame(data)


def test_map_picks_the_documented_vertices_of_either_mesh() -> None:
    assert len(IBUG68_FROM_MESH) == 68 and sum(len(g) for g in IBUG68_GROUPS.values()) == 68
    for size in (468, 478):
        points = np.arange(size, dtype=float)[:, None].repeat(3, axis=1)
        assert mesh_to_ibug68(points)[:, 0].tolist() == list(IBUG68_FROM_MESH)
    assert IBUG68_FROM_MESH[30] == 4 and IBUG68_FROM_MESH[8] == 152  # nose tip, chin
    with pytest.raises(ValueError, match="468"):
        mesh_to_ibug68(np.zeros((68, 3)))


def test_camera_points_by_hand() -> None:
    focal, cx, cy = openface_camera((640, 480))
    assert (focal, cx, cy) == (500.0, 320.0, 240.0)
    mesh = np.zeros((1, 468, 3))
    mesh[0, :, :2] = (cx, cy)
    mesh[0, 33, 0], mesh[0, 263, 0] = cx - 90, cx + 90  # 180 px between the outer eye corners -> 0.5 mm / px
    mesh[0, 4] = (cx + 10, cy - 20, -40)  # the nose tip: 10 px right, 20 px up, 40 px nearer
    nose = camera_points(mesh, (640, 480))[0, 30]
    depth = 500 * 0.5 - 40 * 0.5  # 250 mm at the face plane, 20 mm nearer
    np.testing.assert_allclose(nose, [10 * depth / 500, -20 * depth / 500, depth])


def test_written_csv_round_trips_through_the_openface_readers(tmp_path: Path) -> None:
    sequence = synthetic_sequence()
    aus = synthetic_aus(sequence.valid)
    pose = np.tile([0.1, -0.2, 0.05], (sequence.num_frames, 1))
    path = write_openface_csv(openface_table(sequence, aus, pose, image_size=(400, 400)), tmp_path / "clip.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert header[:5] == ["frame", " face_id", " timestamp", " confidence", " success"]  # OpenFace's leading spaces
    assert header.index(" pose_Rx") < header.index(" x_0") < header.index(" X_0") < header.index(" AU01_r") < header.index(" AU01_c")
    table = read_openface_csv(path)
    assert table.frame.tolist() == [1, 3, 5, 7, 9, 11]  # 1-based as OpenFace
    assert table.success.tolist() == sequence.valid.tolist()
    assert table.confidence.tolist() == [1, 1, 0, 1, 1, 1]
    ok = sequence.valid
    columns = list(aus.columns)
    np.testing.assert_allclose(table.values[ok][:, table.channel_index(columns)], aus[ok].to_numpy(), atol=0.005)
    assert (table.values[~ok][:, table.channel_index(columns)] == 0).all()  # faceless frame: zeros, as OpenFace
    raw = pd.read_csv(path, skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    np.testing.assert_allclose(raw.loc[ok, "x_30"], sequence.points[ok, 4, 0], atol=0.001)
    np.testing.assert_allclose(raw.loc[ok, "pose_Ry"], -0.2)
    assert (raw.loc[~ok, ["x_0", "Z_67", "pose_Tz", "pose_Rx"]] == 0).all().all()
    landmarks = read_openface_landmarks(path, min_confidence=0.5)
    expected = camera_points(sequence.points[ok].astype(np.float64), (400, 400))
    np.testing.assert_allclose(landmarks.points[landmarks.valid], expected, atol=0.051)  # written with 1 decimal
    assert landmarks.valid.tolist() == ok.tolist()


def test_table_rejects_mismatched_inputs() -> None:
    sequence = synthetic_sequence()
    aus = synthetic_aus(sequence.valid)
    with pytest.raises(ValueError, match="pose must be"):
        openface_table(sequence, aus, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="non-AU columns"):
        openface_table(sequence, aus.assign(smile=1.0), np.zeros((6, 3)))


def test_map_error_against_openface_on_the_shared_video(realdata: Path) -> None:
    """Per group, the mapped points stay within a few % of the inter-ocular distance of OpenFace's own 68."""
    from datamodules.preprocessing.extract import extract_video
    from datamodules.preprocessing.face_mesh import FaceDetector, FaceMesh
    from datamodules.preprocessing.face_models import FaceModelError, ensure_face_models

    video = realdata / "opendbm" / "subj01_timepoint01.mp4"
    try:
        models = ensure_face_models()
    except FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")
    sequence = extract_video(video, FaceDetector(models["detector"]), FaceMesh(models["landmarks"]), stride=4, progress=False)
    of = pd.read_csv(realdata / "opendbm" / "subj01_timepoint01_openface.csv", skipinitialspace=True)
    of.columns = [c.strip() for c in of.columns]
    of = of.set_index("frame").loc[sequence.frame + 1]
    ref = np.stack([of[[f"x_{i}" for i in range(68)]].to_numpy(), of[[f"y_{i}" for i in range(68)]].to_numpy()], -1)
    iod = np.linalg.norm(ref[:, 36] - ref[:, 45], axis=1)
    error = np.linalg.norm(mesh_to_ibug68(sequence.points)[..., :2] - ref, axis=2) / iod[:, None]
    limits = {"jaw": 0.08, "brows": 0.06, "nose": 0.04, "eyes": 0.03, "lips": 0.05}  # measured: .053 .043 .026 .018 .039
    means = {group: float(error[:, idx].mean()) for group, idx in IBUG68_GROUPS.items()}
    assert all(means[g] < limits[g] for g in limits), means
