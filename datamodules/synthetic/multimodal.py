"""Synthetic multimodal demo (AUs + 3D landmarks + aligned face crops) whose depression signal is split across views.

Per video, all in the real formats and sharing frame numbers ``1..T`` and timestamps ``(frame - 1) / fps``
(3 decimals, as OpenFace prints them)::

    openface/sub001_session1.csv                          OpenFace 2.x AU CSV (frame, face_id, timestamp, confidence,
                                                          success, gaze, pose, AUxx_r, AUxx_c)
    openface/sub001_session1_aligned/frame_det_00_000001.png ...   aligned RGB crops (face_size px), OpenFace's layout
    landmarks/sub001_session1.npz                         68 3D points (camera mm), save_landmarks' form
    manifest.csv    subject_id, path, label, score, session, au_path, landmarks_path, faces_path
    subjects.csv    subject_id, label, score, group

``path`` and ``au_path`` both name the AU CSV; paths are relative to the manifest's folder; a blank
``landmarks_path`` / ``faces_path`` cell means the video lacks that view (its file is not written).

**Where the signal is.** ``depressed_fraction`` (default half) of the subjects are depressed (label 1, PHQ-8-like
score >= 10); they are assigned, in subject order, round-robin to two groups whose signals live in different views,
scaled by ``effect_size * severity_multiplier(label, score)`` (0.6-1.4 for depressed); controls (group
``control``) and the other group draw those views from the control distribution (effect 0):

* ``aus`` -- AU view only: :mod:`~datamodules.synthetic.au_simulation`'s planted effects (``EFFECT_SHIFTS``:
  higher AU01 / AU04 / AU15 and lower AU06 / AU12 baselines; ``EVENT_EFFECTS``: fewer, weaker smiles --
  AU12 / AU06 / AU25 / AU14 -- and more sad events -- AU15 / AU01 / AU04 / AU17).
* ``face`` -- the face itself, not its AU dynamics: in the landmarks, regions ``brows`` (17-26) and ``mouth``
  (48-67) of the 68-point set (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67): a tonic "grief brow"
  (inner brows 19-21 / 22-24 raised and drawn together, :data:`~datamodules.synthetic.landmarks.DEFORMATIONS`
  ``brow``) and depressed mouth corners (48 / 54 down, with 49 / 53, 59 / 55, 60 / 64; ``frown``), levels raised by
  :data:`GEOMETRY_EFFECTS` (smile rate, head motion, jaw, nose and eyes do not differ between groups); in the face
  crops, darker, violet-tinted skin under the eyes ("dark circles", :mod:`~datamodules.synthetic.multimodal_faces`;
  darkness + :data:`APPEARANCE_EFFECT` x strength, measured by
  :func:`~datamodules.synthetic.multimodal_faces.under_eye_contrast`), which the landmarks do not carry.

So the AU view can find only half of the depressed subjects and the landmark or face view only the other half;
fusion can find all. The three views use independent random streams (their expressions, head motion and noise
are unrelated to each other).

**Missing data.** Exactly ``round(missing_faces * videos)`` videos (default 8%) lack their crop folder and
``round(missing_landmarks * videos)`` (5%) their landmark file, chosen at random (independently). Within a
video each view fails on its own frames (independently of the other views, so that per-view masking is
exercised), in short bursts at about ``failed_frame_rate`` and at least one burst per view and video
(:func:`failed_frames`): AU rows with ``success = 0`` (garbage AU values, low confidence), landmark frames with
``valid = False`` (failed, or low-confidence next to a failure), crop files not written.

Example:
    >>> from datamodules.synthetic.multimodal import make_multimodal_demo
    >>> manifest = make_multimodal_demo("/tmp/fusion-demo")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.io.au_table import INTENSITY_COLUMNS
from datamodules.io.landmarks import LandmarkSequence, frame_validity, save_landmarks
from datamodules.manifest import write_manifest
from datamodules.synthetic.au_simulation import make_subject_profile, simulate_session
from datamodules.synthetic.landmarks import EFFECTS as LANDMARK_EFFECTS
from datamodules.synthetic.landmarks import make_subject, simulate_landmarks
from datamodules.synthetic.multimodal_faces import CROP_NAME, draw_crops, make_crop_subject, write_crops
from datamodules.synthetic.noise import dilate, failure_mask
from datamodules.synthetic.openface_csv import make_openface_csv
from datamodules.synthetic.subjects import demo_sessions, severity_multiplier

GROUPS: tuple[str, ...] = ("aus", "face")
"""Depressed subjects' groups, assigned round-robin in subject order; controls are ``control``."""
CONTROL = "control"
VIEW_OF_GROUP: dict[str, tuple[str, ...]] = {"aus": ("aus",), "face": ("landmarks", "faces")}
"""The views (manifest/contract names) that carry each group's signal."""
GEOMETRY_EFFECTS: dict[str, float] = {"brow": LANDMARK_EFFECTS["brow"], "frown": LANDMARK_EFFECTS["frown"]}
"""Landmark level shifts (brow, mouth-corner depression) at strength 1."""
APPEARANCE_EFFECT = 0.2
"""Added under-eye darkness (fraction of skin brightness) at strength 1."""
MIN_LANDMARK_CONFIDENCE = 0.8
_VIEW_CODES = {"aus": 1, "landmarks": 2, "faces": 3}
MANIFEST_COLUMNS: tuple[str, ...] = (
    "subject_id", "path", "label", "score", "session", "au_path", "landmarks_path", "faces_path",
)


def planted_strength(group: str, view: str, label: int, score: int, effect_size: float) -> float:
    """The planted effect strength of ``view`` for a subject of ``group`` (0 unless one of the group's views).

    Example:
        >>> round(planted_strength("aus", "aus", 1, 10, 1.5), 3), planted_strength("aus", "faces", 1, 24, 1.5)
        (0.9, 0.0)
    """
    if view not in VIEW_OF_GROUP.get(group, ()):
        return 0.0
    return effect_size * severity_multiplier(label, score)


def assign_groups(labels: list[int]) -> list[str]:
    """``control`` for label 0; depressed subjects get :data:`GROUPS` round-robin in the given order.

    Example:
        >>> assign_groups([1, 0, 1, 1, 1])
        ['aus', 'control', 'face', 'aus', 'face']
    """
    out, k = [], 0
    for label in labels:
        out.append(GROUPS[k % len(GROUPS)] if label == 1 else CONTROL)
        k += int(label == 1)
    return out


def _rng(seed: int, subject: int, session: int, view: str) -> np.random.Generator:
    """The random stream of one view of one subject (session 0: subject traits) -- independent across views."""
    return np.random.default_rng([seed, subject, session, _VIEW_CODES[view]])


def _missing(rng: np.random.Generator, n: int, rate: float, name: str) -> np.ndarray:
    """``(n,)`` bool: exactly ``round(rate * n)`` videos, chosen at random, lack the view."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {rate}")
    out = np.zeros(n, dtype=bool)
    out[rng.choice(n, size=int(round(rate * n)), replace=False)] = True
    return out


def failed_frames(rng: np.random.Generator, n: int, rate: float, mean_burst: float = 4.0) -> np.ndarray:
    """``(n,)`` bool tracking failures in short bursts covering about ``rate`` of the frames, at least one
    burst (2-4 frames) per video when ``rate > 0`` and ``n >= 20``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> int(failed_frames(rng, 200, 0.0).sum()), bool(failed_frames(rng, 200, 0.01).any())
        (0, True)
    """
    mask = failure_mask(rng, n, rate, mean_burst)
    if rate > 0 and n >= 20 and not mask.any():
        start = int(rng.integers(0, n - 4))
        mask[start : start + int(rng.integers(2, 5))] = True
    return mask


def _au_failures(data: dict[str, np.ndarray], failed: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """OpenFace's failed rows (``success = 0``, low confidence, garbage AUs and pose) and shaky neighbours,
    as :func:`~datamodules.synthetic.au_simulation.simulate_session` makes them."""
    shaky = dilate(failed, before=1, after=2) & ~failed
    au, confidence, pose, gaze = data["au"], data["confidence"], data["pose"], data["gaze"]
    confidence[shaky] = rng.uniform(0.45, 0.88, int(shaky.sum()))
    k, r = int(failed.sum()), len(INTENSITY_COLUMNS)
    confidence[failed] = rng.uniform(0.0, 0.4, k)
    au[failed, :r] = rng.uniform(0.05, 3.0, (k, r))
    au[failed, r:] = rng.random((k, au.shape[1] - r)) < 0.4
    pose[failed] += rng.normal(0.0, 1.0, (k, 6)) * np.array([40.0, 40.0, 100.0, 0.5, 0.5, 0.5])
    gaze[failed] = np.array([0.0, 0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    data["success"] = (~failed).astype(float)
    return data


def _landmark_failures(data: dict[str, np.ndarray], failed: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Failed frames (points 0, ``success`` False, low confidence) and shaky low-confidence neighbours,
    as :func:`~datamodules.synthetic.landmarks.simulate_landmarks` makes them."""
    shaky = dilate(failed, before=1, after=2) & ~failed
    data["confidence"][shaky] = rng.uniform(0.45, 0.88, int(shaky.sum()))
    data["points"][shaky] += rng.normal(0.0, 3.0, size=(int(shaky.sum()), *data["points"].shape[1:]))
    data["confidence"][failed] = rng.uniform(0.0, 0.4, int(failed.sum()))
    data["points"][failed] = 0.0
    data["success"] = ~failed
    return data


def generate_multimodal_demo(
    out_dir: str | Path,
    num_subjects: int = 96,
    sessions_per_subject: int = 1,
    frames: tuple[int, int] = (96, 128),
    fps: float = 30.0,
    depressed_fraction: float = 0.5,
    effect_size: float = 3.0,
    failed_frame_rate: float = 0.03,
    missing_faces: float = 0.08,
    missing_landmarks: float = 0.05,
    face_size: int = 32,
    seed: int = 0,
) -> pd.DataFrame:
    """Like :func:`make_multimodal_demo`, but return the per-video table: the manifest columns plus ``group``,
    ``frames``, ``au_failed_frames``, ``landmark_invalid_frames``, ``crops_missing`` (-1 where a view is absent).

    Example:
        >>> table = generate_multimodal_demo("/tmp/fusion", num_subjects=6, frames=(20, 30))  # doctest: +SKIP
        >>> table.group.tolist()  # doctest: +SKIP
        ['aus', 'control', 'face', 'control', 'aus', 'control']
    """
    if face_size < 8:
        raise ValueError(f"face_size must be >= 8 px, got {face_size}")
    out_dir = Path(out_dir)
    sessions = list(demo_sessions(num_subjects, sessions_per_subject, frames, depressed_fraction, seed))
    groups = dict(zip([s.subject_id for s in sessions if s.first_of_subject],
                      assign_groups([s.label for s in sessions if s.first_of_subject])))
    missing_rng = np.random.default_rng([seed, 0, 0, 0])
    no_faces = _missing(missing_rng, len(sessions), missing_faces, "missing_faces")
    no_landmarks = _missing(missing_rng, len(sessions), missing_landmarks, "missing_landmarks")
    rows, subject = [], -1
    for v, demo in enumerate(sessions):
        sid, label, score, k, group = demo.subject_id, demo.label, demo.score, demo.session, groups[demo.subject_id]
        if demo.first_of_subject:
            subject += 1
            strength = {view: planted_strength(group, view, label, score, effect_size) for view in _VIEW_CODES}
            profile = make_subject_profile(sid, label, score, strength["aus"], _rng(seed, subject, 0, "aus"))
            shape = make_subject(sid, label, score, 0.0, _rng(seed, subject, 0, "landmarks"))
            shape.brow_level += GEOMETRY_EFFECTS["brow"] * strength["landmarks"]
            shape.frown_level += GEOMETRY_EFFECTS["frown"] * strength["landmarks"]
            look = make_crop_subject(_rng(seed, subject, 0, "faces"), APPEARANCE_EFFECT * strength["faces"])
        n = int(demo.rng.integers(frames[0], frames[1] + 1))
        frame = np.arange(1, n + 1)
        timestamp = np.round((frame - 1) / fps, 3)
        name = f"{sid}_session{k}"
        row = {"subject_id": sid, "path": f"openface/{name}.csv", "label": label, "score": score, "session": k,
               "au_path": f"openface/{name}.csv", "landmarks_path": "", "faces_path": "", "group": group,
               "frames": n, "au_failed_frames": 0, "landmark_invalid_frames": -1, "crops_missing": -1}

        rng = _rng(seed, subject, k, "aus")
        au = _au_failures(simulate_session(profile, n, fps, 0.0, rng), failed_frames(rng, n, failed_frame_rate), rng)
        make_openface_csv(out_dir / row["au_path"], au["au"], success=au["success"], confidence=au["confidence"],
                          fps=fps, timestamp=timestamp, gaze=au["gaze"], pose=au["pose"])
        row["au_failed_frames"] = int((au["success"] == 0).sum())

        if not no_landmarks[v]:
            rng = _rng(seed, subject, k, "landmarks")
            lm = simulate_landmarks(shape, n, fps, 0.0, rng)
            lm = _landmark_failures(lm, failed_frames(rng, n, failed_frame_rate), rng)
            valid, notes = frame_validity(lm["points"], lm["success"], lm["confidence"], MIN_LANDMARK_CONFIDENCE)
            row["landmarks_path"] = f"landmarks/{name}.npz"
            seq = LandmarkSequence(row["landmarks_path"], lm["points"].astype(np.float32), valid, frame, timestamp,
                                   fps, {"rows_read": n, **notes})
            save_landmarks(seq, out_dir / row["landmarks_path"])
            row["landmark_invalid_frames"] = int((~valid).sum())

        if not no_faces[v]:
            rng = _rng(seed, subject, k, "faces")
            crops = draw_crops(look, n, fps, rng, face_size)
            failed = failed_frames(rng, n, failed_frame_rate)
            row["faces_path"] = f"openface/{name}_aligned"
            write_crops(out_dir / row["faces_path"], crops[~failed], frame[~failed])
            row["crops_missing"] = int(failed.sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    write_manifest(table[list(MANIFEST_COLUMNS)], out_dir / "manifest.csv")
    subjects = table.drop_duplicates("subject_id")[["subject_id", "label", "score", "group"]]
    subjects.to_csv(out_dir / "subjects.csv", index=False)
    return table


def make_multimodal_demo(out_dir: str | Path, **settings: Any) -> Path:
    """Write the multimodal demo (layout and planted signal: module docstring) under ``out_dir``; return the manifest.
    ``settings``: the keyword arguments of :func:`generate_multimodal_demo` (its defaults are the demo's).

    Same seed, same data (CSV and PNG bytes; the ``.npz`` arrays -- the zip stores write times).

    Example:
        >>> m = make_multimodal_demo("/tmp/fusion", num_subjects=6, frames=(20, 30), seed=1)  # doctest: +SKIP
        >>> pd.read_csv(m).columns.tolist()[-3:]  # doctest: +SKIP
        ['au_path', 'landmarks_path', 'faces_path']
    """
    generate_multimodal_demo(out_dir, **settings)
    return Path(out_dir) / "manifest.csv"


def summarize_multimodal_demo(table: pd.DataFrame, out_dir: str | Path) -> str:
    """A short human-readable summary of :func:`generate_multimodal_demo`'s table."""
    out_dir = Path(out_dir)
    subjects = table.drop_duplicates("subject_id")["group"].value_counts()
    total = int(table["frames"].sum())
    lm, faces = table[table["landmark_invalid_frames"] >= 0], table[table["crops_missing"] >= 0]
    rate = lambda k, frames: f"{k} ({k / max(1, frames):.1%})"  # noqa: E731
    return "\n".join([
        f"wrote {len(table)} video(s): AU CSVs and aligned crops under {out_dir / 'openface'}, "
        f"landmarks under {out_dir / 'landmarks'}",
        f"manifest: {out_dir / 'manifest.csv'}; subjects and groups: {out_dir / 'subjects.csv'}",
        "subjects per group: " + ", ".join(f"{g}: {int(subjects.get(g, 0))}" for g in (CONTROL, *GROUPS))
        + " (aus: signal in AUs only; face: in landmarks (brows, mouth) and face crops (under the eyes), not in AUs)",
        f"frames: {total} total, {int(table['frames'].min())}-{int(table['frames'].max())} per video",
        f"videos without landmarks: {len(table) - len(lm)}; without face crops: {len(table) - len(faces)}",
        f"failed frames: AU {rate(int(table['au_failed_frames'].sum()), total)}, "
        f"landmarks {rate(int(lm['landmark_invalid_frames'].sum()), int(lm['frames'].sum()))}, "
        f"crops {rate(int(faces['crops_missing'].sum()), int(faces['frames'].sum()))}",
    ])


__all__ = [
    "APPEARANCE_EFFECT", "CONTROL", "CROP_NAME", "GEOMETRY_EFFECTS", "GROUPS", "MANIFEST_COLUMNS", "VIEW_OF_GROUP",
    "assign_groups", "failed_frames", "generate_multimodal_demo", "make_multimodal_demo", "planted_strength",
    "summarize_multimodal_demo",
]
