"""Drawn faces whose parts move with Action Units (AUs), one visible change per AU.

:func:`draw_au_face` draws a face in the style of :mod:`datamodules.synthetic.faces` (ellipse
face, eyes with pupils, brows, nose, mouth; random position, size, skin, background, lighting and
noise) from AU intensities in [0, 5] (0 = off; the movement grows linearly with the intensity).
Names follow Hugging-Rain-Man (HRM); the change each AU makes, and where (:data:`AU_REGIONS`):

========  ==============================================================================
AU1       inner brow end up                     AU12  lip corners up
AU2       outer brow end up                     AU15  lip corners down
AU4       brows down, inner ends together,      AU17  chin bump line below the lower lip
          vertical furrow lines between them    AU20  mouth wider (lip stretcher)
AU6       lower eyelid up, cheek arcs           AU25  lips part (small opening)
AU7       eyes narrower (both lids)             AU2X  jaw drop (AU26/27): large opening
AU9       wrinkle lines beside the nose         AU43  eyes closed (fully from intensity 2)
                                                AU45  blink (OpenFace): eyes closed, as AU43
========  ==============================================================================

One-sided AUs (:data:`SIDED_AUS`, HRM values 2 = left, 3 = right) are drawn on one side only;
"left" is the face's own left, i.e. the image's right half (the FACS convention).
The same generator state gives the same identity, background and noise whatever the AUs, so an
AU on/off pair differs only in that AU's region. Re-exported by :mod:`datamodules.synthetic.au_faces`
(the HRM-layout demo); videos from OpenFace AU tables: :mod:`datamodules.synthetic.au_video`.

Example:
    >>> import numpy as np
    >>> image, box = draw_au_face({"AU12": 4.0, "AU4": 2.0}, np.random.default_rng(0), size=64)
    >>> image.shape, image.dtype
    ((64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np

from datamodules.synthetic.faces import SKIN_TONES, SUPERSAMPLE, _pts

DRAWN_AUS: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU2X", "AU43", "AU45",
)
SIDED_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU12", "AU15", "AU20")
SIDES: dict[str, int] = {"left": 1, "right": -1}
"""Side name -> sign of the image x offset from the face centre (the face's left is the image's right)."""

# Where each AU changes the picture: (x0, x1, y0, y1) in units of the face half-width r, relative to
# the face centre, for the image-right half of the face (x mirrored for the other side; centred
# regions have x0 < 0). Used by tests and by anyone who wants AU crops.
AU_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "AU1": (0.0, 0.45, -0.85, -0.25), "AU2": (0.3, 0.75, -0.85, -0.25), "AU4": (0.0, 0.75, -0.75, -0.2),
    "AU6": (0.12, 0.7, -0.35, 0.25), "AU7": (0.15, 0.62, -0.4, 0.0), "AU43": (0.15, 0.62, -0.4, 0.0),
    "AU45": (0.15, 0.62, -0.4, 0.0), "AU9": (-0.35, 0.35, -0.25, 0.25), "AU12": (0.05, 0.65, 0.15, 0.7),
    "AU15": (0.05, 0.65, 0.3, 0.8), "AU20": (0.15, 0.65, 0.3, 0.62), "AU25": (-0.4, 0.4, 0.35, 0.65),
    "AU2X": (-0.45, 0.45, 0.35, 0.95), "AU17": (-0.4, 0.4, 0.7, 1.15),
}


@dataclass(frozen=True)
class FaceIdentity:
    """What stays fixed for one person: geometry (fractions of the image size), colours, lighting, noise."""

    cx: float
    cy: float
    r: float
    skin: tuple[float, float, float]
    bg_base: tuple[float, float, float]
    bg_slope: tuple[float, float, float]
    bg_horizontal: bool
    lighting: float
    noise: float

    def box(self, size: int) -> tuple[int, int, int, int]:
        """The face's box (x0, y0, x1, y1) in pixels of a ``size`` x ``size`` image."""
        cx, cy, r = self.cx * size, self.cy * size, self.r * size
        return (int(max(cx - r, 0)), int(max(cy - 1.25 * r, 0)), int(min(np.ceil(cx + r), size)),
                int(min(np.ceil(cy + 1.25 * r), size)))

    def jittered(self, rng: np.random.Generator, amount: float = 0.01) -> FaceIdentity:
        """The same person moved by ``amount`` (SD, fraction of the image) and lit a little differently."""
        dx, dy = rng.normal(0.0, amount, 2)
        return replace(self, cx=self.cx + float(dx), cy=self.cy + float(dy),
                       lighting=self.lighting * float(1.0 + rng.normal(0.0, 0.02)))


def sample_identity(rng: np.random.Generator) -> FaceIdentity:
    """A random person: position, size, skin, background and lighting (fixed number of draws)."""
    skin = np.clip(np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))]) + rng.normal(0, 10, 3), 0, 255)
    return FaceIdentity(
        cx=float(rng.uniform(0.43, 0.57)), cy=float(rng.uniform(0.46, 0.54)), r=float(rng.uniform(0.26, 0.33)),
        skin=tuple(float(v) for v in skin), bg_base=tuple(float(v) for v in rng.uniform(20, 235, 3)),
        bg_slope=tuple(float(v) for v in rng.uniform(-40, 40, 3)), bg_horizontal=bool(rng.random() < 0.5),
        lighting=float(rng.uniform(0.8, 1.15)), noise=float(rng.uniform(1.0, 6.0)),
    )


def _intensities(aus: Mapping[str, float], sides: Mapping[str, str] | None) -> dict[str, dict[int, float]]:
    """Validated AU -> {side sign: intensity / 5 in [0, 1]} for both sides (0 where off)."""
    unknown = sorted(set(aus) - set(DRAWN_AUS))
    if unknown:
        raise ValueError(f"cannot draw AU(s) {unknown}; supported: {list(DRAWN_AUS)}")
    sides = dict(sides or {})
    bad = {au: s for au, s in sides.items() if au not in SIDED_AUS or s not in SIDES}
    if bad:
        raise ValueError(f"bad one-sided AU(s) {bad}: AUs {list(SIDED_AUS)}, sides {list(SIDES)}")
    out: dict[str, dict[int, float]] = {}
    for au in DRAWN_AUS:
        value = float(aus.get(au, 0.0))
        s = min(max(value, 0.0), 5.0) / 5.0 if value == value else 0.0  # NaN -> off
        out[au] = {sign: (s if au not in sides or SIDES[sides[au]] == sign else 0.0) for sign in (-1, 1)}
    return out


def au_region(au: str, box: tuple[int, int, int, int], side: str | None = None) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) where ``au`` changes a face with face ``box`` (both sides unless ``side``).

    >>> au_region("AU17", (20, 10, 60, 60))
    (32, 49, 48, 58)
    """
    x0, x1, y0, y1 = AU_REGIONS[au]
    cx, cy, r = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2
    if x0 < 0:  # centred region
        xs = (x0, x1)
    elif side is None:
        xs = (-x1, x1)
    else:
        xs = (x0, x1) if SIDES[side] > 0 else (-x1, -x0)
    return (int(np.floor(cx + xs[0] * r)), int(np.floor(cy + y0 * r)), int(np.ceil(cx + xs[1] * r)),
            int(np.ceil(cy + y1 * r)))


def _background(identity: FaceIdentity, big: int) -> np.ndarray:
    """The identity's colour gradient, float32 ``(big, big, 3)`` (noise is added after resizing)."""
    ramp = np.linspace(-0.5, 0.5, big, dtype=np.float32)
    ramp = ramp[None, :, None] if identity.bg_horizontal else ramp[:, None, None]
    base, slope = np.asarray(identity.bg_base, np.float32), np.asarray(identity.bg_slope, np.float32)
    return np.ascontiguousarray(np.broadcast_to(base + slope * ramp, (big, big, 3)))


def _draw_eye(canvas: np.ndarray, s: dict[str, dict[int, float]], side: int, cx: float, cy: float, r: float,
              dark: tuple[float, ...], skin: tuple[float, ...], line: int) -> None:
    """Eye white between the upper and lower lid curves, pupil inside it, lid line, AU6 cheek arcs."""
    ex, ey = cx + side * 0.38 * r, cy - 0.2 * r
    closure = min(1.0, 2.5 * max(s["AU43"][side], s["AU45"][side]))  # intensity >= 2 closes fully
    open_ = (1.0 - 0.6 * s["AU7"][side]) * (1.0 - closure)
    u = np.linspace(-1.0, 1.0, 21)
    arc = np.sqrt(1.0 - u**2)
    xs = ex + 0.18 * r * u
    upper = ey - 0.1 * r * open_ * arc
    lower = ey + 0.1 * r * max(open_ - 0.75 * s["AU6"][side], 0.0) * arc
    if (lower - upper).max() > 1.0:  # white and pupil blended inside the lids, on a small patch
        x0, y0 = int(ex - 0.25 * r), int(ey - 0.15 * r)
        patch = canvas[y0 : int(ey + 0.15 * r) + 2, x0 : int(ex + 0.25 * r) + 2]
        mask, pupil = np.zeros(patch.shape[:2], np.uint8), np.zeros(patch.shape[:2], np.uint8)
        outline = np.stack([np.r_[xs, xs[::-1]] - x0, np.r_[upper, lower[::-1]] - y0], 1)
        cv2.fillPoly(mask, [_pts(outline)], 255, cv2.LINE_AA)
        cv2.circle(pupil, (int(ex) - x0, int(ey) - y0), max(int(0.065 * r), 1), 255, -1, cv2.LINE_AA)
        white = (mask.astype(np.float32) / 255.0)[..., None]
        dot = white * (pupil.astype(np.float32) / 255.0)[..., None]
        patch[:] = patch * (1 - white) + 250.0 * (white - dot) + 30.0 * dot
        cv2.polylines(canvas, [_pts(np.stack([xs, lower], 1))], False, dark, max(line // 2, 1), cv2.LINE_AA)
    lid = np.stack([xs, upper + (0.015 * r * arc if closure >= 1.0 else 0.0)], 1)
    cv2.polylines(canvas, [_pts(lid)], False, dark, line + (line if closure >= 1.0 else 0), cv2.LINE_AA)
    if s["AU6"][side] > 0.02:  # cheek raiser: arcs under the eye that rise with the intensity
        for k, width in ((0.0, 0.16), (0.09, 0.12)):
            y = ey + (0.3 + k - 0.12 * s["AU6"][side]) * r
            arc_pts = np.stack([ex + width * r * u, y - 0.04 * r * arc], 1)
            cv2.polylines(canvas, [_pts(arc_pts)], False, dark, max(line // 2, 1), cv2.LINE_AA)


def _draw_brow(canvas: np.ndarray, s: dict[str, dict[int, float]], side: int, cx: float, cy: float, r: float,
               dark: tuple[float, ...], line: int) -> None:
    """Brow polyline (inner, middle, outer) moved by AU1/AU2/AU4; AU4 adds a furrow line."""
    base = cy - 0.44 * r
    s1, s2, s4 = s["AU1"][side], s["AU2"][side], s["AU4"][side]
    down = 0.14 * r * s4
    points = np.array([
        [cx + side * (0.14 - 0.07 * s4) * r, base - 0.22 * r * s1 + down],
        [cx + side * 0.36 * r, base - 0.05 * r + down],
        [cx + side * 0.6 * r, base - 0.22 * r * s2 + down],
    ])
    cv2.polylines(canvas, [_pts(points)], False, dark, 2 * line, cv2.LINE_AA)
    if s4 > 0.02:
        x = cx + side * 0.04 * r
        cv2.line(canvas, (int(x), int(base + 0.02 * r)), (int(x), int(base + (0.02 + 0.2 * s4) * r)), dark, line,
                 cv2.LINE_AA)


def _draw_mouth(canvas: np.ndarray, s: dict[str, dict[int, float]], cx: float, cy: float, r: float,
                skin: tuple[float, ...], line: int) -> None:
    """Lips: corners moved by AU12/AU15 per side, width by AU20, opening by AU25/AU2X."""
    u = np.linspace(-1.0, 1.0, 31)
    sign = np.where(u >= 0, 1, -1)
    width = np.array([0.32 * r * (1 + 0.45 * s["AU20"][int(g)]) for g in sign])
    lift = np.array([(0.24 * s["AU12"][int(g)] - 0.2 * s["AU15"][int(g)]) * r for g in sign])
    xs = cx + u * width
    upper = cy + 0.45 * r - lift * u**2
    opening = (0.12 * s["AU25"][1] + 0.42 * s["AU2X"][1]) * r
    lower = upper + opening * (1 - u**2)
    lip = tuple(0.3 * a + 0.14 * b for a, b in zip((150.0, 40.0, 50.0), skin))  # red, darker than any skin
    if opening > 1.0:
        cv2.fillPoly(canvas, [_pts(np.concatenate([np.stack([xs, upper], 1), np.stack([xs, lower], 1)[::-1]]))],
                     (70.0, 15.0, 25.0), cv2.LINE_AA)
        cv2.polylines(canvas, [_pts(np.stack([xs, lower], 1))], False, lip, line, cv2.LINE_AA)
    cv2.polylines(canvas, [_pts(np.stack([xs, upper], 1))], False, lip, 2 * line, cv2.LINE_AA)


def draw_au_face(
    aus: Mapping[str, float],
    rng: np.random.Generator,
    size: int = 96,
    *,
    sides: Mapping[str, str] | None = None,
    identity: FaceIdentity | None = None,
    jitter: float = 0.0,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """An RGB uint8 ``(size, size, 3)`` face showing ``aus`` (name -> intensity 0-5) and its box (x0, y0, x1, y1).

    Args:
        aus: intensities of AUs in :data:`DRAWN_AUS` (missing = 0); other names raise ``ValueError``.
        rng: draws the identity (unless given), the position jitter and the pixel noise.
        sides: ``{"AU12": "left"}`` draws that AU on one side only (AUs in :data:`SIDED_AUS`).
        identity: a fixed person (from :func:`sample_identity`), e.g. the frames of one subject.
        jitter: SD of the per-image position shift (fraction of the image) applied to ``identity``.

    >>> image, box = draw_au_face({"AU2X": 5}, np.random.default_rng(1), size=48)
    >>> image.shape, 0 <= box[0] < box[2] <= 48
    ((48, 48, 3), True)
    """
    s = _intensities(aus, sides)
    face = sample_identity(rng) if identity is None else identity
    if jitter > 0:
        face = face.jittered(rng, jitter)
    big = size * SUPERSAMPLE
    canvas = _background(face, big)
    noise = rng.standard_normal((size, size, 3), dtype=np.float32) * face.noise
    cx, cy, r = face.cx * big, face.cy * big, face.r * big
    skin = face.skin
    dark = tuple(float(v) * 0.35 for v in skin)
    line = max(int(round(0.045 * r)), 1)
    centre, axes = (int(cx), int(cy)), (int(r), int(1.25 * r))
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, skin, -1, cv2.LINE_AA)
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, dark, line, cv2.LINE_AA)
    for side in (-1, 1):
        _draw_eye(canvas, s, side, cx, cy, r, dark, skin, line)
        _draw_brow(canvas, s, side, cx, cy, r, dark, line)
    nose = np.array([[cx, cy - 0.05 * r], [cx - 0.09 * r, cy + 0.2 * r], [cx + 0.09 * r, cy + 0.2 * r]])
    cv2.polylines(canvas, [_pts(nose)], False, dark, line, cv2.LINE_AA)
    s9 = s["AU9"][1]
    if s9 > 0.02:  # nose wrinkler: slanted lines beside the nose and across its bridge
        for side in (-1, 1):
            for k in (0.0, 0.08):
                x0, y0 = cx + side * (0.13 + k) * r, cy - (0.08 - k) * r
                end = (int(x0 + side * 0.1 * r * s9), int(y0 + 0.12 * r * s9))
                cv2.line(canvas, (int(x0), int(y0)), end, dark, line, cv2.LINE_AA)
        cv2.line(canvas, (int(cx - 0.07 * r * s9), int(cy - 0.12 * r)), (int(cx + 0.07 * r * s9), int(cy - 0.12 * r)),
                 dark, line, cv2.LINE_AA)
    _draw_mouth(canvas, s, cx, cy, r, skin, line)
    s17 = s["AU17"][1]
    if s17 > 0.02:  # chin raiser: a bump line that rises and widens with the intensity
        u = np.linspace(-1.0, 1.0, 15)
        chin = np.stack([cx + (0.12 + 0.12 * s17) * r * u, cy + (1.0 - 0.18 * s17) * r - 0.06 * r * (1 - u**2)], 1)
        cv2.polylines(canvas, [_pts(chin)], False, dark, line, cv2.LINE_AA)
    lit = cv2.convertScaleAbs(canvas, alpha=face.lighting)  # lighting, rounded and saturated to uint8
    image = cv2.resize(lit, (size, size), interpolation=cv2.INTER_AREA)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return image, face.box(size)
