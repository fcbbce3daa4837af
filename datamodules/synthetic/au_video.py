"""Demo videos whose frames follow OpenFace AU time series (for the images -> AUs -> depression bridge).

:func:`render_au_video` draws frame ``t`` with :func:`~datamodules.synthetic.au_draw.draw_au_face`
from row ``t`` of an OpenFace-style table. Mapping (:data:`OPENFACE_TO_DRAWN`): AU01->AU1, AU02->AU2,
AU04->AU4, AU06->AU6, AU07->AU7, AU09->AU9, AU12, AU15, AU17, AU20, AU25, AU26->AU2X (intensities
``_r``); blink: eyes closed where ``AU45_c`` >= 0.5 (or, without ``AU45_c``, ``AU45_r`` > 1).
Not drawn, ignored: AU05, AU10, AU14, AU23, AU28, every ``_c`` column but AU45_c, and the
non-AU columns. One seed, one person (identity); frames jitter the position slightly.

:func:`make_au_video_demo` simulates subjects with :func:`datamodules.synthetic.subjects.demo_sessions`
(planted depression effect: AU04/AU15 up, AU12 down in the depressed group) and writes::

    <out>/videos/<subject>.mp4                 rendered from ...
    <out>/openface/<subject>_session1.csv      ... this ground-truth OpenFace table (rounded as written)
    <out>/manifest.csv, labels.csv             subject_id, path (the video), label, score, session
    <out>/manifest_openface.csv                the same subjects, path = the ground-truth CSV

Example:
    >>> manifest = make_au_video_demo("/tmp/au_videos", subjects=4, seconds=4)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.signal import lfilter

from datamodules.io.au_table import ALL_AU_COLUMNS
from datamodules.manifest import write_manifest
from datamodules.synthetic.au_simulation import make_subject_profile, simulate_session
from datamodules.synthetic.openface_csv import make_openface_csv
from datamodules.synthetic.subjects import demo_sessions, write_demo_tables
from datamodules.synthetic.au_draw import FaceIdentity, draw_au_face, sample_identity

OPENFACE_TO_DRAWN: dict[str, str] = {
    "AU01": "AU1", "AU02": "AU2", "AU04": "AU4", "AU06": "AU6", "AU07": "AU7", "AU09": "AU9", "AU12": "AU12",
    "AU15": "AU15", "AU17": "AU17", "AU20": "AU20", "AU25": "AU25", "AU26": "AU2X",
}
_DRIFT = 0.9  # AR(1) coefficient of the per-frame position offset


def drawn_aus_per_frame(intensities: pd.DataFrame | Mapping[str, np.ndarray]) -> list[dict[str, float]]:
    """Per frame, the drawn-AU intensities (``{"AU1": 1.2, ..., "AU45": 5.0 if blinking}``) of an OpenFace table.

    >>> drawn_aus_per_frame({"AU12_r": [0.0, 2.5], "AU45_c": [1, 0], "AU05_r": [1, 1]})
    [{'AU12': 0.0, 'AU45': 5.0}, {'AU12': 2.5, 'AU45': 0.0}]
    """
    columns = {str(k).strip(): np.asarray(v, dtype=np.float64).ravel() for k, v in dict(intensities).items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"AU columns must be non-empty and equally long, got lengths {sorted(lengths)}")
    n = lengths.pop()
    drawn = {OPENFACE_TO_DRAWN[k[:4]]: np.nan_to_num(v) for k, v in columns.items()
             if k.endswith("_r") and k[:4] in OPENFACE_TO_DRAWN}
    if "AU45_c" in columns:
        drawn["AU45"] = np.where(np.nan_to_num(columns["AU45_c"]) >= 0.5, 5.0, 0.0)
    elif "AU45_r" in columns:
        drawn["AU45"] = np.where(np.nan_to_num(columns["AU45_r"]) > 1.0, 5.0, 0.0)
    return [{au: float(v[t]) for au, v in drawn.items()} for t in range(n)]


def video_identity(seed: int | Sequence[int]) -> FaceIdentity:
    """The person :func:`render_au_video` draws for ``seed`` (``identity.box(size)`` is its unjittered face box)."""
    return sample_identity(np.random.default_rng([*(int(v) for v in np.atleast_1d(seed)), 0]))


def render_au_video(
    intensities: pd.DataFrame | Mapping[str, np.ndarray],
    path: str | Path,
    fps: float = 30.0,
    size: int = 128,
    seed: int | Sequence[int] = 0,
    jitter: float = 0.005,
) -> Path:
    """Write an mp4 (``mp4v``) whose frame ``t`` shows the AUs of row ``t``; one person per ``seed``.

    ``jitter`` is the SD of a smooth per-frame position drift (fraction of the image); lighting stays fixed.

    Example:
        >>> render_au_video({"AU12_r": np.linspace(0, 4, 30)}, "/tmp/smile.mp4", fps=15)  # doctest: +SKIP
        PosixPath('/tmp/smile.mp4')
    """
    frames = drawn_aus_per_frame(intensities)
    seq = [int(v) for v in np.atleast_1d(seed)]
    identity = video_identity(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (size, size))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with the mp4v codec")
    # Smooth head drift: AR(1) offsets with marginal SD ``jitter`` and small steps between frames.
    steps = np.random.default_rng([*seq, 1]).standard_normal((len(frames), 2)) * jitter * np.sqrt(1 - _DRIFT**2)
    steps[0] /= np.sqrt(1 - _DRIFT**2)
    offsets = lfilter([1.0], [1.0, -_DRIFT], steps, axis=0)
    try:
        for t, aus in enumerate(frames):
            moved = replace(identity, cx=identity.cx + offsets[t, 0], cy=identity.cy + offsets[t, 1])
            image, _ = draw_au_face(aus, np.random.default_rng([*seq, 2, t]), size, identity=moved)
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"OpenCV wrote no video to {path}")
    return path


def make_au_video_demo(
    out_dir: str | Path,
    subjects: int = 20,
    seconds: float = 12.0,
    fps: float = 15.0,
    size: int = 128,
    effect_size: float = 1.5,
    depressed_fraction: float = 0.5,
    seed: int = 0,
) -> Path:
    """Simulate ``subjects`` OpenFace AU tables, render each as ``videos/<subject>.mp4``; return ``manifest.csv``.

    Example:
        >>> m = make_au_video_demo("/tmp/au_videos", subjects=4, seconds=4)  # doctest: +SKIP
        >>> pd.read_csv(m).columns.tolist()  # doctest: +SKIP
        ['subject_id', 'path', 'label', 'score', 'session']
    """
    out = Path(out_dir)
    n = max(int(round(seconds * fps)), 1)
    rows, csv_rows = [], []
    for i, demo in enumerate(demo_sessions(subjects, 1, (n, n), depressed_fraction, seed)):
        profile = make_subject_profile(demo.subject_id, demo.label, demo.score, effect_size, demo.rng)
        data = simulate_session(profile, n, fps, 0.0, demo.rng)  # no tracking failures: every frame is drawn
        au = np.round(data["au"], 2)  # render exactly what the CSV holds
        csv = Path("openface") / f"{demo.subject_id}_session1.csv"
        make_openface_csv(out / csv, au, confidence=data["confidence"], fps=fps, gaze=data["gaze"], pose=data["pose"])
        video = Path("videos") / f"{demo.subject_id}.mp4"
        render_au_video(pd.DataFrame(au, columns=list(ALL_AU_COLUMNS)), out / video, fps, size, seed=(seed, i))
        row = {"subject_id": demo.subject_id, "label": demo.label, "score": demo.score, "session": 1}
        rows.append({**row, "path": video.as_posix()})
        csv_rows.append({**row, "path": csv.as_posix()})
    write_demo_tables(rows, out)
    write_manifest(pd.DataFrame(csv_rows)[["subject_id", "path", "label", "score", "session"]],
                   out / "manifest_openface.csv")
    return out / "manifest.csv"
