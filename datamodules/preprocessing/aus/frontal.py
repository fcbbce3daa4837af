"""Frontalised metric mesh: each frame's similarity fit (on stable points) onto the canonical face, inverted.

The result is in the canonical face's frame (mm; x to the subject's left, y down, z away from the camera):
head rotation, position and size are removed, the non-rigid movement (brows, lids, lips, jaw) remains.

Example:
    >>> from datamodules.preprocessing.aus.canonical import canonical_face
    >>> pts = (2.0 * canonical_face() + 100.0)[None].astype(np.float32)
    >>> front, fit = frontalise(pts, np.array([True]))
    >>> bool(np.allclose(front[0], canonical_face(), atol=1e-3))
    True
"""

from __future__ import annotations

import numpy as np

from datamodules.preprocessing.aus.canonical import canonical_face
from datamodules.preprocessing.aus.mesh_points import NUM_MESH_POINTS, STABLE_POINTS
from datamodules.preprocessing.aus.procrustes import SimilarityFit, similarity_fit


def check_mesh(points: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes (``(T, P >= 468, 3)``, ``(T,)``); return float64 points and a mask of usable frames."""
    points = np.asarray(points, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if points.ndim != 3 or points.shape[2] != 3 or points.shape[1] < NUM_MESH_POINTS:
        raise ValueError(f"points must be (T, P>={NUM_MESH_POINTS}, 3), got {points.shape}")
    if valid.shape != (len(points),):
        raise ValueError(f"valid must be ({len(points)},), got {valid.shape}")
    usable = valid & np.isfinite(points).all(axis=(1, 2))
    return points, usable


def fit_to_canonical(points: np.ndarray, valid: np.ndarray) -> tuple[SimilarityFit, np.ndarray]:
    """Similarity fit of every usable frame's stable points onto the canonical face.

    Returns the fit (identity / NaN rows on unusable frames) and the usable-frame mask.
    """
    points, usable = check_mesh(points, valid)
    ref = canonical_face()[list(STABLE_POINTS)]
    n = len(points)
    fit = SimilarityFit(np.tile(np.eye(3), (n, 1, 1)), np.full(n, np.nan), np.full((n, 3), np.nan), np.full(n, np.nan))
    if usable.any():
        part = similarity_fit(points[usable][:, list(STABLE_POINTS)], ref)
        fit.rotation[usable], fit.scale[usable] = part.rotation, part.scale
        fit.translation[usable], fit.rms[usable] = part.translation, part.rms
    return fit, usable


def frontalise(points: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, SimilarityFit]:
    """``(T, P, 3)`` frontal metric mesh (NaN on invalid frames) and the per-frame fit."""
    fit, usable = fit_to_canonical(points, valid)
    pts = np.asarray(points, dtype=np.float64)
    out = np.full(pts.shape, np.nan)
    if usable.any():
        sub = SimilarityFit(fit.rotation[usable], fit.scale[usable], fit.translation[usable], fit.rms[usable])
        out[usable] = sub.to_reference(pts[usable])
    return out, fit
