"""Synthetic Hugging-Rain-Man (HRM) data: drawn faces whose AUs switch on and off, with HRM label CSVs.

Layout written by :func:`make_au_face_demo` (the real HRM label format; its images are not public)::

    <out>/labels/<ASD|TD>/<subject>.csv     38 HRM columns + 6 atypicality columns, one row per frame
    <out>/images/<subject>/<frame:06d>.jpg  the drawn face of that frame (see datamodules.synthetic.au_draw)

Subjects are ``S1, S2TD, ...`` (TD ids end in ``TD``), half in each group. Each has 2-3 segments:
runs of consecutive frame numbers with gaps between them. Per segment, every AU in ``aus`` follows
its own two-state Markov chain (bouts of a few frames, independent of the other AUs), so each is
present in ~15-40% of frames and co-occurrence is limited; three pairs that would cancel in the
drawing never overlap (AU12/AU15, AU25/AU2X, AU43/AU7: the second is dropped). A present AU is
1, or for AUs in :data:`SIDED_AUS` with probability 0.2 per bout 2 (left) / 3 (right), drawn on that
side only; its drawn intensity is uniform in [1.5, 5] per bout. ``AU0`` = 1 when no AU is present;
``ASD`` = 1 for ASD subjects; undrawn HRM columns are 0.

Planted effects (what a model should find):

* ASD subjects show AU4 and AU15 more often (rates 0.36 and 0.38 before the AU12 exclusion, vs
  0.25), AU12 less often (0.16), and longer bouts (mean 5.5 frames vs 3);
* atypicality: per segment ``level = 0.9 + 2.5 (r4 + r15 - r12) + 0.35 (mean bout length - 3)
  + N(0, 0.25)`` from the segment's AU rates ``r`` and bout lengths; per frame ``level + 0.4 (AU4 +
  AU15 - AU12 present)``; the five annotators add N(0, 0.35) each, clipped to [0, 4];
  ``Abnormal-avg`` is their mean. So ASD segments rate higher, through their AU statistics only.

Example:
    >>> out = make_au_face_demo("/tmp/hrm", subjects=4, frames_per_subject=20)  # doctest: +SKIP
    >>> sorted(p.name for p in (out / "labels").iterdir())  # doctest: +SKIP
    ['ASD', 'TD']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from datamodules.synthetic.au_draw import (  # noqa: F401  (re-exported drawing API)
    AU_REGIONS, DRAWN_AUS, SIDED_AUS, FaceIdentity, au_region, draw_au_face, sample_identity,
)

HRM_COLUMNS: tuple[str, ...] = (
    "frame", "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU43", "AU8", "AU9", "AU10", "AU12", "AU13", "AU14",
    "AU15", "AU16", "AU17", "AU18", "AD19", "AU20", "AU21", "AU22", "AU23", "AU24", "AU25", "AU2X", "AU28",
    "AD29", "AD30", "AU31", "AD32", "AD33", "AD34", "AD35", "AD36", "AD37", "AU0", "ASD",
)
ATYPICALITY_COLUMNS: tuple[str, ...] = (
    "Abnormal-j", "Abnormal-jie", "Abnormal-y", "Abnormal-z", "Abnormal-w", "Abnormal-avg",
)
DEMO_AUS: tuple[str, ...] = tuple(au for au in DRAWN_AUS if au in HRM_COLUMNS)  # AU45 (blink) is not an HRM column
BASE_RATE = 0.25
ASD_RATES: dict[str, float] = {"AU4": 0.36, "AU15": 0.38, "AU12": 0.16}
BOUT_FRAMES: dict[str, float] = {"TD": 3.0, "ASD": 5.5}
ONE_SIDED_P = 0.2
EXCLUSIVE: tuple[tuple[str, str], ...] = (("AU12", "AU15"), ("AU25", "AU2X"), ("AU43", "AU7"))


def markov_bouts(n: int, rate: float, mean_bout: float, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` int bout ids (0 = off, k = k-th bout) of a two-state chain: on ``rate`` of the time, bouts ``mean_bout`` long."""
    leave = 1.0 / mean_bout
    enter = min(1.0, rate / (1.0 - rate) * leave)
    u = rng.random(n)
    out = np.zeros(n, dtype=np.int64)
    on, bout = bool(rng.random() < rate), 0
    for t in range(n):
        if t > 0:
            on = (u[t] >= leave) if on else (u[t] < enter)
        if on and (t == 0 or out[t - 1] == 0):
            bout += 1
        out[t] = bout if on else 0
    return out


def _run_lengths(on: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D bool array."""
    edges = np.diff(np.r_[0, on.astype(np.int8), 0])
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


def simulate_segment(
    n: int, group: str, rates: dict[str, float], aus: Sequence[str], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """HRM values ``(n, len(aus))`` (0 / 1 / 2 left / 3 right) and drawn intensities ``(n, len(aus))`` of one segment."""
    values = np.zeros((n, len(aus)), dtype=np.int64)
    intensity = np.zeros((n, len(aus)))
    for j, au in enumerate(aus):
        bouts = markov_bouts(n, rates[au], BOUT_FRAMES[group], rng)
        for b in range(1, int(bouts.max()) + 1):
            where = bouts == b
            sided = au in SIDED_AUS and rng.random() < ONE_SIDED_P
            values[where, j] = int(rng.integers(2, 4)) if sided else 1
            intensity[where, j] = rng.uniform(1.5, 5.0)
    for first, second in EXCLUSIVE:
        if first in aus and second in aus:
            clash = (values[:, aus.index(first)] > 0) & (values[:, aus.index(second)] > 0)
            values[clash, aus.index(second)] = 0
            intensity[clash, aus.index(second)] = 0.0
    return values, intensity


def atypicality(values: np.ndarray, aus: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """``(n, 6)`` annotator ratings and their mean (:data:`ATYPICALITY_COLUMNS`) for one segment's HRM values."""
    on = values > 0
    col = lambda au: on[:, aus.index(au)].astype(float) if au in aus else np.zeros(len(on))  # noqa: E731
    runs = [length for j in range(on.shape[1]) for length in _run_lengths(on[:, j])]
    mean_bout = float(np.mean(runs)) if runs else 0.0
    r4, r15, r12 = (float(col(au).mean()) for au in ("AU4", "AU15", "AU12"))
    level = 0.9 + 2.5 * (r4 + r15 - r12) + 0.35 * (mean_bout - 3.0) + rng.normal(0.0, 0.25)
    truth = level + 0.4 * (col("AU4") + col("AU15") - col("AU12"))
    raters = np.clip(truth[:, None] + rng.normal(0.0, 0.35, (len(on), 5)), 0.0, 4.0).round(2)
    return np.column_stack([raters, raters.mean(axis=1).round(2)])


def _segment_lengths(total: int, rng: np.random.Generator) -> list[int]:
    """2-3 segment lengths of at least 3 frames summing to ``total``."""
    k = int(rng.integers(2, 4)) if total >= 9 else 2
    extra = np.floor(rng.dirichlet(np.full(k, 4.0)) * (total - 3 * k)).astype(int)
    lengths = 3 + extra
    lengths[-1] += total - int(lengths.sum())
    return [int(v) for v in lengths]


def simulate_subject(
    group: str, frames: int, aus: Sequence[str], rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """One subject's HRM label table (:data:`HRM_COLUMNS` + :data:`ATYPICALITY_COLUMNS`) and drawn intensities."""
    base = {au: ASD_RATES.get(au, BASE_RATE) if group == "ASD" else BASE_RATE for au in aus}
    rates = {au: float(np.clip(base[au] * np.exp(rng.normal(0.0, 0.15)), 0.1, 0.45)) for au in aus}
    start, parts = int(rng.integers(1, 300)), []
    for n in _segment_lengths(frames, rng):
        values, intensity = simulate_segment(n, group, rates, aus, rng)
        parts.append((np.arange(start, start + n), values, intensity, atypicality(values, aus, rng)))
        start += n + int(rng.integers(10, 150))
    frame, values, intensity, abnormal = (np.concatenate(p) for p in zip(*parts))
    table = pd.DataFrame(0, index=np.arange(len(frame)), columns=list(HRM_COLUMNS))
    table["frame"] = frame
    table[list(aus)] = values
    table["AU0"] = (values.max(axis=1) == 0).astype(int)
    table["ASD"] = int(group == "ASD")
    table[list(ATYPICALITY_COLUMNS)] = abnormal
    return table, intensity


def make_au_face_demo(
    out_dir: str | Path,
    subjects: int = 24,
    frames_per_subject: int = 40,
    size: int = 96,
    aus: Sequence[str] = DEMO_AUS,
    seed: int = 0,
) -> Path:
    """Write ``labels/<ASD|TD>/<subject>.csv`` and ``images/<subject>/<frame:06d>.jpg`` under ``out_dir``; return it.

    Example:
        >>> make_au_face_demo("/tmp/hrm", subjects=2, frames_per_subject=12, size=64)  # doctest: +SKIP
        PosixPath('/tmp/hrm')
    """
    aus = list(aus)
    bad = [au for au in aus if au not in DEMO_AUS]
    if bad:
        raise ValueError(f"cannot simulate AU(s) {bad}; supported: {list(DEMO_AUS)}")
    if subjects < 2 or frames_per_subject < 6:
        raise ValueError("need subjects >= 2 and frames_per_subject >= 6")
    out = Path(out_dir)
    groups = np.random.default_rng([seed, 0]).permutation(["ASD"] * (subjects // 2) + ["TD"] * (subjects - subjects // 2))
    side_names = {2: "left", 3: "right"}
    for i, group in enumerate(groups):
        subject = f"S{i + 1}" + ("TD" if group == "TD" else "")
        rng = np.random.default_rng([seed, 1, i])
        table, intensity = simulate_subject(str(group), frames_per_subject, aus, rng)
        identity = sample_identity(rng)
        folder = out / "images" / subject
        folder.mkdir(parents=True, exist_ok=True)
        values = table[aus].to_numpy()
        for t, frame in enumerate(table["frame"].tolist()):
            sides = {au: side_names[int(v)] for au, v in zip(aus, values[t]) if int(v) in side_names}
            image, _ = draw_au_face(dict(zip(aus, intensity[t])), np.random.default_rng([seed, 2, i, int(frame)]),
                                    size, sides=sides, identity=identity, jitter=0.01)
            cv2.imwrite(str(folder / f"{int(frame):06d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        (out / "labels" / str(group)).mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "labels" / str(group) / f"{subject}.csv", index=False)
    return out
