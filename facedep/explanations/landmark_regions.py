"""Face regions of a landmark set: which points are the jaw, brows, nose, eyes and mouth.

- **68 points** (iBUG / OpenFace / DAIC-WOZ, and the 68 points ``extract_aus.py`` maps from the mesh): the standard
  index ranges, jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
- **468 / 478 points** (MediaPipe face mesh / attention mesh: the first 468 share one topology, 468-477 are the
  irises): every mesh vertex joins the region of its nearest iBUG-68 anchor vertex
  (:data:`~datamodules.preprocessing.openface_layout.IBUG68_FROM_MESH`) on our canonical face
  (:func:`~datamodules.preprocessing.aus.canonical.canonical_face`, in mm) when that anchor is within
  :data:`MESH_REGION_RADIUS_MM`; farther vertices (forehead, cheeks, temples) form ``other``; the irises are ``eyes``.
  A fixed, documented partition, not MediaPipe's own contour sets.
- Any other count: :class:`~facedep.explanations.errors.Unsupported` (no documented grouping).

Example:
    >>> {name: len(points) for name, points in landmark_regions(68).items()}
    {'jaw': 17, 'brows': 10, 'nose': 9, 'eyes': 12, 'mouth': 20}
    >>> sorted(landmark_regions(478)) == sorted(REGIONS_68) + ["other"]
    True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from facedep.explanations.errors import Unsupported

REGIONS_68: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)), "brows": tuple(range(17, 27)), "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)), "mouth": tuple(range(48, 68)),
}
MESH_REGION_RADIUS_MM = 15.0
"""A mesh vertex farther than this from every iBUG-68 anchor (on the canonical face) is ``other``."""
MESH_POINTS, ATTENTION_POINTS = 468, 478


@lru_cache(maxsize=1)
def _mesh_regions() -> dict[str, tuple[int, ...]]:
    from datamodules.preprocessing.aus.canonical import canonical_face
    from datamodules.preprocessing.openface_layout import IBUG68_FROM_MESH

    face = canonical_face()
    anchors = np.asarray(IBUG68_FROM_MESH)
    anchor_region = np.empty(68, dtype=object)
    for name, points in REGIONS_68.items():
        anchor_region[list(points)] = name
    distance = np.linalg.norm(face[:, None, :] - face[None, anchors, :], axis=2)
    nearest, close = distance.argmin(axis=1), distance.min(axis=1) <= MESH_REGION_RADIUS_MM
    names = np.where(close, anchor_region[nearest], "other")
    return {name: tuple(int(i) for i in np.flatnonzero(names == name)) for name in [*REGIONS_68, "other"]}


def landmark_regions(num_points: int) -> dict[str, np.ndarray]:
    """Region name -> point indices (int64 arrays, disjoint, covering every point) for a landmark set of
    ``num_points`` points; :class:`Unsupported` for a set without a documented grouping."""
    if num_points == 68:
        regions = REGIONS_68
    elif num_points in (MESH_POINTS, ATTENTION_POINTS):
        regions = dict(_mesh_regions())
        if num_points == ATTENTION_POINTS:
            regions["eyes"] = regions["eyes"] + tuple(range(MESH_POINTS, ATTENTION_POINTS))
    else:
        raise Unsupported(f"no face-region grouping for {num_points}-point landmarks (68-point iBUG and 468/478-point "
                          "MediaPipe meshes are supported)")
    return {name: np.asarray(points, dtype=np.int64) for name, points in regions.items()}
