"""Who a synthetic demo simulates: labels, PHQ-8-like scores, subjects and sessions, and the
``manifest.csv`` / ``labels.csv`` tables every demo writes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.manifest import write_manifest


def phq8_scores(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PHQ-8-like scores consistent with ``labels``: 0-9 for healthy, 10-24 for depressed (skewed low).

    Example:
        >>> phq8_scores(np.array([0, 1]), np.random.default_rng(0))  # doctest: +SKIP
        array([ 3, 14])
    """
    healthy = rng.binomial(9, 0.35, size=len(labels))
    depressed = 10 + rng.binomial(14, 0.35, size=len(labels))
    return np.where(labels == 1, depressed, healthy).astype(int)


SEVERITY_MODES: tuple[str, ...] = ("banded", "linear")
"""How the planted effect grows with the score: ``banded`` (by label, then score; the default demo) or
``linear`` (proportional to the score over the whole 0-24 range, for severity regression)."""
LINEAR_MAX_MULTIPLIER = 1.4
"""The ``linear`` multiplier at score 24 (the ``banded`` one's maximum, too)."""
PHQ8_MAX = 24


def severity_multiplier(label: int, score: int, mode: str = "banded") -> float:
    """How strongly the planted effect shows (0 = not at all).

    ``banded``: 0-0.2 for healthy, 0.6-1.4 for depressed (by score): monotonic in the score, with a
    jump between 9 and 10. ``linear``: ``1.4 * score / 24`` whatever the label (no jump).

    Example:
        >>> [round(severity_multiplier(int(s >= 10), s), 3) for s in (0, 9, 10, 24)]
        [0.0, 0.2, 0.6, 1.4]
        >>> [round(severity_multiplier(int(s >= 10), s, "linear"), 3) for s in (0, 9, 10, 24)]
        [0.0, 0.525, 0.583, 1.4]
    """
    if mode == "linear":
        return LINEAR_MAX_MULTIPLIER * score / PHQ8_MAX
    if mode != "banded":
        raise ValueError(f"unknown severity mode {mode!r}; use one of {list(SEVERITY_MODES)}")
    if label == 1:
        return 0.6 + 0.8 * (score - 10) / 14
    return 0.2 * score / 9


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

