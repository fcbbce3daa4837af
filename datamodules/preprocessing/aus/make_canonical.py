"""Build our own canonical (mean, frontal, symmetric, metric) face from face-mesh sequences.

Used by ``scripts/make_canonical_face.py`` to write ``canonical_face.npz``. Steps:

1. per video, keep "neutral-ish" valid frames: lip gap at or below the video's median and eye
   aperture at or above its 30th percentile (mouth closed, eyes open);
2. generalised Procrustes analysis (similarity fits onto the running mean, all 468 points);
3. orient: x along the outer eye corners (subject's right eye -> left eye, image left -> right), y
   down along the eye-midpoint -> mouth-corner-midpoint line (made orthogonal), z = x cross y (away
   from the camera); so "frontal" means the eye line is level and the eye-to-mouth plane faces the camera;
4. symmetrise: mirror x, match each vertex to its mirror partner (optimal assignment), average;
5. scale so the outer eye-corner distance (vertices 33-263) is :data:`EYE_CORNER_DISTANCE_MM` = 90 mm,
   a typical adult biocular (exocanthion-exocanthion) width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from datamodules.preprocessing.aus import mesh_points as mp
from datamodules.preprocessing.aus.procrustes import similarity_fit

EYE_CORNER_DISTANCE_MM = 90.0


def neutral_frames(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Indices of valid frames with mouth closed-ish and eyes open-ish (see module docstring)."""
    idx = np.flatnonzero(valid)
    p = points[idx]
    width = np.linalg.norm(p[:, mp.R_EYE_OUTER] - p[:, mp.L_EYE_OUTER], axis=1)
    lip = np.linalg.norm(p[:, mp.UPPER_LIP_INNER] - p[:, mp.LOWER_LIP_INNER], axis=1) / width
    eye = (np.linalg.norm(p[:, 159] - p[:, 145], axis=1) + np.linalg.norm(p[:, 386] - p[:, 374], axis=1)) / width
    keep = (lip <= np.median(lip)) & (eye >= np.percentile(eye, 30))
    return idx[keep]


def orient_frontal(shape: np.ndarray) -> np.ndarray:
    """Rotate a ``(468, 3)`` shape into the frontal axes of the module docstring, centred on its mean."""
    x = shape[mp.L_EYE_OUTER] - shape[mp.R_EYE_OUTER]
    x /= np.linalg.norm(x)
    down = (shape[mp.R_MOUTH_CORNER] + shape[mp.L_MOUTH_CORNER]) / 2 - (shape[mp.R_EYE_OUTER] + shape[mp.L_EYE_OUTER]) / 2
    y = down - x * (down @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    axes = np.stack([x, y, z])
    out = (shape - shape.mean(axis=0)) @ axes.T
    if out[mp.NOSE_TIP, 2] > out[mp.R_EYE_OUTER, 2]:
        raise ValueError("nose tip is behind the eye corners: z axis points the wrong way (mirrored input?)")
    return out


def mirror_permutation(shape: np.ndarray) -> np.ndarray:
    """``perm[i]`` = the vertex that mirrors vertex ``i`` across the plane ``x = 0``."""
    mirrored = shape * np.array([-1.0, 1.0, 1.0])
    cost = np.linalg.norm(shape[:, None, :] - mirrored[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(shape), dtype=np.int64)
    perm[rows] = cols
    return perm


def symmetrise(shape: np.ndarray) -> np.ndarray:
    """Average a frontal shape with its mirror image (partners from :func:`mirror_permutation`)."""
    centred = shape - np.array([shape[:, 0].mean(), 0.0, 0.0])
    perm = mirror_permutation(centred)
    mirrored = centred[perm] * np.array([-1.0, 1.0, 1.0])
    return (centred + mirrored) / 2


def build_canonical_face(sequences: Sequence[tuple[np.ndarray, np.ndarray]], iterations: int = 5) -> np.ndarray:
    """Canonical ``(468, 3)`` face in mm from ``(points, valid)`` pairs (first 468 vertices used)."""
    frames = [seq[neutral_frames(seq, valid)][:, : mp.NUM_MESH_POINTS].astype(np.float64) for seq, valid in sequences]
    stack = np.concatenate([f for f in frames if len(f)], axis=0)
    if not len(stack):
        raise ValueError("no neutral valid frame in the given sequences")
    mean = stack[0] - stack[0].mean(axis=0)
    for _ in range(iterations):
        aligned = similarity_fit(stack, mean).to_reference(stack)
        mean = aligned.mean(axis=0)
        mean = (mean - mean.mean(axis=0)) / np.sqrt(((mean - mean.mean(axis=0)) ** 2).sum(axis=1).mean())
    face = symmetrise(orient_frontal(mean))
    face *= EYE_CORNER_DISTANCE_MM / np.linalg.norm(face[mp.R_EYE_OUTER] - face[mp.L_EYE_OUTER])
    return face.astype(np.float32)
