"""Synthetic demo data in the real OpenFace 2.x CSV format, with a planted depression signal.

The generator writes one OpenFace ``FeatureExtraction -gaze -pose -aus`` style CSV per subject and
session (``frame, face_id, timestamp, confidence, success, gaze_*, pose_*, AU01_r ... AU45_c``,
values prefixed by spaces exactly as OpenFace writes them), plus a manifest and a labels table.

How a subject's AU intensities are made (latent units, clipped to [0, 5] at the end):

* a population baseline per AU, plus a per-subject offset (correlated within muscle groups) and
  a smaller per-session offset -- subject-level variation dominates frame noise;
* AR(1) frame noise per AU (smooth dynamics at 30 fps), scaled by a per-subject expressivity;
* expression events with smooth bumps: smiles (AU06+AU12, AU25, AU14), frowns (AU04+AU07),
  sad faces (AU01+AU04+AU15+AU17) and blinks (AU45);
* the planted, literature-consistent group difference (scaled by ``effect_size`` and graded by the
  PHQ-8-like score): depressed subjects have higher AU01/AU04/AU15, more sad events, and fewer,
  weaker smiles (lower AU06/AU12).

Presences ``_c`` are 1 where intensity plus smooth classifier noise exceeds ~1; ``AU28_c`` (lip
suck) exists only as presence. Tracking failures come in short bursts with ``success=0``, low
confidence and garbage (non-zero) AU values, as OpenFace leaves them.

Example:
    >>> from datamodules.synthetic.openface_demo import make_openface_demo
    >>> manifest = make_openface_demo("/tmp/demo", num_subjects=10)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_AUS, INTENSITY_COLUMNS, PRESENCE_COLUMNS
from datamodules.manifest import write_manifest

# --------------------------------------------------------------------------------------------
# OpenFace CSV layout
# --------------------------------------------------------------------------------------------

META_COLUMNS: tuple[str, ...] = ("frame", "face_id", "timestamp", "confidence", "success")
GAZE_COLUMNS: tuple[str, ...] = (
    "gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z", "gaze_angle_x", "gaze_angle_y",
)
POSE_COLUMNS: tuple[str, ...] = ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")
OPENFACE_AU_COLUMNS: tuple[str, ...] = INTENSITY_COLUMNS + PRESENCE_COLUMNS
"""AU columns in OpenFace's own order (all ``_r`` then all ``_c``; equal to the canonical order)."""
OPENFACE_COLUMNS: tuple[str, ...] = META_COLUMNS + GAZE_COLUMNS + POSE_COLUMNS + OPENFACE_AU_COLUMNS

# Per-column printf formats, copied from real OpenFace 2.x output: the first field bare, then
# ", " separators with one extra space before meta/gaze/pose values; AUs get the separator only.
_COLUMN_FORMATS: tuple[str, ...] = (
    ("%d", "  %d", "  %.3f", "  %.2f", "  %d")
    + ("  %.6f",) * 6 + ("  %.3f",) * 2
    + ("  %.1f",) * 3 + ("  %.3f",) * 3
    + (" %.2f",) * len(OPENFACE_AU_COLUMNS)
)
_ROW_FORMAT: str = ",".join(_COLUMN_FORMATS)
_HEADER: str = ", ".join(OPENFACE_COLUMNS)

_NEUTRAL_GAZE = np.array([0.0, 0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
_NEUTRAL_POSE = np.array([0.0, 0.0, 500.0, 0.0, 0.0, 0.0])


def _column_or_default(values: np.ndarray | None, n: int, default: float | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a float array of length ``n`` (or ``default`` repeated); checks the length."""
    if values is None:
        return np.broadcast_to(np.asarray(default, dtype=np.float64), (n,) + np.shape(default)).copy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, au_values has {n}")
    return arr


def make_openface_csv(
    path: str | Path,
    au_values: np.ndarray,
    success: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    face_id: np.ndarray | None = None,
    frame: np.ndarray | None = None,
    fps: float = 30.0,
    *,
    timestamp: np.ndarray | None = None,
    gaze: np.ndarray | None = None,
    pose: np.ndarray | None = None,
) -> Path:
    """Write one OpenFace 2.x CSV (header and values with OpenFace's leading spaces).

    Args:
        au_values: ``(T, 35)`` in :data:`ALL_AU_COLUMNS` order (17 ``_r`` then 18 ``_c``).
        success, confidence, face_id: ``(T,)``; default 1, 0.98, 0.
        frame: ``(T,)`` 1-based frame numbers (may repeat for several faces); default ``1..T``.
        timestamp: ``(T,)`` seconds; default ``(frame - 1) / fps``.
        gaze: ``(T, 8)`` in :data:`GAZE_COLUMNS` order; default looking straight ahead.
        pose: ``(T, 6)`` in :data:`POSE_COLUMNS` order (mm, rad); default 50 cm in front.

    Example:
        >>> make_openface_csv("/tmp/x.csv", np.zeros((3, 35)))  # doctest: +SKIP
        PosixPath('/tmp/x.csv')
    """
    au = np.asarray(au_values, dtype=np.float64)
    if au.ndim != 2 or au.shape[1] != len(ALL_AU_COLUMNS):
        raise ValueError(f"au_values must be (T, {len(ALL_AU_COLUMNS)}) in ALL_AU_COLUMNS order, got {au.shape}")
    n = au.shape[0]
    frame_arr = _column_or_default(frame, n, 0.0, "frame") if frame is not None else np.arange(1, n + 1, dtype=np.float64)
    time_arr = _column_or_default(timestamp, n, 0.0, "timestamp") if timestamp is not None else (frame_arr - 1) / fps
    order = [ALL_AU_COLUMNS.index(c) for c in OPENFACE_AU_COLUMNS]
    table = np.column_stack(
        [
            frame_arr,
            _column_or_default(face_id, n, 0.0, "face_id"),
            time_arr,
            _column_or_default(confidence, n, 0.98, "confidence"),
            _column_or_default(success, n, 1.0, "success"),
            _column_or_default(gaze, n, _NEUTRAL_GAZE, "gaze").reshape(n, len(GAZE_COLUMNS)),
            _column_or_default(pose, n, _NEUTRAL_POSE, "pose").reshape(n, len(POSE_COLUMNS)),
            au[:, order],
        ]
    )
    # Round first (and add 0.0) so that no cell prints as "-0.00".
    decimals = np.array([_decimals(f) for f in _COLUMN_FORMATS])
    table = _round_columns(table, decimals) + 0.0
    body = "\n".join(_ROW_FORMAT % tuple(row) for row in table.tolist())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="\n") as fh:
        fh.write(_HEADER + "\n" + (body + "\n" if n else ""))
    return path


def _decimals(fmt: str) -> int:
    """Decimal places of a printf format (``"  %.3f"`` -> 3, ``"%d"`` -> 0)."""
    return int(fmt.split(".")[1][0]) if "." in fmt else 0


def _round_columns(table: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """Round every column of ``table`` to its own number of decimals."""
    scale = 10.0 ** decimals
    return np.round(table * scale) / scale


# --------------------------------------------------------------------------------------------
# Generative model
# --------------------------------------------------------------------------------------------

# Per intensity AU: (latent baseline, subject SD, AR(1) frame SD, AR(1) coefficient, muscle group).
_AU_PARAMS: dict[str, tuple[float, float, float, float, int]] = {
    "AU01": (0.10, 0.25, 0.45, 0.93, 0),
    "AU02": (0.00, 0.20, 0.40, 0.93, 0),
    "AU04": (0.20, 0.40, 0.50, 0.96, 1),
    "AU05": (-0.05, 0.15, 0.35, 0.90, 0),
    "AU06": (0.15, 0.25, 0.40, 0.96, 2),
    "AU07": (0.30, 0.40, 0.55, 0.95, 1),
    "AU09": (-0.10, 0.12, 0.25, 0.90, 1),
    "AU10": (0.15, 0.30, 0.45, 0.94, 2),
    "AU12": (0.20, 0.30, 0.50, 0.95, 2),
    "AU14": (0.25, 0.30, 0.45, 0.95, 2),
    "AU15": (0.00, 0.15, 0.35, 0.92, 3),
    "AU17": (0.20, 0.25, 0.50, 0.90, 3),
    "AU20": (-0.05, 0.15, 0.35, 0.90, 3),
    "AU23": (0.00, 0.15, 0.35, 0.90, 3),
    "AU25": (0.35, 0.35, 0.70, 0.85, 3),
    "AU26": (0.25, 0.30, 0.60, 0.85, 3),
    "AU45": (0.00, 0.10, 0.12, 0.70, 4),
}
_GROUP_CORRELATION = 0.35
_SESSION_SD_FRACTION = 0.3

# Planted group effect at effect_size=1 and severity multiplier 1: latent baseline shifts.
EFFECT_SHIFTS: dict[str, float] = {"AU01": 0.60, "AU04": 0.90, "AU15": 0.40, "AU06": -0.50, "AU12": -0.60}
# ... and event changes: smile rate * exp(-a * s), smile amplitude * (1 - b * s), sad-event rate * (1 + c * s).
EVENT_EFFECTS: dict[str, float] = {"smile_log_rate": 1.2, "smile_amp": 0.5, "sad_rate": 1.6}

# Expression events: per-minute rate, duration range (s), AU -> amplitude weight, amplitude mean.
_EVENTS: dict[str, dict] = {
    "smile": {"rate": 8.0, "dur": (1.0, 4.0), "aus": {"AU12": 1.0, "AU06": 0.75, "AU25": 0.35, "AU14": 0.2}, "amp": 1.8},
    "frown": {"rate": 4.0, "dur": (0.8, 3.0), "aus": {"AU04": 1.0, "AU07": 0.5, "AU09": 0.15}, "amp": 1.0},
    "sad": {"rate": 3.0, "dur": (1.0, 4.0), "aus": {"AU15": 1.0, "AU01": 0.8, "AU04": 0.5, "AU17": 0.4}, "amp": 1.0},
    "blink": {"rate": 17.0, "dur": (0.15, 0.35), "aus": {"AU45": 1.0}, "amp": 2.0},
}
_AU_INDEX: dict[str, int] = {au: i for i, au in enumerate(INTENSITY_AUS)}


@dataclass
class SubjectProfile:
    """Per-subject traits: label, score, latent AU baseline and event/expressivity modifiers."""

    subject_id: str
    label: int
    score: int
    baseline: np.ndarray  # (17,) latent baseline incl. group shift
    expressivity: float
    event_rate: dict[str, float]
    event_amp: dict[str, float]
    presence_bias: np.ndarray  # (18,) per-subject classifier threshold offsets


def phq8_scores(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PHQ-8-like scores consistent with ``labels``: 0-9 for healthy, 10-24 for depressed (skewed low).

    Example:
        >>> phq8_scores(np.array([0, 1]), np.random.default_rng(0))  # doctest: +SKIP
        array([ 3, 14])
    """
    healthy = rng.binomial(9, 0.35, size=len(labels))
    depressed = 10 + rng.binomial(14, 0.35, size=len(labels))
    return np.where(labels == 1, depressed, healthy).astype(int)


def severity_multiplier(label: int, score: int) -> float:
    """How strongly the planted effect shows: 0-0.2 for healthy, 0.6-1.4 for depressed (by score)."""
    if label == 1:
        return 0.6 + 0.8 * (score - 10) / 14
    return 0.2 * score / 9


def make_subject_profile(
    subject_id: str, label: int, score: int, effect_size: float, rng: np.random.Generator
) -> SubjectProfile:
    """Draw one subject's traits; the group effect is ``effect_size * severity_multiplier``."""
    base, sd, _, _, group = (np.array(v) for v in zip(*_AU_PARAMS.values()))
    shared = rng.standard_normal(int(group.max()) + 1)[group.astype(int)]
    z = np.sqrt(1 - _GROUP_CORRELATION) * rng.standard_normal(len(base)) + np.sqrt(_GROUP_CORRELATION) * shared
    strength = effect_size * severity_multiplier(label, score)
    shift = np.array([EFFECT_SHIFTS.get(au, 0.0) for au in INTENSITY_AUS]) * strength
    rate = {k: ev["rate"] * float(rng.lognormal(0.0, 0.5 if k != "blink" else 0.3)) for k, ev in _EVENTS.items()}
    amp = {k: 1.0 for k in _EVENTS}
    rate["smile"] *= float(np.exp(-EVENT_EFFECTS["smile_log_rate"] * strength))
    amp["smile"] *= float(max(0.3, 1.0 - EVENT_EFFECTS["smile_amp"] * strength))
    rate["sad"] *= 1.0 + EVENT_EFFECTS["sad_rate"] * strength
    return SubjectProfile(
        subject_id=subject_id,
        label=int(label),
        score=int(score),
        baseline=base + sd * z + shift,
        expressivity=float(rng.lognormal(0.0, 0.3)),
        event_rate=rate,
        event_amp=amp,
        presence_bias=rng.normal(0.0, 0.15, size=len(PRESENCE_COLUMNS)),
    )


def ar1_noise(rng: np.random.Generator, n: int, phi: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``(n, k)`` stationary AR(1) noise with per-column coefficient ``phi`` and marginal SD ``sd``."""
    phi = np.atleast_1d(phi).astype(float)
    sd = np.broadcast_to(np.asarray(sd, dtype=float), phi.shape)
    eps = rng.standard_normal((n, len(phi)))
    out = np.empty_like(eps)
    for j, (p, s) in enumerate(zip(phi, sd)):
        drive = eps[:, j] * np.sqrt(1 - p * p)
        drive[0] = eps[0, j]  # start in the stationary distribution
        out[:, j] = lfilter([1.0], [1.0, -p], drive) * s
    return out


def event_track(
    rng: np.random.Generator, n: int, fps: float, rate_per_min: float, dur: tuple[float, float], amp_mean: float
) -> np.ndarray:
    """``(n,)`` sum of smooth bumps (Hann windows) at Poisson onsets with gamma amplitudes."""
    track = np.zeros(n)
    k = rng.poisson(rate_per_min * n / fps / 60.0)
    onsets = rng.integers(0, n, size=k)
    lengths = np.maximum(3, np.round(rng.uniform(*dur, size=k) * fps)).astype(int)
    amps = rng.gamma(3.0, amp_mean / 3.0, size=k)
    for t0, length, a in zip(onsets, lengths, amps):
        window = np.hanning(length + 2)[1:-1] * a
        stop = min(n, t0 + length)
        track[t0:stop] += window[: stop - t0]
    return track


def failure_mask(rng: np.random.Generator, n: int, rate: float, mean_burst: float = 8.0) -> np.ndarray:
    """``(n,)`` bool mask of tracking failures in short bursts, covering about ``rate`` of frames."""
    mask = np.zeros(n, dtype=bool)
    if rate <= 0 or n == 0:
        return mask
    k = rng.poisson(rate * n / mean_burst)
    starts = rng.integers(0, n, size=k)
    lengths = np.clip(rng.geometric(1.0 / mean_burst, size=k), 2, 4 * int(mean_burst))
    for s, length in zip(starts, lengths):
        mask[s : s + length] = True
    return mask


def simulate_intensities(
    profile: SubjectProfile, n: int, fps: float, rng: np.random.Generator, session_offset: np.ndarray
) -> np.ndarray:
    """``(n, 17)`` AU intensities in [0, 5] for one session (before tracking failures)."""
    _, _, frame_sd, phi, _ = (np.array(v) for v in zip(*_AU_PARAMS.values()))
    noise_sd = frame_sd * profile.expressivity
    latent = profile.baseline + session_offset + ar1_noise(rng, n, phi, noise_sd)
    for name, ev in _EVENTS.items():
        amp = ev["amp"] * profile.event_amp[name] * (profile.expressivity if name != "blink" else 1.0)
        track = event_track(rng, n, fps, profile.event_rate[name], ev["dur"], amp)
        for au, weight in ev["aus"].items():
            jitter = 1.0 + 0.15 * ar1_noise(rng, n, np.array([0.95]), np.array([1.0]))[:, 0]
            latent[:, _AU_INDEX[au]] += weight * track * jitter
    return np.clip(latent, 0.0, 5.0)


def simulate_presences(
    intensity: np.ndarray, profile: SubjectProfile, fps: float, rng: np.random.Generator
) -> np.ndarray:
    """``(n, 18)`` 0/1 presences: intensity plus smooth classifier noise above ~1; AU28 from its own events."""
    n = intensity.shape[0]
    cols = [c[:-2] for c in PRESENCE_COLUMNS]
    noise = ar1_noise(rng, n, np.full(len(cols), 0.8), np.full(len(cols), 0.25))
    out = np.zeros((n, len(cols)))
    for j, au in enumerate(cols):
        if au in _AU_INDEX:
            out[:, j] = intensity[:, _AU_INDEX[au]] + noise[:, j] > 1.0 + profile.presence_bias[j]
    j28 = cols.index("AU28")
    lip_suck = event_track(rng, n, fps, 1.0, (0.5, 2.0), 1.0) > 0.3
    out[:, j28] = lip_suck | (rng.random(n) < 0.005)
    return out


def simulate_head(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth ``(n, 8)`` gaze and ``(n, 6)`` pose tracks around a random head position for one session."""
    angles = rng.normal([0.0, 0.15], [0.08, 0.08]) + ar1_noise(rng, n, np.array([0.97, 0.97]), np.array([0.06, 0.05]))
    gaze = np.zeros((n, 8))
    for eye, offset in enumerate((0.05, -0.05)):
        vec = np.column_stack([np.tan(angles[:, 0] + offset), np.tan(angles[:, 1]), -np.ones(n)])
        gaze[:, 3 * eye : 3 * eye + 3] = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    gaze[:, 6:] = angles
    pose_center = rng.normal([0.0, 0.0, 500.0, 0.1, 0.0, 0.0], [30.0, 20.0, 80.0, 0.1, 0.1, 0.05])
    pose_noise = ar1_noise(rng, n, np.full(6, 0.98), np.array([5.0, 4.0, 10.0, 0.04, 0.05, 0.02]))
    return gaze, pose_center + pose_noise


def _dilate(mask: np.ndarray, before: int, after: int) -> np.ndarray:
    """``mask`` grown by ``before`` frames to the left and ``after`` to the right (no wrap-around)."""
    out = mask.copy()
    for k in range(1, before + 1):
        out[:-k] |= mask[k:]
    for k in range(1, after + 1):
        out[k:] |= mask[:-k]
    return out


def simulate_session(
    profile: SubjectProfile, n: int, fps: float, failed_frame_rate: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """All columns of one session: ``au`` (n, 35), ``success``, ``confidence``, ``gaze``, ``pose``."""
    session_offset = rng.normal(0.0, 1.0, size=len(INTENSITY_AUS)) * _SESSION_SD_FRACTION * np.array(
        [p[1] for p in _AU_PARAMS.values()]
    )
    intensity = simulate_intensities(profile, n, fps, rng, session_offset)
    presence = simulate_presences(intensity, profile, fps, rng)
    au = np.hstack([intensity, presence])
    gaze, pose = simulate_head(rng, n)

    confidence = 0.98 - np.abs(ar1_noise(rng, n, np.array([0.9]), np.array([0.03]))[:, 0])
    failed = failure_mask(rng, n, failed_frame_rate)
    # Frames next to a failure are tracked, but with shaky confidence.
    shaky = _dilate(failed, before=1, after=2) & ~failed
    confidence = np.where(shaky, rng.uniform(0.45, 0.88, n), np.clip(confidence, 0.88, 0.98))
    k = int(failed.sum())
    if k:
        confidence[failed] = rng.uniform(0.0, 0.4, k)
        au[failed, : len(INTENSITY_AUS)] = rng.uniform(0.05, 3.0, (k, len(INTENSITY_AUS)))
        au[failed, len(INTENSITY_AUS) :] = rng.random((k, len(PRESENCE_COLUMNS))) < 0.4
        pose[failed] += rng.normal(0.0, 1.0, (k, 6)) * np.array([40.0, 40.0, 100.0, 0.5, 0.5, 0.5])
        gaze[failed] = np.array([0.0, 0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    return {"au": au, "success": (~failed).astype(float), "confidence": confidence, "gaze": gaze, "pose": pose}


# --------------------------------------------------------------------------------------------
# Demo data set
# --------------------------------------------------------------------------------------------


def assign_labels(num_subjects: int, depressed_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round(num_subjects * depressed_fraction)`` ones, in random order."""
    n_dep = int(round(num_subjects * depressed_fraction))
    labels = np.array([1] * n_dep + [0] * (num_subjects - n_dep))
    return rng.permutation(labels)


@dataclass
class DemoSession:
    """One synthetic recording to simulate: who, which label/score, how long, and its random stream."""

    subject_id: str
    label: int
    score: int
    session: int
    rng: np.random.Generator
    first_of_subject: bool


def demo_sessions(
    num_subjects: int, sessions_per_subject: int, frames: tuple[int, int], depressed_fraction: float, seed: int
) -> Iterator[DemoSession]:
    """The subjects and sessions every synthetic demo writes (validated; deterministic for a seed).

    Example:
        >>> [(s.subject_id, s.session) for s in demo_sessions(2, 2, (5, 9), 0.5, seed=0)]
        [('sub001', 1), ('sub001', 2), ('sub002', 1), ('sub002', 2)]
    """
    if num_subjects < 1 or sessions_per_subject < 1:
        raise ValueError("num_subjects and sessions_per_subject must be >= 1")
    if not 0.0 <= depressed_fraction <= 1.0:
        raise ValueError(f"depressed_fraction must be in [0, 1], got {depressed_fraction}")
    if not 1 <= frames[0] <= frames[1]:
        raise ValueError(f"frames must be (min, max) with 1 <= min <= max, got {frames}")
    rng = np.random.default_rng(seed)
    labels = assign_labels(num_subjects, depressed_fraction, rng)
    scores = phq8_scores(labels, rng)
    for i, (label, score) in enumerate(zip(labels, scores)):
        srng = np.random.default_rng([seed, i])
        for k in range(1, sessions_per_subject + 1):
            yield DemoSession(f"sub{i + 1:03d}", int(label), int(score), k, srng, k == 1)


def write_demo_tables(rows: list[dict], out_dir: Path) -> pd.DataFrame:
    """``manifest.csv`` (one row per file) and ``labels.csv`` (one per subject) of a demo; returns all rows."""
    table = pd.DataFrame(rows)
    write_manifest(table[["subject_id", "path", "label", "score", "session"]], out_dir / "manifest.csv")
    table.drop_duplicates("subject_id")[["subject_id", "label", "score"]].to_csv(out_dir / "labels.csv", index=False)
    return table


def generate_openface_demo(
    out_dir: str | Path,
    num_subjects: int = 60,
    sessions_per_subject: int = 1,
    frames: tuple[int, int] = (300, 600),
    fps: float = 30.0,
    depressed_fraction: float = 0.5,
    effect_size: float = 1.0,
    failed_frame_rate: float = 0.03,
    seed: int = 0,
) -> pd.DataFrame:
    """Like :func:`make_openface_demo`, but return the per-file table (manifest columns plus
    ``frames`` and ``failed_frames``).

    Example:
        >>> generate_openface_demo("/tmp/demo", num_subjects=4)["frames"].sum()  # doctest: +SKIP
        1804
    """
    out_dir = Path(out_dir)
    rows = []
    for demo in demo_sessions(num_subjects, sessions_per_subject, frames, depressed_fraction, seed):
        subject_id, label, score, k, srng = demo.subject_id, demo.label, demo.score, demo.session, demo.rng
        if demo.first_of_subject:
            profile = make_subject_profile(subject_id, label, score, effect_size, srng)
        n = int(srng.integers(frames[0], frames[1] + 1))
        data = simulate_session(profile, n, fps, failed_frame_rate, srng)
        rel = Path("openface") / f"{subject_id}_session{k}.csv"
        make_openface_csv(
            out_dir / rel, data["au"], success=data["success"], confidence=data["confidence"],
            fps=fps, gaze=data["gaze"], pose=data["pose"],
        )
        rows.append({"subject_id": subject_id, "path": rel.as_posix(), "label": label, "score": score,
                     "session": k, "frames": n, "failed_frames": int((data["success"] == 0).sum())})
    return write_demo_tables(rows, out_dir)


def make_openface_demo(
    out_dir: str | Path,
    num_subjects: int = 60,
    sessions_per_subject: int = 1,
    frames: tuple[int, int] = (300, 600),
    fps: float = 30.0,
    depressed_fraction: float = 0.5,
    effect_size: float = 1.0,
    failed_frame_rate: float = 0.03,
    seed: int = 0,
) -> Path:
    """Write ``out_dir/openface/{subject}_session{k}.csv``, ``manifest.csv`` and ``labels.csv``.

    Returns the manifest path. Manifest columns: ``subject_id, path`` (relative to ``out_dir``),
    ``label`` (1 = depressed), ``score`` (PHQ-8-like, >= 10 iff depressed), ``session`` (1-based).
    Labels: exactly ``round(num_subjects * depressed_fraction)`` depressed. Same seed, same bytes.

    Example:
        >>> m = make_openface_demo("/tmp/demo", num_subjects=8, seed=1)  # doctest: +SKIP
        >>> pd.read_csv(m).label.sum()  # doctest: +SKIP
        4
    """
    generate_openface_demo(
        out_dir, num_subjects, sessions_per_subject, frames, fps, depressed_fraction, effect_size,
        failed_frame_rate, seed,
    )
    return Path(out_dir) / "manifest.csv"


def summarize_demo(table: pd.DataFrame, out_dir: str | Path) -> str:
    """A short human-readable summary of the table returned by :func:`generate_openface_demo`."""
    out_dir = Path(out_dir)
    per_label = table.drop_duplicates("subject_id")["label"].value_counts().sort_index()
    total = int(table["frames"].sum())
    failed = int(table["failed_frames"].sum())
    return "\n".join([
        f"wrote {len(table)} OpenFace CSV(s) under {out_dir / 'openface'}",
        f"manifest: {out_dir / 'manifest.csv'}; labels: {out_dir / 'labels.csv'}",
        "subjects per label: "
        + ", ".join(f"{'depressed' if k == 1 else 'healthy'} ({k}): {v}" for k, v in per_label.items()),
        f"frames: {total} total, {int(table['frames'].min())}-{int(table['frames'].max())} per file",
        f"failed frames (success=0): {failed} ({failed / max(1, total):.1%})",
    ])


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python scripts/make_demo_data.py --out demo_data [--subjects 60] ...``."""
    parser = argparse.ArgumentParser(description="Write synthetic OpenFace 2.x demo data with a planted depression signal.")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--modality", choices=("aus", "landmarks", "faces", "au-faces", "au-videos"), default="aus",
                        help="aus: AU intensities/presences; landmarks: 68 3D landmarks (X_*, Y_*, Z_*); "
                        "faces: drawn faces in the Kaggle AffectNet layout (--subjects = images per class); "
                        "au-faces: drawn faces with AUs on/off in the Hugging-Rain-Man layout (labels/, images/); "
                        "au-videos: drawn-face mp4s from simulated OpenFace AU tables (videos/, openface/; "
                        "--max-frames frames at --fps per video)")
    parser.add_argument("--subjects", type=int, default=60)
    parser.add_argument("--sessions", type=int, default=1, help="sessions (videos) per subject")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--effect-size", type=float, default=1.0, help="0 = no group difference")
    parser.add_argument("--depressed-fraction", type=float, default=0.5)
    parser.add_argument("--failed-frame-rate", type=float, default=0.03)
    parser.add_argument("--min-frames", type=int, default=300)
    parser.add_argument("--max-frames", type=int, default=600)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--frames-per-subject", type=int, default=40, help="au-faces: labelled frames per subject")
    args = parser.parse_args(argv)
    if args.min_frames > args.max_frames and args.modality != "au-videos":  # au-videos: --max-frames only
        parser.error("--min-frames must be <= --max-frames")
    start = time.perf_counter()
    if args.modality == "faces":
        from datamodules.synthetic.faces import make_face_demo

        manifest = make_face_demo(args.out, images_per_class=args.subjects, size=96, classes=("happy", "sad", "neutral"), seed=args.seed)
        print(f"wrote {manifest} ({args.subjects} images per class) in {time.perf_counter() - start:.2f} s")
        return 0
    if args.modality == "au-faces":
        from datamodules.synthetic.au_faces import make_au_face_demo

        out = make_au_face_demo(args.out, subjects=args.subjects, frames_per_subject=args.frames_per_subject, seed=args.seed)
        print(f"wrote {out / 'labels'} and {out / 'images'} ({args.subjects} subjects) in {time.perf_counter() - start:.2f} s")
        return 0
    if args.modality == "au-videos":
        from datamodules.synthetic.au_video import make_au_video_demo

        manifest = make_au_video_demo(args.out, subjects=args.subjects, seconds=args.max_frames / args.fps, fps=args.fps,
                                      effect_size=args.effect_size, depressed_fraction=args.depressed_fraction, seed=args.seed)
        print(f"wrote {manifest} and {manifest.parent / 'manifest_openface.csv'} ({args.subjects} videos) "
              f"in {time.perf_counter() - start:.2f} s")
        return 0
    if args.modality == "landmarks":
        from datamodules.synthetic.landmarks import make_landmark_demo

        manifest = make_landmark_demo(args.out, num_subjects=args.subjects, sessions_per_subject=args.sessions,
                                      frames=(args.min_frames, args.max_frames), effect_size=args.effect_size, seed=args.seed)
        print(f"wrote {manifest} ({args.subjects} subjects) in {time.perf_counter() - start:.2f} s")
        return 0
    table = generate_openface_demo(
        args.out, num_subjects=args.subjects, sessions_per_subject=args.sessions,
        frames=(args.min_frames, args.max_frames), fps=args.fps, depressed_fraction=args.depressed_fraction,
        effect_size=args.effect_size, failed_frame_rate=args.failed_frame_rate, seed=args.seed,
    )
    print(summarize_demo(table, args.out))
    print(f"done in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
