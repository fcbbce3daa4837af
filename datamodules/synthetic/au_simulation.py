"""Simulated OpenFace AU sessions with a planted, literature-consistent depression signal.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datamodules.io.au_table import INTENSITY_AUS, PRESENCE_COLUMNS
from datamodules.synthetic.noise import ar1_noise, dilate, event_track, failure_mask
from datamodules.synthetic.subjects import severity_multiplier

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


def make_subject_profile(
    subject_id: str, label: int, score: int, effect_size: float, rng: np.random.Generator, severity: str = "banded"
) -> SubjectProfile:
    """Draw one subject's traits; the group effect is ``effect_size * severity_multiplier(label, score, severity)``."""
    base, sd, _, _, group = (np.array(v) for v in zip(*_AU_PARAMS.values()))
    shared = rng.standard_normal(int(group.max()) + 1)[group.astype(int)]
    z = np.sqrt(1 - _GROUP_CORRELATION) * rng.standard_normal(len(base)) + np.sqrt(_GROUP_CORRELATION) * shared
    strength = effect_size * severity_multiplier(label, score, severity)
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
    shaky = dilate(failed, before=1, after=2) & ~failed
    confidence = np.where(shaky, rng.uniform(0.45, 0.88, n), np.clip(confidence, 0.88, 0.98))
    k = int(failed.sum())
    if k:
        confidence[failed] = rng.uniform(0.0, 0.4, k)
        au[failed, : len(INTENSITY_AUS)] = rng.uniform(0.05, 3.0, (k, len(INTENSITY_AUS)))
        au[failed, len(INTENSITY_AUS) :] = rng.random((k, len(PRESENCE_COLUMNS))) < 0.4
        pose[failed] += rng.normal(0.0, 1.0, (k, 6)) * np.array([40.0, 40.0, 100.0, 0.5, 0.5, 0.5])
        gaze[failed] = np.array([0.0, 0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    return {"au": au, "success": (~failed).astype(float), "confidence": confidence, "gaze": gaze, "pose": pose}
