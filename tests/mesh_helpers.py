"""Synthetic face meshes for the geometric-AU tests: the canonical face, posed and with planted movements.

Example:
    >>> pts = posed_mesh(canonical_mesh(), angles=(0.1, 0.0, 0.0), scale=4.0)
    >>> pts.shape
    (478, 3)
"""

from __future__ import annotations

import numpy as np

from datamodules.preprocessing.aus import mesh_points as mp
from datamodules.preprocessing.aus.canonical import FACE_SIZE_MM, canonical_face
from datamodules.preprocessing.aus.pose import euler_to_matrix

R_EYE_RING = (33, 160, 159, 158, 133, 153, 145, 144)
L_EYE_RING = (263, 387, 386, 385, 362, 380, 374, 373)


def canonical_mesh(iris: bool = True) -> np.ndarray:
    """Canonical face ``(468, 3)``, or ``(478, 3)`` with 5 iris points per eye (centre + 4 around it)."""
    face = np.array(canonical_face(), dtype=np.float64)
    if not iris:
        return face
    extra = []
    for ring in (R_EYE_RING, L_EYE_RING):
        centre = face[list(ring)].mean(axis=0)
        extra += [centre] + [centre + np.array(d) for d in ((5.5, 0, 0), (0, -5.5, 0), (-5.5, 0, 0), (0, 5.5, 0))]
    return np.concatenate([face, np.array(extra)])


def posed_mesh(face: np.ndarray, angles: tuple[float, float, float] = (0.0, 0.0, 0.0), scale: float = 3.0,
               translation: tuple[float, float, float] = (320.0, 240.0, 0.0)) -> np.ndarray:
    """``face`` (canonical frame, mm) rotated by OpenFace-convention ``angles``, scaled and moved into an image."""
    rotation = euler_to_matrix(np.array([angles]))[0]
    return scale * face @ rotation.T + np.asarray(translation)


def _shift_y(face: np.ndarray, points: tuple[int, ...], fraction: float) -> np.ndarray:
    out = face.copy()
    out[list(points), 1] += fraction * FACE_SIZE_MM
    return out


def raise_lip_corners(face: np.ndarray, fraction: float) -> np.ndarray:
    """Lip corners (61, 291) up by ``fraction`` of face size."""
    return _shift_y(face, (mp.R_MOUTH_CORNER, mp.L_MOUTH_CORNER), -fraction)


def raise_brows(face: np.ndarray, fraction: float) -> np.ndarray:
    """Every brow point up by ``fraction`` of face size."""
    brows = mp.R_INNER_BROW + mp.R_OUTER_BROW + mp.L_INNER_BROW + mp.L_OUTER_BROW
    return _shift_y(face, brows, -fraction)


def close_eyes(face: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Upper lids moved down onto the lower lids (``amount`` 1 = fully closed)."""
    out = face.copy()
    for upper, lower in ((mp.R_UPPER_LID, mp.R_LOWER_LID), (mp.L_UPPER_LID, mp.L_LOWER_LID)):
        for up, lo in zip(upper, lower):
            out[up, 1] += amount * (face[lo, 1] - face[up, 1])
    return out


def drop_jaw(face: np.ndarray, fraction: float) -> np.ndarray:
    """Lower lip and chin points down by ``fraction`` of face size (lips part, jaw drops)."""
    return _shift_y(face, mp.LOWER_FACE_JAW, fraction)


def sequence(neutral: np.ndarray, moved: np.ndarray, frames: int = 40,
             angles: list[tuple[float, float, float]] | None = None) -> np.ndarray:
    """``(frames, P, 3)`` image meshes: first half ``neutral``, second half ``moved``, optional per-frame poses."""
    poses = angles or [(0.0, 0.0, 0.0)] * frames
    return np.stack([posed_mesh(neutral if t < frames // 2 else moved, poses[t]) for t in range(frames)]).astype(np.float32)
