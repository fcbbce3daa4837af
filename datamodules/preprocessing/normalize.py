"""Per-video landmark normalisation: centring, inter-ocular scaling, rigid alignment.

Everything here uses one video's own frames only -- no statistic is shared across videos or
folds, so it can run before splitting. Typical order (what :func:`normalize_sequence` does):
centre each frame on its centroid, divide by its inter-ocular distance (eye centre to eye centre),
then optionally rotate every frame onto the video's mean shape (removes head pose, keeps
expression).

Example:
    >>> pts = np.random.default_rng(0).normal(size=(5, 68, 3)).astype(np.float32)
    >>> out = scale_by_interocular(center(pts), *EYE_INDICES[68])
    >>> bool(np.allclose(interocular_distance(out, *EYE_INDICES[68]), 1.0, atol=1e-5))
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from datamodules.io.landmarks import LandmarkSequence

EYE_INDICES: dict[int, tuple[Sequence[int], Sequence[int]]] = {
    68: (range(36, 42), range(42, 48)),
    468: ((33, 133), (362, 263)),
    478: ((33, 133), (362, 263)),
}
"""Point count -> (eye-1 indices, eye-2 indices); an eye centre is the mean of its points.

68 points (iBUG/OpenFace): the six contour points of each eye. 468 points (MediaPipe face mesh) and
478 (attention mesh, same numbering plus irises): the outer and inner corner of each eye (33/133 and 362/263)."""

_EPS = 1e-8


def eye_indices(num_points: int) -> tuple[Sequence[int], Sequence[int]]:
    """:data:`EYE_INDICES` entry for a point count; ``ValueError`` for an unknown layout."""
    if num_points not in EYE_INDICES:
        raise ValueError(f"no eye indices for {num_points}-point landmarks; known: {sorted(EYE_INDICES)}")
    return EYE_INDICES[num_points]


def center(points: np.ndarray) -> np.ndarray:
    """Subtract each frame's centroid: ``(T, P, 3) -> (T, P, 3)``.

    Example:
        >>> center(np.array([[[1.0, 2, 0], [3, 4, 0]]])).tolist()
        [[[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]]]
    """
    return points - points.mean(axis=1, keepdims=True)


def interocular_distance(points: np.ndarray, left_eye_idx: Sequence[int], right_eye_idx: Sequence[int]) -> np.ndarray:
    """``(T,)`` distance between the two eye centres (means of the given points) in each frame."""
    left = points[:, list(left_eye_idx)].mean(axis=1)
    right = points[:, list(right_eye_idx)].mean(axis=1)
    return np.linalg.norm(left - right, axis=-1)


def scale_by_interocular(points: np.ndarray, left_eye_idx: Sequence[int], right_eye_idx: Sequence[int]) -> np.ndarray:
    """Divide each frame by its inter-ocular distance (frames with distance ~0 are left as they are).

    Example:
        >>> p = np.zeros((1, 2, 3)); p[0, 1, 0] = 4.0
        >>> float(scale_by_interocular(p, [0], [1])[0, 1, 0])
        1.0
    """
    dist = interocular_distance(points, left_eye_idx, right_eye_idx)
    dist = np.where(np.isfinite(dist) & (dist > _EPS), dist, 1.0)
    return points / dist[:, None, None].astype(points.dtype)


def kabsch_rotations(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` proper rotations ``R_t`` minimising ``||points[t] @ R_t.T - reference||`` (centred inputs).

    No reflection: ``det(R_t) = +1`` (the smallest singular direction is flipped when needed).
    """
    h = np.einsum("tpi,pj->tij", points.astype(np.float64), reference.astype(np.float64))
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", vt, u)))  # det(V U^T)
    d = np.where(d == 0, 1.0, d)
    fix = np.ones((len(points), 3))
    fix[:, 2] = d
    return np.einsum("tji,tj,tkj->tik", vt, fix, u)  # V diag(1, 1, d) U^T


def align_to_mean_shape(
    points: np.ndarray, valid: np.ndarray | None = None, reference: np.ndarray | None = None, iterations: int = 3
) -> np.ndarray:
    """Rotate every frame about its centroid onto the video's mean shape (rotation only).

    Generalised Procrustes without scaling: the mean shape of the centred valid frames is
    computed, each frame is rotated onto it (Kabsch), and the mean is recomputed from the aligned
    frames ``iterations`` times. With ``reference`` ``(P, 3)`` the frames are rotated onto it once
    instead. Invalid frames are returned untouched and take no part in the mean. Centroids are kept.

    Example:
        >>> t = np.random.default_rng(0).normal(size=(68, 3))
        >>> c, s = np.cos(0.3), np.sin(0.3)
        >>> rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        >>> out = align_to_mean_shape(np.stack([t @ rot.T]), reference=t - t.mean(0))
        >>> bool(np.allclose(out[0] - out[0].mean(0), t - t.mean(0), atol=1e-6))
        True
    """
    valid = np.ones(len(points), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    out = points.copy()
    if not valid.any():
        return out
    centroid = points[valid].mean(axis=1, keepdims=True)
    x = points[valid] - centroid
    if reference is not None:
        rot = kabsch_rotations(x, reference - reference.mean(axis=0))
    else:
        mean = x.mean(axis=0)
        for _ in range(max(1, iterations)):
            rot = kabsch_rotations(x, mean)
            mean = np.einsum("tpj,tij->pi", x, rot) / len(x)
    aligned = np.einsum("tpj,tij->tpi", x.astype(np.float64), rot)
    out[valid] = (aligned + centroid).astype(points.dtype)
    return out


def normalize_sequence(
    seq: LandmarkSequence,
    center: bool = True,
    scale: bool = True,
    align: bool = False,
    eyes: tuple[Sequence[int], Sequence[int]] | None = None,
) -> LandmarkSequence:
    """Normalised copy of ``seq``: centre, scale by inter-ocular distance, align to mean shape.

    ``eyes`` defaults to :data:`EYE_INDICES` for the sequence's point count (needed only with
    ``scale``). Invalid frames are set to zeros in the result.

    Example:
        >>> norm = normalize_sequence(read_landmark_file("a.csv"), align=True)  # doctest: +SKIP
    """
    pts = seq.points.astype(np.float32, copy=True)
    valid = seq.valid
    if center:
        pts = _center(pts)
    if scale:
        left, right = eyes if eyes is not None else eye_indices(seq.num_points)
        pts = scale_by_interocular(pts, left, right)
    if align:
        pts = align_to_mean_shape(pts, valid)
    pts[~valid] = 0.0
    return replace(seq, points=pts.astype(np.float32), notes=dict(seq.notes))


_center = center  # the module-level function, shadowed by normalize_sequence's ``center`` flag
