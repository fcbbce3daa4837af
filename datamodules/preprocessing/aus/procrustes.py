"""Similarity Procrustes (rotation, isotropic scale, translation), batched over frames.

Solves ``points ~= scale * reference @ R.T + translation`` in the least-squares sense (Umeyama 1991),
for every frame at once.

Example:
    >>> ref = np.random.default_rng(0).normal(size=(10, 3))
    >>> fit = similarity_fit(2.0 * ref[None] + 5.0, ref)
    >>> float(np.round(fit.scale[0], 6)), bool(np.allclose(fit.rotation[0], np.eye(3)))
    (2.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SimilarityFit:
    """Per-frame similarity transform: ``x_image = scale * R @ x_reference + translation``.

    Attributes:
        rotation: ``(T, 3, 3)`` proper rotations (det +1).
        scale: ``(T,)`` isotropic scale (image units per reference unit).
        translation: ``(T, 3)``.
        rms: ``(T,)`` root-mean-square residual over the fitted points, in reference units.
    """

    rotation: np.ndarray
    scale: np.ndarray
    translation: np.ndarray
    rms: np.ndarray

    def to_reference(self, points: np.ndarray) -> np.ndarray:
        """Map ``(T, P, 3)`` image points into the reference frame (inverse transform)."""
        centred = points - self.translation[:, None, :]
        return np.einsum("tpj,tjk->tpk", centred, self.rotation) / self.scale[:, None, None]


def similarity_fit(points: np.ndarray, reference: np.ndarray) -> SimilarityFit:
    """Fit ``points (T, N, 3)`` onto ``reference (N, 3)``; frames must be finite (mask invalid ones first)."""
    points = np.asarray(points, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != reference.shape or reference.shape[1] != 3:
        raise ValueError(f"points {points.shape} and reference {reference.shape} must be (T, N, 3) and (N, 3)")
    mu_p = points.mean(axis=1)
    mu_r = reference.mean(axis=0)
    p = points - mu_p[:, None, :]
    r = reference - mu_r
    cov = np.einsum("tni,nj->tij", p, r) / len(r)
    u, sing, vt = np.linalg.svd(cov)
    d = np.ones((len(points), 3))
    d[:, 2] = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    rotation = np.einsum("tij,tj,tjk->tik", u, d, vt)
    var_r = (r**2).sum() / len(r)
    scale = (sing * d).sum(axis=1) / var_r
    translation = mu_p - scale[:, None] * (rotation @ mu_r)
    fitted = scale[:, None, None] * np.einsum("ij,tkj->tik", r + mu_r, rotation) + translation[:, None, :]
    rms = np.sqrt(((fitted - points) ** 2).sum(axis=2).mean(axis=1)) / np.maximum(scale, 1e-12)
    return SimilarityFit(rotation, scale, translation, rms)
