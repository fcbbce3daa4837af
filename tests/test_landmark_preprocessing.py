"""Landmark normalisation (centre, inter-ocular scale, Procrustes alignment) and pseudo-images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from datamodules.io.landmarks import LandmarkSequence
from datamodules.preprocessing.normalize import (
    EYE_INDICES,
    align_to_mean_shape,
    center,
    eye_indices,
    interocular_distance,
    kabsch_rotations,
    normalize_sequence,
    scale_by_interocular,
)
from datamodules.preprocessing.pseudo_images import first_frames, frame_images, temporal_image
from datamodules.synthetic.landmarks import face_template, rotation_matrices


def _rotate(points: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """``(P, 3)`` template rotated by each row of ``angles`` (pitch, yaw, roll) -> ``(T, P, 3)``."""
    return np.einsum("tij,pj->tpi", rotation_matrices(angles), points)


def test_center_gives_zero_mean() -> None:
    pts = np.random.default_rng(0).normal(5.0, 3.0, size=(4, 68, 3))
    np.testing.assert_allclose(center(pts).mean(axis=1), 0.0, atol=1e-12)


@pytest.mark.parametrize("num_points", [68, 468, 478])
def test_interocular_distance_is_one_after_scaling(num_points: int) -> None:
    pts = np.random.default_rng(1).normal(0.0, 40.0, size=(6, num_points, 3)).astype(np.float32)
    out = scale_by_interocular(center(pts), *eye_indices(num_points))
    np.testing.assert_allclose(interocular_distance(out, *EYE_INDICES[num_points]), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="no eye indices for 5-point"):
        eye_indices(5)


def test_interocular_uses_eye_centres() -> None:
    t = face_template()  # eye centres at x = -32 and +32 mm
    assert interocular_distance(t[None], *EYE_INDICES[68])[0] == pytest.approx(64.0)


def test_alignment_recovers_rotated_template() -> None:
    template = center(face_template()[None])[0]
    angles = np.random.default_rng(2).normal(0.0, 0.25, size=(8, 3))
    frames = _rotate(template, angles) + np.array([10.0, -20.0, 500.0])
    rot = kabsch_rotations(center(frames), template)
    np.testing.assert_allclose(rot, rotation_matrices(angles).transpose(0, 2, 1), atol=1e-6)
    out = align_to_mean_shape(frames, reference=template)
    np.testing.assert_allclose(center(out), np.broadcast_to(template, out.shape), atol=1e-4)
    np.testing.assert_allclose(out.mean(axis=1), frames.mean(axis=1), atol=1e-9)  # centroids kept
    # Without a reference: every frame lands on the same pose, the template up to one rotation.
    free = center(align_to_mean_shape(frames))
    np.testing.assert_allclose(free, np.broadcast_to(free[0], free.shape), atol=1e-4)
    common = kabsch_rotations(free[:1], template)[0]
    np.testing.assert_allclose(free[0] @ common.T, template, atol=1e-4)


def test_alignment_to_reference_and_invalid_frames() -> None:
    template = center(face_template()[None])[0]
    angles = np.random.default_rng(3).uniform(-0.5, 0.5, size=(6, 3))
    frames = _rotate(template, angles)
    frames[2] = 1e3  # garbage, invalid: untouched and not in the mean
    valid = np.ones(6, dtype=bool)
    valid[2] = False
    out = align_to_mean_shape(frames, valid, reference=template)
    np.testing.assert_allclose(out[valid], np.broadcast_to(template, (5, 68, 3)), atol=1e-4)
    np.testing.assert_array_equal(out[2], frames[2])
    # All valid frames agree with each other when aligned to the (unknown) mean shape.
    free = align_to_mean_shape(frames, valid)
    np.testing.assert_allclose(free[valid], np.broadcast_to(free[0], (5, 68, 3)), atol=1e-4)


def test_kabsch_never_reflects() -> None:
    template = center(face_template()[None])[0]
    mirrored = template * np.array([-1.0, 1.0, 1.0])
    rot = kabsch_rotations(mirrored[None], template)
    assert np.linalg.det(rot[0]) == pytest.approx(1.0)


def test_normalize_sequence() -> None:
    template = face_template()
    pts = _rotate(template, np.random.default_rng(4).normal(0.0, 0.2, size=(4, 3))) * 1.3 + np.array([0.0, 0.0, 600.0])
    valid = np.array([True, True, False, True])
    seq = LandmarkSequence("s", pts, valid, np.arange(4), np.arange(4) / 30.0, 30.0, {"rows_read": 4})
    out = normalize_sequence(seq, align=True)
    assert out is not seq and out.points.dtype == np.float32 and out.notes == seq.notes
    assert (out.points[2] == 0).all()
    np.testing.assert_allclose(out.points[valid].mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(interocular_distance(out.points[valid], *EYE_INDICES[68]), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out.points[valid], np.broadcast_to(out.points[0], (3, 68, 3)), atol=1e-4)
    np.testing.assert_array_equal(seq.points, pts.astype(np.float32))  # input unchanged


def test_frame_images_match_interpolate() -> None:
    pts = np.random.default_rng(5).normal(size=(3, 68, 3)).astype(np.float32)
    img = frame_images(pts)
    assert img.shape == (3, 3, 224, 224) and img.dtype == np.float32
    ref = F.interpolate(torch.from_numpy(pts[1])[None, None], size=(224, 224), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(img[1, 0], ref[0, 0].numpy(), atol=1e-6)
    np.testing.assert_array_equal(img[:, 0], img[:, 2])
    timg = frame_images(torch.from_numpy(pts), size=(32, 16))
    assert isinstance(timg, torch.Tensor) and tuple(timg.shape) == (3, 3, 32, 16)


def test_frame_images_tiny_by_hand() -> None:
    m = np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]], dtype=np.float32)
    out = frame_images(m, size=(4, 6), channels=1)[0, 0]
    # Half-pixel centres: rows map to source -0.25, 0.25, 0.75, 1.25 (clamped); columns likewise.
    np.testing.assert_allclose(out[:, 0], [0.0, 0.75, 2.25, 3.0])
    np.testing.assert_allclose(out[0], [0.0, 0.25, 0.75, 1.25, 1.75, 2.0])
    np.testing.assert_allclose(out[1, 1], 0.75 * 0.25 + 0.25 * 3.25)  # rows 0/1 mixed 3:1 at column 0.25


def test_frame_images_equal_cv2_resize() -> None:
    cv2 = pytest.importorskip("cv2")
    m = np.random.default_rng(6).normal(0.0, 50.0, size=(68, 3)).astype(np.float32)
    ref = cv2.resize(m, (224, 224), interpolation=cv2.INTER_LINEAR)  # the seed's call (dsize = W, H)
    np.testing.assert_allclose(frame_images(m[None])[0, 0], ref, atol=1e-3)


def test_temporal_image_layout() -> None:
    pts = np.random.default_rng(7).normal(size=(5, 68, 3)).astype(np.float32)
    img = temporal_image(pts)
    assert img.shape == (3, 5, 68)
    np.testing.assert_array_equal(img[0], pts[:, :, 0])  # channel 0 = x, [t, p]
    assert img[2, 3, 40] == pts[3, 40, 2]
    assert temporal_image(pts, size=(16, 64)).shape == (3, 16, 64)
    assert tuple(temporal_image(torch.from_numpy(pts)).shape) == (3, 5, 68)


def test_first_frames_zero_pads() -> None:
    clip, mask = first_frames(np.ones((20, 68, 3)))
    assert clip.shape == (16, 68, 3) and mask.all()
    clip, mask = first_frames(np.ones((3, 68, 3)))
    assert (clip[3:] == 0).all() and mask.sum() == 3
