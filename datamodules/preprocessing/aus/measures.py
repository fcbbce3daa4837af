"""One geometric measure per Action Unit, on a frontalised mesh (see :mod:`.frontal`).

Every function takes ``front (T, P, 3)`` in the canonical frame (mm; x to the subject's left, y down,
z away from the camera) and returns ``(T,)`` in units of face size (the canonical outer eye-corner
distance, 90 mm), signed so that the AU's movement *increases* it. "Height" is measured upwards
(``-y``). Both sides are averaged. These follow the FACS movement geometrically; they are not FACS coding.

Example:
    >>> from datamodules.preprocessing.aus.canonical import canonical_face
    >>> front = canonical_face()[None].astype(float)
    >>> lifted = front.copy(); lifted[:, [61, 291], 1] -= 9.0   # lip corners up by 10 % of face size
    >>> round(float(au12_lip_corner_puller(lifted)[0] - au12_lip_corner_puller(front)[0]), 3)
    0.1
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from datamodules.preprocessing.aus import mesh_points as mp
from datamodules.preprocessing.aus.canonical import FACE_SIZE_MM


def _y(front: np.ndarray, idx: int | tuple[int, ...]) -> np.ndarray:
    return front[:, list(np.atleast_1d(idx)), 1].mean(axis=1)


def _height(front: np.ndarray, points: tuple[int, ...], reference: tuple[int, ...]) -> np.ndarray:
    """Mean height of ``points`` above the mean of ``reference``, in face sizes."""
    return (_y(front, reference) - _y(front, points)) / FACE_SIZE_MM


def _dist(front: np.ndarray, a: int, b: int, axes: slice = slice(0, 3)) -> np.ndarray:
    return np.linalg.norm(front[:, a, axes] - front[:, b, axes], axis=-1) / FACE_SIZE_MM


def au01_inner_brow_raiser(front: np.ndarray) -> np.ndarray:
    """AU01 (frontalis, pars medialis raises the inner brow): height of the inner-brow points above the inner eye corners."""
    right = _height(front, mp.R_INNER_BROW, (mp.R_EYE_INNER,))
    left = _height(front, mp.L_INNER_BROW, (mp.L_EYE_INNER,))
    return (right + left) / 2


def au02_outer_brow_raiser(front: np.ndarray) -> np.ndarray:
    """AU02 (frontalis, pars lateralis raises the outer brow): height of the outer-brow points above the outer eye corners."""
    right = _height(front, mp.R_OUTER_BROW, (mp.R_EYE_OUTER,))
    left = _height(front, mp.L_OUTER_BROW, (mp.L_EYE_OUTER,))
    return (right + left) / 2


def au04_brow_lowerer(front: np.ndarray) -> np.ndarray:
    """AU04 (corrugator/depressor glabellae lower and draw the brows together): minus (inner-brow height
    above the inner eye corners + half the horizontal gap between the inner brows 107-336)."""
    gap = np.abs(front[:, 107, 0] - front[:, 336, 0]) / FACE_SIZE_MM
    return -(au01_inner_brow_raiser(front) + gap / 2)


def _lid_height(front: np.ndarray, lids: tuple[int, ...], corners: tuple[int, int]) -> np.ndarray:
    return _height(front, lids, corners)


def au05_upper_lid_raiser(front: np.ndarray) -> np.ndarray:
    """AU05 (levator palpebrae raises the upper lid): height of the upper-lid points (159/158/160, 386/385/387)
    above the line through that eye's corners."""
    right = _lid_height(front, mp.R_UPPER_LID, (mp.R_EYE_OUTER, mp.R_EYE_INNER))
    left = _lid_height(front, mp.L_UPPER_LID, (mp.L_EYE_OUTER, mp.L_EYE_INNER))
    return (right + left) / 2


def au06_cheek_raiser(front: np.ndarray) -> np.ndarray:
    """AU06 (orbicularis oculi, pars orbitalis lifts the cheeks): height of the infraorbital cheek points
    (117/118/50/101, 346/347/280/330) above the nose tip (vertex 1, rigid in the frontal frame)."""
    return _height(front, mp.R_CHEEK + mp.L_CHEEK, (mp.NOSE_TIP,))


def au07_lid_tightener(front: np.ndarray) -> np.ndarray:
    """AU07 (orbicularis oculi, pars palpebralis raises and straightens the lower lid): height of the lower-lid
    points (145/153/144, 374/380/373) relative to the line through that eye's corners. Not scorable with the eye
    closed: :func:`~datamodules.preprocessing.aus.intensity.estimate_aus` holds it through AU45 frames."""
    right = _lid_height(front, mp.R_LOWER_LID, (mp.R_EYE_OUTER, mp.R_EYE_INNER))
    left = _lid_height(front, mp.L_LOWER_LID, (mp.L_EYE_OUTER, mp.L_EYE_INNER))
    return (right + left) / 2


def au09_nose_wrinkler(front: np.ndarray) -> np.ndarray:
    """AU09 (levator labii superioris alaeque nasi lifts the alae): minus the vertical distance from the inner
    eye corners down to the nostril wings (98, 327)."""
    return _height(front, (mp.R_ALA, mp.L_ALA), (mp.R_EYE_INNER, mp.L_EYE_INNER))


def au10_upper_lip_raiser(front: np.ndarray) -> np.ndarray:
    """AU10 (levator labii superioris lifts the upper lip): minus the vertical distance subnasale (2) -> upper-lip top (0)."""
    return _height(front, (mp.UPPER_LIP_TOP,), (mp.SUBNASALE,))


def au12_lip_corner_puller(front: np.ndarray) -> np.ndarray:
    """AU12 (zygomaticus major pulls the lip corners up): height of the lip corners (61, 291) above the subnasale (2)."""
    return _height(front, (mp.R_MOUTH_CORNER, mp.L_MOUTH_CORNER), (mp.SUBNASALE,))


def au14_dimpler(front: np.ndarray) -> np.ndarray:
    """AU14 (buccinator tightens and pulls the lip corners back): depth of the lip corners (61, 291) behind the
    lip midline (0, 17), along z."""
    corners = front[:, [mp.R_MOUTH_CORNER, mp.L_MOUTH_CORNER], 2].mean(axis=1)
    middle = front[:, [mp.UPPER_LIP_TOP, mp.LOWER_LIP_BOTTOM], 2].mean(axis=1)
    return (corners - middle) / FACE_SIZE_MM


def au15_lip_corner_depressor(front: np.ndarray) -> np.ndarray:
    """AU15 (depressor anguli oris pulls the lip corners down): depth of the lip corners (61, 291) below the
    upper-lip top (0), so a jaw drop (lower lip only) leaves it unchanged."""
    return -_height(front, (mp.R_MOUTH_CORNER, mp.L_MOUTH_CORNER), (mp.UPPER_LIP_TOP,))


def au17_chin_raiser(front: np.ndarray) -> np.ndarray:
    """AU17 (mentalis pushes the chin boss and lower lip up): minus the vertical distance lower-lip bottom (17) -> chin (152)."""
    return _height(front, (mp.CHIN,), (mp.LOWER_LIP_BOTTOM,))


def au20_lip_stretcher(front: np.ndarray) -> np.ndarray:
    """AU20 (risorius stretches the lips sideways): horizontal distance between the lip corners 61-291."""
    return np.abs(front[:, mp.L_MOUTH_CORNER, 0] - front[:, mp.R_MOUTH_CORNER, 0]) / FACE_SIZE_MM


def au23_lip_tightener(front: np.ndarray) -> np.ndarray:
    """AU23 (orbicularis oris narrows the red of the lips): minus the summed vertical thickness of the upper
    (0-13) and lower (14-17) lip."""
    upper = _y(front, mp.UPPER_LIP_INNER) - _y(front, mp.UPPER_LIP_TOP)
    lower = _y(front, mp.LOWER_LIP_BOTTOM) - _y(front, mp.LOWER_LIP_INNER)
    return -(upper + lower) / FACE_SIZE_MM


def au25_lips_part(front: np.ndarray) -> np.ndarray:
    """AU25 (lips part): mean vertical gap between the inner lips at three pairs (13-14, 82-87, 312-317)."""
    gaps = [_y(front, lo) - _y(front, up) for up, lo in mp.INNER_LIP_PAIRS]
    return np.mean(gaps, axis=0) / FACE_SIZE_MM


def au26_jaw_drop(front: np.ndarray) -> np.ndarray:
    """AU26 (jaw drops, masseter relaxed): vertical distance nose tip (1) -> chin (152)."""
    return -_height(front, (mp.CHIN,), (mp.NOSE_TIP,))


def eye_aperture(front: np.ndarray) -> np.ndarray:
    """Mean lid gap (upper minus lower lid, three pairs per eye, both eyes) over the eye width, per frame."""
    out = []
    for upper, lower, (a, b) in ((mp.R_UPPER_LID, mp.R_LOWER_LID, (mp.R_EYE_OUTER, mp.R_EYE_INNER)),
                                 (mp.L_UPPER_LID, mp.L_LOWER_LID, (mp.L_EYE_OUTER, mp.L_EYE_INNER))):
        gap = np.mean([front[:, lo, 1] - front[:, up, 1] for up, lo in zip(upper, lower)], axis=0)
        out.append(gap / (_dist(front, a, b) * FACE_SIZE_MM))
    return np.mean(out, axis=0)


def au45_blink(front: np.ndarray) -> np.ndarray:
    """AU45 (blink: levator relaxes, orbicularis closes the eye): minus the eye aperture of :func:`eye_aperture`
    (lid gap over eye width, both eyes; the attention mesh refines exactly these eyelid points)."""
    return -eye_aperture(front)


MEASURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "AU01": au01_inner_brow_raiser, "AU02": au02_outer_brow_raiser, "AU04": au04_brow_lowerer,
    "AU05": au05_upper_lid_raiser, "AU06": au06_cheek_raiser, "AU07": au07_lid_tightener,
    "AU09": au09_nose_wrinkler, "AU10": au10_upper_lip_raiser, "AU12": au12_lip_corner_puller,
    "AU14": au14_dimpler, "AU15": au15_lip_corner_depressor, "AU17": au17_chin_raiser,
    "AU20": au20_lip_stretcher, "AU23": au23_lip_tightener, "AU25": au25_lips_part,
    "AU26": au26_jaw_drop, "AU45": au45_blink,
}
