"""Attention face mesh (478 points): MediaPipe's custom ops in NumPy, the graph split, the refinement merge.

The ops are checked against values worked out by hand; the model tests get the model through
``ensure_attention_model`` (cache, else ``pip download`` of the mediapipe wheel) and skip if that
is impossible; the image test skips without ``/work/shared/realdata/pyfeat``.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from datamodules.preprocessing import face_models
from datamodules.preprocessing.attention_mesh import (
    LEFT_EYE_REFINEMENT,
    LEFT_IRIS,
    LIPS_REFINEMENT,
    RIGHT_EYE_REFINEMENT,
    RIGHT_IRIS,
    AttentionMesh,
    refine_landmarks,
)
from datamodules.preprocessing.face_mesh import FaceDetector, crop_roi, crop_to_image, detection_roi
from datamodules.preprocessing.mediapipe_ops import (
    landmarks_to_transform_matrix,
    transform_landmarks,
    transform_tensor_bilinear,
)
from datamodules.preprocessing.tflite_graph import ModelGraphError, SegmentedModel

L2TM_OPTIONS = {"left_rotation_idx": 0, "right_rotation_idx": 1, "subset_idxs": [0, 1, 2], "scale_x": 1.5,
                "scale_y": 1.5, "output_width": 16, "output_height": 16, "target_rotation_radians": 0.0}


@pytest.fixture(scope="session")
def attention_path() -> Path:
    try:
        return face_models.ensure_attention_model()
    except face_models.FaceModelError as exc:
        pytest.skip(f"attention model unavailable: {exc}")


@pytest.fixture(scope="session")
def attention(attention_path: Path) -> AttentionMesh:
    return AttentionMesh(attention_path, num_threads=1)


# ------------------------------------------------------------------------------------------------
# Custom ops, by hand
# ------------------------------------------------------------------------------------------------


def test_landmarks_to_transform_matrix_level_subset() -> None:
    landmarks = np.array([[[0, 0, 0], [10, 0, 0], [5, 4, 0]]], np.float32)
    matrix = landmarks_to_transform_matrix([landmarks], L2TM_OPTIONS)[0]
    # Box x 0..10, y 0..4 -> centre (5, 2); crop pixel size 1.5 * 10 / 16 and 1.5 * 4 / 16.
    expected = np.array([[0.9375, 0, 0, 5 - 0.9375 * 8], [0, 0.375, 0, 2 - 0.375 * 8], [0, 0, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(matrix, expected, atol=1e-6)


def test_landmarks_to_transform_matrix_follows_rotation() -> None:
    # Reference landmarks vertical (right one below): the crop's x axis must run down the image.
    landmarks = np.array([[[0, 0, 0], [0, 10, 0], [4, 5, 0]]], np.float32)
    matrix = landmarks_to_transform_matrix([landmarks], L2TM_OPTIONS)[0]
    np.testing.assert_allclose(matrix @ [8, 8, 0, 1], [2, 5, 0, 1], atol=1e-5)  # crop centre -> subset box centre
    np.testing.assert_allclose(matrix[:2, 0], [0, 1.5 * 10 / 16], atol=1e-6)  # crop x -> image +y, 10 px long side
    np.testing.assert_allclose(matrix[:2, 1], [-1.5 * 4 / 16, 0], atol=1e-6)
    assert math.isclose(float(np.linalg.det(matrix[:2, :2])), (15 / 16) * (6 / 16), rel_tol=1e-5)


def test_transform_tensor_bilinear_samples_pixel_centres() -> None:
    tensor = (10 * np.arange(4)[:, None] + np.arange(4)[None, :]).astype(np.float32)[None, :, :, None]  # 10 y + x
    identity = np.eye(4, dtype=np.float32)[None]
    same = transform_tensor_bilinear([tensor, identity], {"output_height": 4, "output_width": 4})
    np.testing.assert_allclose(same, tensor)
    shifted = identity.copy()
    shifted[0, 0, 3], shifted[0, 1, 3] = 1.0, 0.5  # read at (x + 1, y + 0.5)
    out = transform_tensor_bilinear([tensor, shifted], {"output_height": 2, "output_width": 4})[0, :, :, 0]
    np.testing.assert_allclose(out[0], [6.0, 7.0, 8.0, 0.0])  # 10 * 0.5 + x + 1; x = 4 lies outside -> 0
    np.testing.assert_allclose(out[1], [16.0, 17.0, 18.0, 0.0])


def test_transform_landmarks_applies_affine_and_keeps_z() -> None:
    matrix = np.eye(4, dtype=np.float32)[None]
    matrix[0, :2, :2] = [[0, -2], [2, 0]]  # rotate 90 degrees, scale 2
    matrix[0, :2, 3] = [100, 50]
    moved = transform_landmarks([np.array([[[1, 0, 7], [0, 3, -1]]], np.float32), matrix], {})
    np.testing.assert_allclose(moved, [[[100, 52, 7], [94, 50, -1]]])
    flat = transform_landmarks([np.array([[[1, 0]]], np.float32), matrix], {})
    np.testing.assert_allclose(flat, [[[100, 52]]])


def test_refinement_replaces_only_mapped_points() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(468, 3))
    parts = [rng.normal(size=(n, 2)) for n in (80, 71, 71, 5, 5)]
    merged = refine_landmarks(base, *parts)
    refined = set(LIPS_REFINEMENT) | set(LEFT_EYE_REFINEMENT) | set(RIGHT_EYE_REFINEMENT)
    assert len(refined) == 80 + 71 + 71  # the three maps do not overlap
    untouched = sorted(set(range(468)) - refined)
    np.testing.assert_array_equal(merged[untouched], base[untouched])
    np.testing.assert_array_equal(merged[list(LIPS_REFINEMENT), :2], parts[0])
    np.testing.assert_array_equal(merged[list(RIGHT_EYE_REFINEMENT), 2], base[list(RIGHT_EYE_REFINEMENT), 2])  # z kept
    np.testing.assert_array_equal(merged[list(RIGHT_IRIS), :2], parts[4])
    assert merged[LEFT_IRIS[0], 2] == pytest.approx(base[list(LEFT_EYE_REFINEMENT[:16]), 2].mean())


# ------------------------------------------------------------------------------------------------
# Model file and graph split
# ------------------------------------------------------------------------------------------------


def test_attention_model_checksum_and_size(attention_path: Path) -> None:
    sha, size = face_models.MEDIAPIPE.files[face_models.ATTENTION_MODEL]
    assert face_models.sha256(attention_path) == sha and attention_path.stat().st_size == size


def test_bad_model_file_is_rejected_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "face_landmark_with_attention.tflite"
    bad.write_bytes(b"TFL3 but not really a model" * 100)
    with pytest.raises(face_models.FaceModelError, match=r"face_landmark_with_attention\.tflite has SHA-256"):
        AttentionMesh(bad)
    with pytest.raises(ModelGraphError, match="face_landmark_with_attention.tflite"):
        AttentionMesh(bad, verify=False)


def test_unimplemented_custom_op_is_named(attention_path: Path) -> None:
    with pytest.raises(ModelGraphError, match="Landmarks2TransformMatrix"):
        SegmentedModel(attention_path, {})


def test_refinement_maps_match_the_models_crop_subsets(attention: AttentionMesh) -> None:
    subsets = [tuple(o["subset_idxs"]) for o in attention.model.custom_options("Landmarks2TransformMatrix")]
    assert subsets == [LIPS_REFINEMENT, LEFT_EYE_REFINEMENT, RIGHT_EYE_REFINEMENT]
    assert [s.stage for s in attention.model.segments] == [0, 1, 2, 3]


def test_478_points_on_a_real_face(pyfeat: Path, attention: AttentionMesh, attention_path: Path) -> None:
    models = face_models.ensure_face_models()
    rgb = cv2.cvtColor(cv2.imread(str(pyfeat / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    roi = detection_roi(FaceDetector(models["detector"]).largest(rgb))
    result = attention(rgb, roi)
    assert result.points.shape == (478, 3) and result.score > 0.9 and np.isfinite(result.points).all()
    # Refined points differ from the model's own base mesh only where a sub-mesh replaced them.
    patch, matrix = crop_roi(rgb, roi)
    base = crop_to_image(attention.raw(patch)["output_mesh_identity"].reshape(-1, 3)[:468], matrix, roi)
    moved = set(np.flatnonzero(np.any(result.points[:468] != base, axis=1)).tolist())
    refined = set(LIPS_REFINEMENT) | set(LEFT_EYE_REFINEMENT) | set(RIGHT_EYE_REFINEMENT)
    assert moved <= refined and len(moved) > 0.9 * len(refined)
    eye_width = np.linalg.norm(base[33, :2] - base[133, :2])
    assert np.median(np.linalg.norm(result.points[list(refined), :2] - base[list(refined), :2], axis=1)) < 0.2 * eye_width
    for iris, (outer, inner) in ((LEFT_IRIS, (33, 133)), (RIGHT_IRIS, (263, 362))):
        centre = result.points[iris[0], :2]
        lo, hi = np.minimum(base[outer, :2], base[inner, :2]), np.maximum(base[outer, :2], base[inner, :2])
        assert lo[0] < centre[0] < hi[0] and abs(centre[1] - (lo[1] + hi[1]) / 2) < 0.5 * eye_width
