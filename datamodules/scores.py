"""Score targets (``target: score``): the manifest's ``score`` column checked, per-subject scores and their statistics.

A score must be a finite number inside ``score_range`` (PHQ-8: ``[0, 24]``); anything else is a
:class:`DataFormatError` naming the manifest, the CSV row (header = row 1), the subject and the value.
The target statistics that standardise a regressor's target come from the training subjects only.

Example:
    >>> import pandas as pd
    >>> table = pd.DataFrame({"subject_id": ["a", "a", "b"], "score": [2, 4, 9]})
    >>> checked_scores(table, "m.csv", [0, 24]).tolist()
    [2.0, 4.0, 9.0]
    >>> subject_scores(table).to_dict()
    {'a': 3.0, 'b': 9.0}
    >>> score_summary(subject_scores(table))
    {'n': 2, 'mean': 6.0, 'std': 3.0, 'min': 3.0, 'max': 9.0}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from datamodules.io.au_table import DataFormatError
from datamodules.manifest import csv_rows

SCORE_COLUMN = "score"
MAX_NAMED = 5


def check_score_range(score_range: Sequence[float] | None) -> list[float] | None:
    """``[low, high]`` as floats with ``low < high`` (or None: no range).

    >>> check_score_range([0, 24])
    [0.0, 24.0]
    """
    if score_range is None:
        return None
    values = [float(v) for v in score_range]
    if len(values) != 2 or not values[0] < values[1]:
        raise ValueError(f"score_range must be [low, high] with low < high, got {list(score_range)}")
    return values


def require_score_column(table: pd.DataFrame, source: str, setting: str) -> None:
    """Fail naming ``source`` when ``table`` has no ``score`` column that ``setting`` (e.g. ``target: score``) needs."""
    if SCORE_COLUMN not in table.columns:
        raise DataFormatError(f"manifest {source}: {setting} needs a '{SCORE_COLUMN}' column (one score per row); "
                              f"the manifest has {list(table.columns)}")


def _why(raw: object, value: float, score_range: Sequence[float] | None) -> str:
    """Why one score cell is refused (empty when it is fine). CSV readers turn blank and ``NaN`` cells alike into NaN."""
    if raw is None or pd.isna(raw) or str(raw).strip() == "":
        return "blank (or NaN) score"
    if np.isnan(value):
        return f"score {raw!r} is not a number"
    if not np.isfinite(value):
        return f"score {raw!r} is not finite"
    if score_range is not None and not (score_range[0] <= value <= score_range[1]):
        return f"score {raw!r} is outside score_range [{score_range[0]:g}, {score_range[1]:g}]"
    return ""


def checked_scores(table: pd.DataFrame, source: str, score_range: Sequence[float] | None = (0, 24)) -> np.ndarray:
    """The ``score`` of every row as float64, after checking that each is a finite number in ``score_range``.

    ``table`` is the manifest (``subject_id``, ``score``; 0-based index in manifest order). A missing
    column, or a blank, non-numeric, NaN/inf or out-of-range score, raises :class:`DataFormatError`
    naming ``source``, the row(s) (header = row 1), the subject(s) and the value(s).

    >>> checked_scores(pd.DataFrame({"subject_id": ["a"], "score": ["abc"]}), "m.csv")
    Traceback (most recent call last):
    ...
    datamodules.io.au_table.DataFormatError: manifest m.csv: 1 row(s) with a bad score: row 2 (subject 'a'): score 'abc' is not a number; ...
    """
    require_score_column(table, source, "target: score")
    raw = table[SCORE_COLUMN]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    suspect = ~np.isfinite(values)
    if score_range is not None:
        suspect |= (values < score_range[0]) | (values > score_range[1])
    problems = []
    for position in np.flatnonzero(suspect):
        cell = raw.iloc[position]
        cell = cell.item() if hasattr(cell, "item") else cell
        reason = _why(cell, float(values[position]), score_range)
        problems.append((csv_rows([table.index[position]])[0], table["subject_id"].iloc[position], reason))
    if problems:
        named = "; ".join(f"row {row} (subject {subject!r}): {reason}" for row, subject, reason in problems[:MAX_NAMED])
        more = f"; and {len(problems) - MAX_NAMED} more" if len(problems) > MAX_NAMED else ""
        wanted = f" in [{score_range[0]:g}, {score_range[1]:g}]" if score_range is not None else ""
        raise DataFormatError(f"manifest {source}: {len(problems)} row(s) with a bad score: {named}{more}; "
                              f"every row needs a finite number{wanted} in column '{SCORE_COLUMN}'")
    return values


def subject_scores(table: pd.DataFrame, column: str = SCORE_COLUMN) -> pd.Series:
    """One score per subject (sorted by id): the mean of its videos' scores."""
    return table.groupby("subject_id", sort=True)[column].mean().astype(np.float64)


def score_summary(scores: pd.Series | np.ndarray) -> dict[str, float | int | None]:
    """``n, mean, std`` (population) ``, min, max`` of ``scores`` (``None`` where there is none)."""
    values = np.asarray(scores, dtype=np.float64)
    if not len(values):
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {"n": int(len(values)), "mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max())}


def training_target_stats(train: pd.DataFrame, source: str, score_range: Sequence[float] | None,
                          threshold: float | None, column: str = SCORE_COLUMN) -> dict[str, object]:
    """The target scale from the TRAINING rows ``train`` only: mean and population std over subjects
    (a subject's score is the mean of its videos'), and the range and threshold from the settings.

    Raises :class:`DataFormatError` when the training subjects all have the same score (std 0: the
    target cannot be standardised and nothing can be learned).

    >>> rows = pd.DataFrame({"subject_id": ["a", "a", "b"], "score": [2.0, 4.0, 9.0]})
    >>> training_target_stats(rows, "m.csv", [0, 24], 10)
    {'name': 'score', 'mean': 6.0, 'std': 3.0, 'low': 0.0, 'high': 24.0, 'threshold': 10.0}
    """
    per_subject = subject_scores(train, column)
    if per_subject.empty:
        raise DataFormatError(f"manifest {source}: no training subject to take the score statistics from")
    summary = score_summary(per_subject)
    std = summary["std"]
    if not std > 0:
        raise DataFormatError(f"manifest {source}: the {len(per_subject)} training subject(s) all have the same score "
                              f"({float(per_subject.iloc[0]):g}); a score target needs different scores to learn from")
    low, high = (None, None) if score_range is None else (float(score_range[0]), float(score_range[1]))
    return {"name": "score", "mean": summary["mean"], "std": std, "low": low, "high": high,
            "threshold": None if threshold is None else float(threshold)}
