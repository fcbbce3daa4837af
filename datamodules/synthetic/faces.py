"""Synthetic drawn faces in the Kaggle AffectNet layout (``<emotion>/*.jpg`` + ``labels.csv``).

Each face is drawn with OpenCV (face ellipse, eyes with pupils, brows, nose, mouth curve) on a
noisy coloured background. The emotion sets the expression (:data:`EXPRESSIONS`): mouth
curvature (happy up, sad down), mouth opening (surprise, fear), brow tilt (inner ends raised for
sad and fear, lowered for anger and disgust), brow height, eye opening and a one-sided smile
(contempt). Every image jitters these and varies position, size, skin and background colour,
brightness and noise. Drawing is 2x supersampled, then area-resized; images are deterministic for
a seed (each image has its own generator seeded by ``(seed, class, index)``).

Example:
    >>> from datamodules.synthetic.faces import make_face_demo
    >>> manifest = make_face_demo("/tmp/faces", images_per_class=20)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from datamodules.io.affectnet import EMOTIONS

SUPERSAMPLE = 2
SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 95), (160, 104, 70), (110, 70, 45),
)


@dataclass(frozen=True)
class Expression:
    """Drawing parameters of an emotion (units: fractions of the face's half-width).

    ``mouth_curve`` > 0 smiles, < 0 frowns; ``brow_tilt`` > 0 raises the inner brow ends;
    ``asymmetry`` lifts one mouth corner.
    """

    mouth_curve: float = 0.0
    mouth_open: float = 0.0
    brow_tilt: float = 0.0
    brow_raise: float = 0.0
    eye_open: float = 1.0
    asymmetry: float = 0.0
    wrinkle: bool = False


EXPRESSIONS: dict[str, Expression] = {
    "neutral": Expression(),
    "happy": Expression(mouth_curve=0.55, mouth_open=0.15, brow_raise=0.05, eye_open=0.8),
    "sad": Expression(mouth_curve=-0.45, brow_tilt=0.7, eye_open=0.7),
    "surprise": Expression(mouth_open=1.0, brow_raise=0.7, eye_open=1.5),
    "fear": Expression(mouth_curve=-0.15, mouth_open=0.5, brow_tilt=0.6, brow_raise=0.4, eye_open=1.4),
    "disgust": Expression(mouth_curve=-0.3, mouth_open=0.1, brow_tilt=-0.4, brow_raise=-0.2, eye_open=0.6,
                          wrinkle=True),
    "anger": Expression(mouth_curve=-0.15, brow_tilt=-0.8, brow_raise=-0.3, eye_open=0.9),
    "contempt": Expression(asymmetry=0.6, eye_open=0.9),
}
assert set(EXPRESSIONS) == set(EMOTIONS)


def jitter(expression: Expression, rng: np.random.Generator, amount: float = 0.08) -> Expression:
    """The expression with Gaussian noise on its continuous parameters."""
    noise = lambda v: float(v + rng.normal(0.0, amount))  # noqa: E731
    return Expression(noise(expression.mouth_curve), max(noise(expression.mouth_open), 0.0),
                      noise(expression.brow_tilt), noise(expression.brow_raise),
                      max(noise(expression.eye_open), 0.2), noise(expression.asymmetry), expression.wrinkle)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Colour with a linear gradient and Gaussian noise, float32 ``(size, size, 3)``."""
    base = rng.uniform(20, 235, 3)
    slope = rng.uniform(-40, 40, 3)
    ramp = np.linspace(-0.5, 0.5, size)
    ramp = ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None]
    image = base + slope * ramp + np.zeros((size, size, 3))
    return (image + rng.normal(0.0, rng.uniform(2, 10), image.shape)).astype(np.float32)


def _pts(points: np.ndarray) -> np.ndarray:
    return np.round(points).astype(np.int32).reshape(-1, 1, 2)


def _mouth_curves(e: Expression, cx: float, cy: float, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lip lines ``(n, 2)``; corners higher than the middle when smiling."""
    half = 0.32 * r
    x = np.linspace(-1.0, 1.0, 25)
    bulge = 1.0 - x**2
    upper = cy + 0.45 * r + e.mouth_curve * 0.22 * r * bulge - e.asymmetry * 0.18 * r * ((x + 1) / 2) ** 2
    lower = upper + e.mouth_open * 0.28 * r * bulge
    xs = cx + half * x
    return np.stack([xs, upper], 1), np.stack([xs, lower], 1)


def draw_face(emotion: str, rng: np.random.Generator, size: int = 96) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """An RGB uint8 ``(size, size, 3)`` face showing ``emotion`` and its box (x0, y0, x1, y1) in pixels.

    >>> image, box = draw_face("happy", np.random.default_rng(0), size=64)
    >>> image.shape, image.dtype
    ((64, 64, 3), dtype('uint8'))
    """
    if emotion not in EXPRESSIONS:
        raise ValueError(f"unknown emotion {emotion!r}; use one of {list(EXPRESSIONS)}")
    e = jitter(EXPRESSIONS[emotion], rng)
    big = size * SUPERSAMPLE
    canvas = _background(rng, big)
    r = rng.uniform(0.26, 0.36) * big  # half-width of the face
    cx, cy = rng.uniform(0.42, 0.58) * big, rng.uniform(0.44, 0.56) * big
    skin = np.clip(np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))]) + rng.normal(0, 10, 3), 0, 255)
    dark = tuple(float(v) for v in skin * 0.35)
    line = max(int(round(0.045 * r)), 1)
    centre, axes = (int(cx), int(cy)), (int(r), int(1.25 * r))
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, tuple(float(v) for v in skin), -1, cv2.LINE_AA)
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, dark, line, cv2.LINE_AA)
    for side in (-1, 1):
        ex, ey = cx + side * 0.38 * r, cy - 0.2 * r
        axes = (int(0.17 * r), max(int(0.085 * r * e.eye_open), 1))
        cv2.ellipse(canvas, (int(ex), int(ey)), axes, 0, 0, 360, (250.0, 250.0, 250.0), -1, cv2.LINE_AA)
        cv2.circle(canvas, (int(ex), int(ey)), max(min(int(0.06 * r), axes[1]), 1), (30.0, 30.0, 30.0), -1, cv2.LINE_AA)
        brow_y = ey - 0.22 * r - e.brow_raise * 0.12 * r
        inner = (cx + side * 0.14 * r, brow_y - e.brow_tilt * 0.12 * r)
        outer = (cx + side * 0.58 * r, brow_y + e.brow_tilt * 0.05 * r)
        cv2.line(canvas, (int(inner[0]), int(inner[1])), (int(outer[0]), int(outer[1])), dark, 2 * line, cv2.LINE_AA)
    nose = np.array([[cx, cy - 0.05 * r], [cx - 0.09 * r, cy + 0.2 * r], [cx + 0.09 * r, cy + 0.2 * r]])
    cv2.polylines(canvas, [_pts(nose)], False, dark, line, cv2.LINE_AA)
    if e.wrinkle:
        for side in (-1, 1):
            x0 = cx + side * 0.12 * r
            start, end = (int(x0), int(cy - 0.02 * r)), (int(x0 + side * 0.08 * r), int(cy + 0.1 * r))
            cv2.line(canvas, start, end, dark, line, cv2.LINE_AA)
    upper, lower = _mouth_curves(e, cx, cy, r)
    if e.mouth_open > 0.08:
        cv2.fillPoly(canvas, [_pts(np.concatenate([upper, lower[::-1]]))], (90.0, 20.0, 30.0), cv2.LINE_AA)
    cv2.polylines(canvas, [_pts(upper)], False, (150.0, 40.0, 50.0), 2 * line, cv2.LINE_AA)
    canvas *= rng.uniform(0.8, 1.15)  # lighting
    image = cv2.resize(np.clip(canvas, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    s = 1.0 / SUPERSAMPLE
    box = (int(max((cx - r) * s, 0)), int(max((cy - 1.25 * r) * s, 0)),
           int(min(np.ceil((cx + r) * s), size)), int(min(np.ceil((cy + 1.25 * r) * s), size)))
    return image, box


def make_face_demo(
    out_dir: str | Path,
    images_per_class: int = 40,
    size: int = 96,
    classes: Sequence[str] = ("happy", "sad", "neutral", "anger"),
    seed: int = 0,
    label_map: str | Mapping[str, Any] = "depression_binary",
    face_boxes: bool = False,
) -> Path:
    """Write ``out_dir/<class>/image*.jpg``, ``labels.csv`` (Kaggle columns) and ``manifest.csv``; return the manifest.

    With ``face_boxes``, ``labels.csv`` (and so the manifest, built by
    :func:`~datamodules.image_manifest.build_image_manifest`) also holds each face's box
    (``face_x, face_y, face_width, face_height``), which the DataModule then crops.

    Example:
        >>> manifest = make_face_demo("/tmp/faces", images_per_class=10, size=64)  # doctest: +SKIP
    """
    from datamodules.image_manifest import build_image_manifest

    out = Path(out_dir)
    records = []
    for k, emotion in enumerate(classes):
        folder = out / emotion
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(images_per_class):
            rng = np.random.default_rng([seed, EMOTIONS.index(emotion), i])
            image, (x0, y0, x1, y1) = draw_face(emotion, rng, size)
            name = f"{emotion}/image{k:02d}{i:05d}.jpg"
            cv2.imwrite(str(out / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            record = {"pth": name, "label": emotion, "relFCs": round(float(rng.uniform(0.5, 1.0)), 4)}
            if face_boxes:
                record.update(face_x=x0, face_y=y0, face_width=x1 - x0, face_height=y1 - y0)
            records.append(record)
    pd.DataFrame(records).to_csv(out / "labels.csv")  # the Kaggle file has an unnamed index column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # drawn faces share no identity: the leakage warning does not apply
        build_image_manifest("affectnet-folders", out, out / "manifest.csv", label_map)
    return out / "manifest.csv"
