"""Synthetic 3D-landmark demo in the real OpenFace 2.x CSV format, with a planted depression signal.

Each file holds ``frame, face_id, timestamp, confidence, success, x_0..x_67, y_0..y_67`` (2D
projections, pixels) and ``X_0..X_67, Y_0..Y_67, Z_0..Z_67`` (3D, mm, camera coordinates with
y down and z the distance from the camera), with OpenFace's leading spaces, plus ``manifest.csv``
(``subject_id, path, label, score, session``) and ``labels.csv``.

How a frame is made:

* a procedural 68-point face template (:func:`face_template`, iBUG order, about 64 mm between
  the eye centres), changed per subject (size, eye spacing, brow gap and height, mouth width and
  corner height, small per-point offsets);
* expression deformations (:data:`DEFORMATIONS`) driven by time series: a tonic "grief brow"
  (inner brows 21/22 raised and drawn together), tonic mouth-corner depression (48/54 down),
  smile events (48/54 up and out), speech-like mouth opening and blinks;
* the planted group effect (scaled by ``effect_size`` and a PHQ-8-like severity): depressed
  subjects have stronger grief-brow and corner-depression levels and fewer smiles; mouth opening
  and blinks do not differ between groups;
* smooth head motion (rotations of several degrees, translations of centimetres), 3D noise
  (larger in depth), and tracking failures in short bursts (``success = 0``, low confidence,
  all landmarks 0, as OpenFace writes them) with shaky low-confidence frames around them.

After centring, inter-ocular scaling and alignment the group signal is visible in per-subject
mean mouth-corner height and inner-brow distance, but overlaps between groups because of the
anatomy variation (:func:`group_features`).

Example:
    >>> from datamodules.synthetic.landmarks import make_landmark_demo
    >>> manifest = make_landmark_demo("/tmp/lmk-demo", num_subjects=10)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.synthetic.noise import ar1_noise, dilate, event_track, failure_mask
from datamodules.synthetic.subjects import demo_sessions, severity_multiplier, write_demo_tables

NUM_POINTS = 68
META_COLUMNS: tuple[str, ...] = ("frame", "face_id", "timestamp", "confidence", "success")
LANDMARK_COLUMNS: tuple[str, ...] = tuple(
    f"{axis}_{i}" for axis in ("x", "y", "X", "Y", "Z") for i in range(NUM_POINTS)
)
"""2D then 3D landmark columns, in OpenFace 2.x order."""
COLUMNS: tuple[str, ...] = META_COLUMNS + LANDMARK_COLUMNS

CAMERA = (500.0, 500.0, 320.0, 240.0)
"""Pinhole camera ``(fx, fy, cx, cy)`` used for the 2D projections."""

_ROW_FORMAT = ",".join(("%d", "  %d", "  %.3f", "  %.2f", "  %d") + ("  %.1f",) * len(LANDMARK_COLUMNS))
_HEADER = ", ".join(COLUMNS)


# ------------------------------------------------------------------------------------------------
# Face template and deformations
# ------------------------------------------------------------------------------------------------


def face_template() -> np.ndarray:
    """``(68, 3)`` neutral face in mm (x to image right, y down, z away from the camera), iBUG order.

    Jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67; centred near the nose.

    Example:
        >>> t = face_template()
        >>> t.shape, bool(t[8, 1] > t[57, 1] > t[33, 1] > t[39, 1] > t[21, 1])  # chin below mouth below nose ...
        ((68, 3), True)
    """
    pts = np.zeros((NUM_POINTS, 3))
    phi = np.deg2rad(np.linspace(-100.0, 100.0, 17))
    pts[0:17] = np.column_stack([72.0 * np.sin(phi), -10.0 + 78.0 * np.cos(phi), 8.0 + 55.0 * np.abs(np.sin(phi)) ** 1.5])
    s = np.linspace(0.0, 1.0, 5)
    brow_x = -56.0 + 44.0 * s  # outer (-56) to inner (-12)
    brow = np.column_stack([brow_x, -50.0 - 7.0 * np.sin(np.pi * (0.3 + 0.7 * s)), 12.0 - 18.0 * s])
    pts[17:22] = brow
    pts[22:27] = brow[::-1] * np.array([-1.0, 1.0, 1.0])
    pts[27:31] = np.column_stack([np.zeros(4), [-35.0, -24.0, -12.0, 0.0], [-8.0, -14.0, -20.0, -26.0]])
    pts[31:36] = np.column_stack([[-14.0, -7.0, 0.0, 7.0, 14.0], [8.0, 10.0, 11.0, 10.0, 8.0], [-12.0, -16.0, -19.0, -16.0, -12.0]])
    eye = np.array([[-13.0, 0.0, 4.0], [-5.0, -4.0, 1.0], [5.0, -4.0, 1.0], [13.0, 0.0, 3.0], [5.0, 3.0, 1.0], [-5.0, 3.0, 1.0]])
    pts[36:42] = eye + np.array([-32.0, -35.0, 0.0])  # outer corner 36 ... inner corner 39
    pts[42:48] = eye[[3, 2, 1, 0, 5, 4]] * np.array([-1.0, 1.0, 1.0]) + np.array([32.0, -35.0, 0.0])
    outer_x = [-25.0, -16.0, -6.0, 0.0, 6.0, 16.0, 25.0, 16.0, 7.0, 0.0, -7.0, -16.0]
    outer_y = [30.0, 25.0, 22.0, 23.0, 22.0, 25.0, 30.0, 36.0, 39.0, 40.0, 39.0, 36.0]
    outer_z = [-4.0, -10.0, -14.0, -15.0, -14.0, -10.0, -4.0, -10.0, -13.0, -14.0, -13.0, -10.0]
    pts[48:60] = np.column_stack([outer_x, outer_y, outer_z])
    inner = [[-20.0, 30.0, -6.0], [-7.0, 28.0, -12.0], [0.0, 28.5, -13.0], [7.0, 28.0, -12.0],
             [20.0, 30.0, -6.0], [7.0, 31.0, -12.0], [0.0, 31.5, -13.0], [-7.0, 31.0, -12.0]]
    pts[60:68] = inner
    return pts


def _displacement(spec: dict[tuple[int, ...], tuple[float, float, float]]) -> np.ndarray:
    out = np.zeros((NUM_POINTS, 3))
    for idx, d in spec.items():
        out[list(idx)] = d
    return out


def _mirror(spec: dict[int, tuple[float, float, float]], pairs: dict[int, int]) -> np.ndarray:
    """Displacement with the given points and their mirror partners (x sign flipped)."""
    out = np.zeros((NUM_POINTS, 3))
    for i, (dx, dy, dz) in spec.items():
        out[i] = (dx, dy, dz)
        out[pairs[i]] = (-dx, dy, dz)
    return out


_PAIRS = {17: 26, 18: 25, 19: 24, 20: 23, 21: 22, 48: 54, 49: 53, 59: 55, 60: 64, 40: 47, 41: 46, 37: 44, 38: 43}

DEFORMATIONS: dict[str, np.ndarray] = {
    # AU1+AU4 "grief brow": inner brows up (y down is +) and towards the midline.
    "brow": _mirror({21: (2.5, -3.0, 0.0), 20: (1.0, -1.6, 0.0), 19: (0.3, -0.6, 0.0)}, _PAIRS),
    # AU15: mouth corners down.
    "frown": _mirror({48: (0.3, 3.5, 0.0), 60: (0.2, 2.0, 0.0), 59: (0.0, 0.8, 0.0), 49: (0.0, 0.5, 0.0)}, _PAIRS),
    # AU12 (+AU6): corners up and out, lower eyelids up.
    "smile": _mirror({48: (-3.0, -3.5, 1.5), 60: (-2.0, -2.5, 1.0), 49: (-1.0, -1.5, 0.5), 59: (-1.0, -1.2, 0.5),
                      40: (0.0, -0.8, 0.0), 41: (0.0, -0.8, 0.0)}, _PAIRS),
    # AU25/26: lower lip and jaw down (speech-like), corners a little.
    "open": _displacement({(55, 56, 57, 58, 59): (0.0, 4.0, 0.0), (65, 66, 67): (0.0, 5.0, 0.0),
                           (6, 7, 8, 9, 10): (0.0, 3.0, 0.0), (48, 54, 60, 64): (0.0, 1.0, 0.0)}),
    # AU45: upper lids down, lower lids slightly up.
    "blink": _mirror({37: (0.0, 3.0, 0.0), 38: (0.0, 3.0, 0.0), 40: (0.0, -1.0, 0.0), 41: (0.0, -1.0, 0.0)}, _PAIRS),
}
"""Expression name -> ``(68, 3)`` displacement (mm) at activation 1."""

# Group effect at effect_size * severity 1: tonic level shifts and smile-rate reduction.
EFFECTS: dict[str, float] = {"brow": 1.3, "frown": 1.3, "smile_log_rate": 1.2}


# ------------------------------------------------------------------------------------------------
# Subjects and sessions
# ------------------------------------------------------------------------------------------------


@dataclass
class LandmarkSubject:
    """Per-subject traits: label, score, neutral face shape and expression levels/rates."""

    subject_id: str
    label: int
    score: int
    shape: np.ndarray  # (68, 3) neutral face, mm
    brow_level: float
    frown_level: float
    smile_rate: float  # events per minute
    expressivity: float


def subject_shape(rng: np.random.Generator) -> np.ndarray:
    """The template with per-subject anatomy: size, eye spacing, brow gap/height, mouth width/height, jitter."""
    pts = face_template()
    eyes_dx = rng.normal(0.0, 1.2)
    pts[36:42, 0] -= eyes_dx
    pts[42:48, 0] += eyes_dx
    gap = rng.normal(0.0, 1.0)
    pts[[21, 20], 0] -= gap * np.array([1.0, 0.5])
    pts[[22, 23], 0] += gap * np.array([1.0, 0.5])
    pts[17:27, 1] += rng.normal(0.0, 2.0)
    width = rng.normal(0.0, 1.8)
    pts[[48, 60], 0] -= width
    pts[[54, 64], 0] += width
    pts[[48, 54, 60, 64], 1] += rng.normal(0.0, 0.6)
    pts[48:68, 1] += rng.normal(0.0, 1.0)
    pts += rng.normal(0.0, 0.5, size=pts.shape)
    return pts * rng.lognormal(0.0, 0.07)


def make_subject(subject_id: str, label: int, score: int, effect_size: float, rng: np.random.Generator) -> LandmarkSubject:
    """Draw one subject; the group effect is ``effect_size * severity_multiplier(label, score)``."""
    strength = effect_size * severity_multiplier(label, score)
    return LandmarkSubject(
        subject_id=subject_id,
        label=int(label),
        score=int(score),
        shape=subject_shape(rng),
        brow_level=max(0.0, rng.normal(0.3, 0.3) + EFFECTS["brow"] * strength),
        frown_level=max(0.0, rng.normal(0.3, 0.3) + EFFECTS["frown"] * strength),
        smile_rate=6.0 * float(rng.lognormal(0.0, 0.5)) * float(np.exp(-EFFECTS["smile_log_rate"] * strength)),
        expressivity=float(rng.lognormal(0.0, 0.25)),
    )


def expression_tracks(subject: LandmarkSubject, n: int, fps: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``(n,)`` activation per :data:`DEFORMATIONS` entry for one session."""
    e = subject.expressivity
    slow = ar1_noise(rng, n, np.array([0.98, 0.98]), np.array([0.25, 0.25]))
    return {
        "brow": np.clip(subject.brow_level * (1.0 + slow[:, 0]) + event_track(rng, n, fps, 3.0, (1.0, 4.0), 0.8 * e), 0.0, None),
        "frown": np.clip(subject.frown_level * (1.0 + slow[:, 1]) + event_track(rng, n, fps, 3.0, (1.0, 4.0), 0.6 * e), 0.0, None),
        "smile": event_track(rng, n, fps, subject.smile_rate, (1.0, 4.0), 1.0 * e),
        "open": np.clip(ar1_noise(rng, n, np.array([0.8]), np.array([0.5]))[:, 0] + 0.3, 0.0, None),
        "blink": np.clip(event_track(rng, n, fps, 17.0, (0.15, 0.35), 1.0), 0.0, 1.0),
    }


def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """``(n, 3)`` pitch/yaw/roll in radians -> ``(n, 3, 3)`` rotations ``Rz @ Ry @ Rx``."""
    cx, cy, cz = np.cos(angles).T
    sx, sy, sz = np.sin(angles).T
    one, zero = np.ones_like(cx), np.zeros_like(cx)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cx, -sx], -1), np.stack([zero, sx, cx], -1)], -2)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1), np.stack([-sy, zero, cy], -1)], -2)
    rz = np.stack([np.stack([cz, -sz, zero], -1), np.stack([sz, cz, zero], -1), np.stack([zero, zero, one], -1)], -2)
    return rz @ ry @ rx


def simulate_landmarks(
    subject: LandmarkSubject, n: int, fps: float, failed_frame_rate: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One session: ``points`` (n, 68, 3) camera mm (0 on failures), ``success``, ``confidence``."""
    tracks = expression_tracks(subject, n, fps, rng)
    face = np.broadcast_to(subject.shape, (n, NUM_POINTS, 3)).copy()
    for name, act in tracks.items():
        face += act[:, None, None] * DEFORMATIONS[name]
    angles = rng.normal([0.05, 0.0, 0.0], [0.05, 0.08, 0.04]) + ar1_noise(rng, n, np.full(3, 0.98), np.array([0.06, 0.10, 0.04]))
    shift = rng.normal([0.0, 0.0, 550.0], [30.0, 20.0, 60.0]) + ar1_noise(rng, n, np.full(3, 0.98), np.array([8.0, 6.0, 15.0]))
    points = np.einsum("tij,tpj->tpi", rotation_matrices(angles), face) + shift[:, None, :]
    points += rng.normal(0.0, 1.0, size=points.shape) * np.array([0.5, 0.5, 1.5])

    failed = failure_mask(rng, n, failed_frame_rate)
    shaky = dilate(failed, before=1, after=2) & ~failed
    confidence = np.clip(0.98 - np.abs(ar1_noise(rng, n, np.array([0.9]), np.array([0.03]))[:, 0]), 0.88, 0.98)
    confidence[shaky] = rng.uniform(0.45, 0.88, int(shaky.sum()))
    points[shaky] += rng.normal(0.0, 3.0, size=(int(shaky.sum()), NUM_POINTS, 3))
    confidence[failed] = rng.uniform(0.0, 0.4, int(failed.sum()))
    points[failed] = 0.0
    return {"points": points, "success": ~failed, "confidence": confidence}


def project(points: np.ndarray, camera: tuple[float, float, float, float] = CAMERA) -> np.ndarray:
    """``(n, P, 3)`` camera mm -> ``(n, P, 2)`` pixels (0 where z <= 0)."""
    fx, fy, cx, cy = camera
    z = points[..., 2]
    safe = np.where(z > 0, z, 1.0)
    uv = np.stack([fx * points[..., 0] / safe + cx, fy * points[..., 1] / safe + cy], axis=-1)
    return np.where((z > 0)[..., None], uv, 0.0)


def write_openface_landmark_csv(
    path: str | Path, points: np.ndarray, success: np.ndarray, confidence: np.ndarray, fps: float = 30.0
) -> Path:
    """Write an OpenFace 2.x style CSV with 2D and 3D landmark columns (:data:`COLUMNS`).

    Example:
        >>> write_openface_landmark_csv("/tmp/a.csv", np.ones((2, 68, 3)), np.ones(2, bool), np.ones(2))  # doctest: +SKIP
    """
    n = len(points)
    uv = project(points)
    frame = np.arange(1, n + 1)
    table = np.column_stack([
        frame, np.zeros(n), np.round((frame - 1) / fps, 3), np.round(confidence, 2), success.astype(float),
        uv[..., 0], uv[..., 1], points[..., 0], points[..., 1], points[..., 2],
    ])
    table[:, 5:] = np.round(table[:, 5:], 1) + 0.0  # no "-0.0"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(_ROW_FORMAT % tuple(row) for row in table.tolist())
    with open(path, "w", newline="\n") as fh:
        fh.write(_HEADER + "\n" + (body + "\n" if n else ""))
    return path


def generate_landmark_demo(
    out_dir: str | Path,
    num_subjects: int = 40,
    sessions_per_subject: int = 1,
    frames: tuple[int, int] = (150, 300),
    effect_size: float = 1.0,
    seed: int = 0,
    fps: float = 30.0,
    depressed_fraction: float = 0.5,
    failed_frame_rate: float = 0.03,
) -> pd.DataFrame:
    """Like :func:`make_landmark_demo`, but return the per-file table (manifest columns plus ``frames``, ``failed_frames``)."""
    out_dir = Path(out_dir)
    rows = []
    for demo in demo_sessions(num_subjects, sessions_per_subject, frames, depressed_fraction, seed):
        if demo.first_of_subject:
            subject = make_subject(demo.subject_id, demo.label, demo.score, effect_size, demo.rng)
        n = int(demo.rng.integers(frames[0], frames[1] + 1))
        data = simulate_landmarks(subject, n, fps, failed_frame_rate, demo.rng)
        rel = Path("landmarks") / f"{demo.subject_id}_session{demo.session}.csv"
        write_openface_landmark_csv(out_dir / rel, data["points"], data["success"], data["confidence"], fps)
        rows.append({"subject_id": demo.subject_id, "path": rel.as_posix(), "label": demo.label, "score": demo.score,
                     "session": demo.session, "frames": n, "failed_frames": int((~data["success"]).sum())})
    return write_demo_tables(rows, out_dir)


def make_landmark_demo(
    out_dir: str | Path,
    num_subjects: int = 40,
    sessions_per_subject: int = 1,
    frames: tuple[int, int] = (150, 300),
    effect_size: float = 1.0,
    seed: int = 0,
) -> Path:
    """Write ``out_dir/landmarks/{subject}_session{k}.csv``, ``manifest.csv``, ``labels.csv``; return the manifest.

    Half the subjects are depressed (label 1, PHQ-8-like score >= 10). Same seed, same bytes.

    Example:
        >>> m = make_landmark_demo("/tmp/lmk", num_subjects=6, frames=(30, 40))  # doctest: +SKIP
        >>> pd.read_csv(m).columns.tolist()  # doctest: +SKIP
        ['subject_id', 'path', 'label', 'score', 'session']
    """
    generate_landmark_demo(out_dir, num_subjects, sessions_per_subject, frames, effect_size, seed)
    return Path(out_dir) / "manifest.csv"


# ------------------------------------------------------------------------------------------------
# Checking the planted effect
# ------------------------------------------------------------------------------------------------


def group_features(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[mouth-corner height, inner-brow distance]`` averaged over valid frames of normalised points.

    Corner height is the mean y of 48/54 minus y of the subnasale 33 (larger = corners lower);
    brow distance is ``|p21 - p22|``. Use on centred, inter-ocular-scaled, aligned points.

    Example:
        >>> group_features(face_template()[None] / 64.0, np.array([True])).round(2).tolist()
        [0.3, 0.38]
    """
    p = points[valid]
    corner = p[:, [48, 54], 1].mean(axis=1) - p[:, 33, 1]
    brow = np.linalg.norm(p[:, 21] - p[:, 22], axis=-1)
    return np.array([corner.mean(), brow.mean()])
