"""Head pose in OpenFace 2.x's convention, from the rigid fit onto the canonical face.

Convention (OpenFace ``pose_Rx, pose_Ry, pose_Rz``): radians, camera frame x right, y down, z away from
the camera; the head rotation is ``R = Rx(pose_Rx) @ Ry(pose_Ry) @ Rz(pose_Rz)`` (rotation of the frontal
canonical face into the camera), so ``Rx`` is pitch, ``Ry`` yaw, ``Rz`` roll; all zero = the canonical
face's frontal orientation (eye line level, eye-to-mouth plane facing the camera). Signs follow the
matrix: positive Rz turns the face's x axis towards +y (image down), i.e. a clockwise roll in the image.

Example:
    >>> from datamodules.preprocessing.aus.canonical import canonical_face
    >>> R = euler_to_matrix(np.array([[0.1, -0.2, 0.05]]))[0]
    >>> pts = (canonical_face() @ R.T)[None]
    >>> np.round(head_pose(pts, np.array([True])), 3).tolist()
    [[0.1, -0.2, 0.05]]
"""

from __future__ import annotations

import numpy as np

from datamodules.preprocessing.aus.frontal import fit_to_canonical


def euler_to_matrix(angles: np.ndarray) -> np.ndarray:
    """``(T, 3)`` (Rx, Ry, Rz) -> ``(T, 3, 3)`` rotation ``Rx @ Ry @ Rz``."""
    a = np.asarray(angles, dtype=np.float64)
    cx, cy, cz = np.cos(a).T
    sx, sy, sz = np.sin(a).T
    one, zero = np.ones_like(cx), np.zeros_like(cx)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], axis=-1).reshape(-1, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], axis=-1).reshape(-1, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], axis=-1).reshape(-1, 3, 3)
    return rx @ ry @ rz


def matrix_to_euler(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`euler_to_matrix` (``|Ry| < pi/2``)."""
    r = np.asarray(rotation, dtype=np.float64)
    ry = np.arcsin(np.clip(r[:, 0, 2], -1.0, 1.0))
    rx = np.arctan2(-r[:, 1, 2], r[:, 2, 2])
    rz = np.arctan2(-r[:, 0, 1], r[:, 0, 0])
    return np.stack([rx, ry, rz], axis=1)


def head_pose(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(T, 3)`` pose_Rx/Ry/Rz in radians (NaN rows on invalid frames) of a mesh sequence."""
    fit, usable = fit_to_canonical(points, valid)
    out = np.full((len(usable), 3), np.nan)
    out[usable] = matrix_to_euler(fit.rotation[usable])
    return out
