"""Small drawn face crops in OpenFace's aligned layout, for the multimodal (fusion) demo.

A crop is what OpenFace's ``FeatureExtraction -simalign`` writes per frame: the face warped to a
fixed position, black outside the face (OpenFace's mask). Here it is drawn with OpenCV at 2x and
area-resized to ``size`` (default 32 px): face ellipse, eyes (blinks), brows, nose, mouth (speech
opening, smiles), a per-subject skin tone and a left-right lighting gradient, per-frame flicker,
sub-pixel jitter and pixel noise.

The only feature that can carry a planted signal is the **under-eye shading** ("dark circles"):
an ellipse below each eye drawn darker than the skin (and tinted violet) by a per-subject
``under_eye`` darkness. Controls draw it from ``N(0.05, 0.03)`` clipped to [0, 0.15]; the planted
amount is added on top. :func:`under_eye_contrast` measures it: the mean brightness of
:data:`UNDER_EYE_BOXES` over that of :data:`CHEEK_BOXES` (skin just below, same columns, so the
lighting gradient cancels). Expressions (blinks, smiles, speech) have the same distribution for
everyone.

Example:
    >>> rng = np.random.default_rng(0)
    >>> subject = make_crop_subject(rng, planted=0.0)
    >>> crops = draw_crops(subject, 4, 30.0, rng, size=32)
    >>> crops.shape, crops.dtype
    ((4, 32, 32, 3), dtype('uint8'))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datamodules.synthetic.faces import SKIN_TONES
from datamodules.synthetic.noise import ar1_noise, event_track

SUPERSAMPLE = 2
CROP_NAME = "frame_det_00_{frame:06d}.png"
"""OpenFace's aligned-crop file name (face 0), with 1-based frame numbers."""

# Layout in fractions of the crop (x right, y down). Eye centres at y 0.40, x 0.5 -/+ 0.16.
_EYE_Y, _EYE_DX = 0.40, 0.16
_UNDER_EYE_Y, _UNDER_EYE_AXES = 0.505, (0.11, 0.055)
UNDER_EYE_BOXES: tuple[tuple[float, float, float, float], ...] = ((0.27, 0.49, 0.41, 0.55), (0.59, 0.49, 0.73, 0.55))
"""``(x0, y0, x1, y1)`` fractions of the crop inside each under-eye ellipse (left, right)."""
CHEEK_BOXES: tuple[tuple[float, float, float, float], ...] = ((0.27, 0.59, 0.41, 0.65), (0.59, 0.59, 0.73, 0.65))
"""The reference skin just below :data:`UNDER_EYE_BOXES`, same columns (clear of nose and mouth)."""
_MOUTH_X = np.linspace(-1.0, 1.0, 15)
CONTROL_UNDER_EYE: tuple[float, float, float] = (0.05, 0.03, 0.15)
"""Controls' under-eye darkness: mean, SD, upper clip (lower clip 0)."""


@dataclass
class CropSubject:
    """Per-subject appearance: skin, lighting, small layout offsets and the under-eye darkness."""

    skin: np.ndarray  # (3,) RGB 0-255
    gain: float
    gradient: float  # left-right multiplicative lighting slope
    eye_dx: float  # eye spacing offset (fraction)
    eye_dy: float
    mouth_dy: float
    under_eye: float  # darkness in [0, 0.75]
    smile_rate: float  # events per minute
    expressivity: float


def make_crop_subject(rng: np.random.Generator, planted: float = 0.0) -> CropSubject:
    """Draw one subject's appearance; ``planted`` is added to the control under-eye darkness."""
    mean, sd, top = CONTROL_UNDER_EYE
    skin = np.clip(np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))], float) + rng.normal(0.0, 10.0, 3), 30, 255)
    return CropSubject(
        skin=skin,
        gain=float(rng.lognormal(0.0, 0.1)),
        gradient=float(rng.uniform(-0.25, 0.25)),
        eye_dx=float(rng.normal(0.0, 0.008)),
        eye_dy=float(rng.normal(0.0, 0.006)),
        mouth_dy=float(rng.normal(0.0, 0.01)),
        under_eye=float(min(0.75, np.clip(rng.normal(mean, sd), 0.0, top) + planted)),
        smile_rate=6.0 * float(rng.lognormal(0.0, 0.5)),
        expressivity=float(rng.lognormal(0.0, 0.25)),
    )


def _tracks(subject: CropSubject, n: int, fps: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-frame ``(n,)`` blink, smile, mouth opening, brow raise, jitter (px at 1x) and flicker."""
    slow = ar1_noise(rng, n, np.array([0.8, 0.95, 0.9, 0.9, 0.9]), np.array([0.5, 0.3, 0.35, 0.35, 0.015]))
    e = subject.expressivity
    return {
        "blink": np.clip(event_track(rng, n, fps, 17.0, (0.15, 0.35), 1.0), 0.0, 1.0),
        "smile": np.clip(event_track(rng, n, fps, subject.smile_rate, (1.0, 4.0), 0.8 * e), 0.0, 1.2),
        "open": np.clip(slow[:, 0] + 0.1, 0.0, 1.0),
        "brow": slow[:, 1],
        "dx": slow[:, 2],
        "dy": slow[:, 3],
        "flicker": 1.0 + slow[:, 4],
    }


def _dark(colour: np.ndarray, d: float) -> tuple[float, float, float]:
    """Skin ``colour`` darkened by ``d`` with a violet tint (RGB: green darkened most, blue least)."""
    return tuple(float(v) for v in colour * (1.0 - d * np.array([1.0, 1.2, 0.75])))


def draw_crop(subject: CropSubject, t: dict[str, float], rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One RGB uint8 ``(size, size, 3)`` aligned crop for one frame's track values ``t``."""
    big = size * SUPERSAMPLE
    canvas = np.zeros((big, big, 3), np.float32)
    ox, oy = t["dx"] * SUPERSAMPLE, t["dy"] * SUPERSAMPLE
    px = lambda fx, fy: (int(round(fx * big + ox)), int(round(fy * big + oy)))  # noqa: E731
    ln = lambda f: max(1, int(round(f * big)))  # noqa: E731
    skin = subject.skin
    feature = tuple(float(v) for v in skin * 0.35)
    cv2.ellipse(canvas, px(0.5, 0.52), (ln(0.44), ln(0.52)), 0, 0, 360, tuple(float(v) for v in skin), -1, cv2.LINE_AA)
    eye_y = _EYE_Y + subject.eye_dy
    for side in (-1, 1):
        ex = 0.5 + side * (_EYE_DX + subject.eye_dx)
        cv2.ellipse(canvas, px(ex, _UNDER_EYE_Y + subject.eye_dy), (ln(_UNDER_EYE_AXES[0]), ln(_UNDER_EYE_AXES[1])),
                    0, 0, 360, _dark(skin, subject.under_eye), -1, cv2.LINE_AA)
        opening = 0.04 * (1.0 - t["blink"])
        if opening > 0.008:
            cv2.ellipse(canvas, px(ex, eye_y), (ln(0.085), ln(opening)), 0, 0, 360, (245.0, 245.0, 245.0), -1, cv2.LINE_AA)
            cv2.circle(canvas, px(ex, eye_y), ln(min(0.03, opening)), (35.0, 30.0, 30.0), -1, cv2.LINE_AA)
        else:
            cv2.line(canvas, px(ex - 0.08, eye_y), px(ex + 0.08, eye_y), feature, 1, cv2.LINE_AA)
        brow_y = eye_y - 0.085 - 0.015 * t["brow"]
        cv2.line(canvas, px(0.5 + side * 0.06, brow_y), px(0.5 + side * 0.26, brow_y + 0.01), feature, ln(0.03), cv2.LINE_AA)
    nose = np.array([px(0.5, 0.44), px(0.46, 0.6), px(0.54, 0.6)], np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [nose], False, feature, 1, cv2.LINE_AA)
    mouth_y = 0.75 + subject.mouth_dy
    upper = mouth_y - 0.05 * t["smile"] * _MOUTH_X**2
    lower = upper + 0.07 * t["open"] * (1.0 - _MOUTH_X**2)
    xs = (0.5 + 0.12 * _MOUTH_X) * big + ox
    up = np.round(np.column_stack([xs, upper * big + oy])).astype(np.int32).reshape(-1, 1, 2)
    if t["open"] > 0.15:
        low = np.round(np.column_stack([xs, lower * big + oy])).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(canvas, [np.concatenate([up, low[::-1]])], (90.0, 25.0, 35.0), cv2.LINE_AA)
    cv2.polylines(canvas, [up], False, (150.0, 45.0, 55.0), ln(0.025), cv2.LINE_AA)
    light = subject.gain * t["flicker"] * (1.0 + subject.gradient * np.linspace(-0.5, 0.5, big, dtype=np.float32))
    canvas *= light[None, :, None]
    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    small += rng.normal(0.0, 1.5, small.shape).astype(np.float32)  # sensor noise
    return np.clip(np.round(small), 0, 255).astype(np.uint8)


def draw_crops(subject: CropSubject, n: int, fps: float, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """``(n, size, size, 3)`` RGB uint8 crops of one video (``n`` frames at ``fps``)."""
    tracks = _tracks(subject, n, fps, rng)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        out[i] = draw_crop(subject, {k: float(v[i]) for k, v in tracks.items()}, rng, size)
    return out


def write_crops(folder: str | Path, crops: np.ndarray, frames: np.ndarray) -> Path:
    """Write ``crops[i]`` (RGB) as ``folder/frame_det_00_<frames[i]:06d>.png``; returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for crop, frame in zip(crops, frames):
        cv2.imwrite(str(folder / CROP_NAME.format(frame=int(frame))), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return folder


def box_pixels(box: tuple[float, float, float, float], size: int) -> tuple[slice, slice]:
    """``(rows, cols)`` slices of a fractional ``(x0, y0, x1, y1)`` box in a ``size`` px crop.

    Example:
        >>> box_pixels(UNDER_EYE_BOXES[0], 32)
        (slice(16, 18, None), slice(9, 13, None))
    """
    x0, y0, x1, y1 = (int(round(f * size)) for f in box)
    return slice(y0, y1), slice(x0, x1)


def under_eye_contrast(image: np.ndarray) -> float:
    """Mean brightness of the under-eye boxes over that of the cheek boxes (< 1: darker under the eyes).

    ``image``: ``(S, S, 3)`` (or ``(S, S)``) pixels of one crop, RGB or BGR (the mean over channels).
    """
    size = image.shape[0]
    mean = lambda boxes: float(np.mean([image[box_pixels(b, size)].mean() for b in boxes]))  # noqa: E731
    return mean(UNDER_EYE_BOXES) / max(mean(CHEEK_BOXES), 1e-6)
