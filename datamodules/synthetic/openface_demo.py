"""Synthetic demo data in the real OpenFace 2.x CSV format, with a planted depression signal.

The generator writes one OpenFace ``FeatureExtraction -gaze -pose -aus`` style CSV per subject and
session (layout: :mod:`datamodules.synthetic.openface_csv`; the simulated AUs:
:mod:`datamodules.synthetic.au_simulation`), plus a manifest and a labels table.

Example:
    >>> from datamodules.synthetic.openface_demo import make_openface_demo
    >>> manifest = make_openface_demo("/tmp/demo", num_subjects=10)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datamodules.synthetic.au_simulation import make_subject_profile, simulate_session
from datamodules.synthetic.openface_csv import make_openface_csv
from datamodules.synthetic.subjects import SEVERITY_MODES, demo_sessions, write_demo_tables


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
    severity: str = "banded",
) -> pd.DataFrame:
    """Like :func:`make_openface_demo`, but return the per-file table (manifest columns plus
    ``frames`` and ``failed_frames``). ``severity``: how the planted effect grows with the score
    (:data:`~datamodules.synthetic.subjects.SEVERITY_MODES`; ``banded`` keeps the default demo's bytes).

    Example:
        >>> generate_openface_demo("/tmp/demo", num_subjects=4)["frames"].sum()  # doctest: +SKIP
        1804
    """
    if severity not in SEVERITY_MODES:
        raise ValueError(f"unknown severity mode {severity!r}; use one of {list(SEVERITY_MODES)}")
    out_dir = Path(out_dir)
    rows = []
    for demo in demo_sessions(num_subjects, sessions_per_subject, frames, depressed_fraction, seed):
        subject_id, label, score, k, srng = demo.subject_id, demo.label, demo.score, demo.session, demo.rng
        if demo.first_of_subject:
            profile = make_subject_profile(subject_id, label, score, effect_size, srng, severity)
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
    severity: str = "banded",
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
        failed_frame_rate, seed, severity,
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
