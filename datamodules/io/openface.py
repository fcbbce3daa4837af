"""OpenFace CSV reader (2.x with ``face_id``, and the older layout without it).

Example:
    >>> t = read_openface_csv("subj01_timepoint01_openface.csv")  # doctest: +SKIP
    >>> t.values.shape, t.notes["other_face_rows_dropped"]  # doctest: +SKIP
    ((158, 35), 0)
"""

from __future__ import annotations

from pathlib import Path

from datamodules.io.au_table import AUTable
from datamodules.io.frame_table import CANONICAL_NAMES, read_au_csv


def read_openface_csv(path: str | Path) -> AUTable:
    """Read an OpenFace (or E-DAIC ``*_OpenFace2.1.0_Pose_gaze_AUs.csv``) file into an AUTable.

    Column names are stripped (``' AU01_r'`` -> ``AU01_r``); only frame/face/AU columns are read.
    See :func:`datamodules.io.frame_table.frame_table_to_au_table` for the post-processing.
    """
    return read_au_csv(path, CANONICAL_NAMES)
