"""Geometric AU estimation (datamodules/preprocessing/aus): frontalisation, head pose, planted movements, real blinks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datamodules.preprocessing.aus import mesh_points as mp
from datamodules.preprocessing.aus.canonical import canonical_face
from datamodules.preprocessing.aus.frontal import frontalise
from datamodules.preprocessing.aus.intensity import AU_NAMES, FULL_SCALE, MIN_BASELINE_FRAMES, au_features, estimate_aus
from datamodules.preprocessing.aus.make_canonical import mirror_permutation
from datamodules.preprocessing.aus.pose import euler_to_matrix, head_pose
from tests.mesh_helpers import FACE_SIZE_MM, canonical_mesh, close_eyes, drop_jaw, posed_mesh, raise_brows, raise_lip_corners, sequence

POSES = [(0.25 * np.sin(t / 5), 0.35 * np.cos(t / 7), 0.2 * np.sin(t / 3)) for t in range(40)]


def test_canonical_face_is_metric_and_symmetric() -> None:
    face = canonical_face()
    assert np.linalg.norm(face[mp.R_EYE_OUTER] - face[mp.L_EYE_OUTER]) == pytest.approx(90.0, abs=1e-3)
    perm = mirror_permutation(face)
    assert perm[mp.R_EYE_OUTER] == mp.L_EYE_OUTER and perm[mp.R_MOUTH_CORNER] == mp.L_MOUTH_CORNER
    assert perm[mp.NOSE_TIP] == mp.NOSE_TIP
    np.testing.assert_allclose(face[perm] * [-1, 1, 1], face, atol=1e-3)
    assert face[mp.NOSE_TIP, 2] < face[mp.R_EYE_OUTER, 2]  # nose towards the camera (z away)
    assert face[mp.CHIN, 1] > face[mp.NOSE_TIP, 1] > face[mp.FOREHEAD, 1]  # y down


def test_frontalise_recovers_planted_rotation_scale_translation() -> None:
    face = canonical_mesh()
    angles = (0.3, -0.4, 0.15)
    pts = posed_mesh(face, angles, scale=2.5, translation=(100.0, 50.0, 7.0))[None]
    front, fit = frontalise(pts, np.array([True]))
    np.testing.assert_allclose(front[0], face, atol=1e-6)
    np.testing.assert_allclose(fit.rotation[0], euler_to_matrix(np.array([angles]))[0], atol=1e-9)
    assert fit.scale[0] == pytest.approx(2.5)


def test_head_pose_recovers_planted_angles_and_sign_convention() -> None:
    face = canonical_mesh(iris=False)
    pts = np.stack([posed_mesh(face, a) for a in POSES])
    valid = np.ones(len(pts), bool)
    valid[3] = False
    pts[3] = np.nan
    pose = head_pose(pts, valid)
    assert np.isnan(pose[3]).all()
    np.testing.assert_allclose(np.delete(pose, 3, axis=0), np.delete(np.array(POSES), 3, axis=0), atol=1e-9)
    # Rz > 0: the subject's left eye corner (image right, +x) moves down in the image (+y).
    rolled = posed_mesh(face, (0.0, 0.0, 0.2))
    assert rolled[mp.L_EYE_OUTER, 1] > rolled[mp.R_EYE_OUTER, 1]
    # Rx > 0 (pitch): the chin (+y) moves away from the camera (+z) relative to the forehead.
    pitched = posed_mesh(face, (0.2, 0.0, 0.0))
    assert pitched[mp.CHIN, 2] - pitched[mp.FOREHEAD, 2] > face[mp.CHIN, 2] - face[mp.FOREHEAD, 2]


def _delta(moved: np.ndarray, rotate: bool) -> dict[str, float]:
    """Mean AU intensity of moved frames minus neutral frames (frames away from the step)."""
    pts = sequence(canonical_mesh(), moved, angles=POSES if rotate else None)
    aus = estimate_aus(pts, np.ones(len(pts), bool))
    return {au: float(aus[f"{au}_r"].iloc[25:].mean() - aus[f"{au}_r"].iloc[:15].mean()) for au in AU_NAMES}


PLANTED = {
    "lip corners up 5%": (raise_lip_corners(canonical_mesh(), 0.05), {"AU12": 5 * 0.05 / FULL_SCALE["AU12"]}),
    "brows up 5%": (raise_brows(canonical_mesh(), 0.05), {"AU01": 5 * 0.05 / FULL_SCALE["AU01"],
                                                         "AU02": 5 * 0.05 / FULL_SCALE["AU02"]}),
    "eyes closed": (close_eyes(canonical_mesh()), {"AU45": 5.0}),
    "jaw dropped 5%": (drop_jaw(canonical_mesh(), 0.05), {"AU26": 5 * 0.05 / FULL_SCALE["AU26"],
                                                          "AU25": 5 * 0.05 / FULL_SCALE["AU25"]}),
}


@pytest.mark.parametrize("rotate", [False, True], ids=["frontal", "moving-head"])
@pytest.mark.parametrize("name", list(PLANTED))
def test_planted_movement_raises_its_aus_and_no_other(name: str, rotate: bool) -> None:
    moved, expected = PLANTED[name]
    delta = _delta(moved, rotate)
    for au, value in expected.items():
        assert delta[au] == pytest.approx(value, abs=0.02), (name, au, delta[au])
    others = {au: round(d, 3) for au, d in delta.items() if au not in expected and d > 0.05}
    assert not others, f"{name} also raised {others}"


def test_lid_tightener_is_held_through_a_blink() -> None:
    # A blink in frames 20-24 that also lifts the lower lids (as the real mesh does): AU45 fires, AU07 does not.
    face = canonical_mesh()
    pts = sequence(face, face)
    blink = close_eyes(face)
    lower = list(mp.R_LOWER_LID + mp.L_LOWER_LID)
    blink[lower, 1] -= 0.02 * FACE_SIZE_MM  # lower lids up by 2 % of face size
    pts[20:25] = posed_mesh(blink)
    aus = estimate_aus(pts, np.ones(len(pts), bool), smooth=1)
    assert (aus["AU45_c"].iloc[20:25] == 1).all() and (aus["AU45_c"].drop(index=range(20, 25)) == 0).all()
    assert aus["AU07_r"].abs().max() == pytest.approx(0.0, abs=1e-6)
    raw = au_features(pts, np.ones(len(pts), bool), smooth=1)
    assert (raw["AU07_geom"].iloc[20:25] > raw["AU07_geom"].iloc[0] + 0.01).all()  # the raw measure did rise


def test_head_rotation_alone_changes_no_au() -> None:
    face = raise_lip_corners(canonical_mesh(), 0.02)
    still = estimate_aus(sequence(face, face), np.ones(40, bool))
    moving = estimate_aus(sequence(face, face, angles=POSES), np.ones(40, bool))
    np.testing.assert_allclose(moving.to_numpy(), still.to_numpy(), atol=1e-3)  # float32 meshes


def test_columns_invalid_frames_and_baseline_fallback() -> None:
    pts = sequence(canonical_mesh(), raise_lip_corners(canonical_mesh(), 0.05))
    valid = np.ones(40, bool)
    valid[[0, 7]] = False
    pts[7] = np.nan
    aus = estimate_aus(pts, valid)
    assert list(aus.columns) == [f"{a}_r" for a in AU_NAMES] + [f"{a}_c" for a in AU_NAMES]
    assert aus.iloc[[0, 7]].isna().all().all() and aus.drop(index=[0, 7]).notna().all().all()
    assert aus.attrs["baseline"]["source"] == "video" and aus.attrs["baseline"]["valid_frames"] == 38
    # Lip corners up 5 % -> AU12_r 3.1 >= presence threshold 1 -> AU12_c 1 in moved frames only.
    assert aus["AU12_c"].iloc[30] == 1 and aus["AU12_c"].iloc[10] == 0
    few = estimate_aus(pts[: MIN_BASELINE_FRAMES - 1], valid[: MIN_BASELINE_FRAMES - 1])
    assert few.attrs["baseline"]["source"] == "canonical"
    assert few["AU12_r"].iloc[5] == pytest.approx(0.0, abs=1e-4)  # canonical face = neutral (float32)


def test_bad_mesh_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="468"):
        au_features(np.zeros((5, 68, 3)), np.ones(5, bool))
    with pytest.raises(ValueError, match="valid"):
        au_features(np.zeros((5, 468, 3)), np.ones(4, bool))


@pytest.fixture(scope="module")
def shared_video_aus(realdata: Path):
    from datamodules.io.openface import read_openface_csv
    from datamodules.preprocessing import face_models
    from datamodules.preprocessing.extract import extract_video
    from datamodules.preprocessing.face_mesh import FaceDetector, FaceMesh

    video = realdata / "opendbm" / "subj01_timepoint01.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not found")
    try:
        models = face_models.ensure_face_models()
    except face_models.FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")
    seq = extract_video(video, FaceDetector(models["detector"], num_threads=1), FaceMesh(models["landmarks"], num_threads=1),
                        progress=False)
    openface = read_openface_csv(realdata / "opendbm" / "subj01_timepoint01_openface.csv")
    return seq, estimate_aus(seq.points, seq.valid), openface


def test_shared_video_blinks_found_where_openface_au45_peaks(shared_video_aus) -> None:
    seq, aus, openface = shared_video_aus
    assert len(aus) == seq.num_frames == openface.num_frames
    of45 = openface.values[:, openface.channel_index(["AU45_r"])[0]]
    ours = aus["AU45_r"].to_numpy()
    peaks = _local_maxima(of45, 1.5)
    assert peaks, "the shared video has an OpenFace blink"
    ours_peaks = _local_maxima(ours, float(np.nanpercentile(ours, 95)))
    hits = [p for p in peaks if any(abs(p - q) <= 3 for q in ours_peaks)]
    assert len(hits) > len(peaks) / 2, f"OpenFace AU45 peaks {peaks}, ours {ours_peaks}"
    assert np.corrcoef(np.nan_to_num(ours), of45)[0, 1] > 0.2


def _local_maxima(x: np.ndarray, threshold: float) -> list[int]:
    return [i for i in range(len(x)) if x[i] >= threshold and x[i] >= x[max(i - 1, 0)] and x[i] >= x[min(i + 1, len(x) - 1)]]


def test_shared_video_head_pose_signs_follow_openface(shared_video_aus, realdata: Path) -> None:
    import pandas as pd

    seq, _, _ = shared_video_aus
    pose = head_pose(seq.points, seq.valid)
    of = pd.read_csv(realdata / "opendbm" / "subj01_timepoint01_openface.csv", skipinitialspace=True)
    for i, col in enumerate(("pose_Rx", "pose_Ry", "pose_Rz")):
        r = np.corrcoef(pose[:, i], of[col].to_numpy())[0, 1]
        assert r > 0.3, f"{col}: r {r:.2f} (sign or axis mismatch with OpenFace)"
