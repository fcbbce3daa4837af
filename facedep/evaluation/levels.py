"""Per-fold test predictions at window/video/subject level: :class:`LevelPredictions`, :class:`FoldResult`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from facedep.evaluation.classification_metrics import predict

LEVELS: tuple[str, ...] = ("window", "video", "subject")
"""Known prediction levels, in report order (others follow alphabetically)."""
Design = Literal["folds", "seeds"]
"""``folds``: disjoint test sets (k-fold); ``seeds``: one fixed split trained once per seed."""


@dataclass
class LevelPredictions:
    """One fold's test predictions at one level: ids, int labels (N,), class probabilities (N, K).

    ``threshold`` (binary only): the decision threshold on ``probs[:, 1]`` the fold's model used (a
    number, or one per row once folds are pooled); None decides by argmax.

    Example:
        >>> LevelPredictions(["a"], np.array([1]), np.array([[0.2, 0.8]])).probs.shape
        (1, 2)
        >>> LevelPredictions(["a", "b"], [0, 1], [[0.7, 0.3], [0.6, 0.4]], threshold=0.35).decisions().tolist()
        [0, 1]
    """

    ids: list[str]
    y_true: np.ndarray
    probs: np.ndarray
    threshold: np.ndarray | float | None = None

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        self.y_true = np.asarray(self.y_true).astype(int).reshape(-1)
        self.probs = np.asarray(self.probs, dtype=float)
        if self.probs.ndim != 2 or not len(self.ids) == len(self.y_true) == len(self.probs):
            raise ValueError(
                f"LevelPredictions: {len(self.ids)} ids, y_true {self.y_true.shape}, probs {self.probs.shape}"
            )
        if self.threshold is not None:
            threshold = np.broadcast_to(np.asarray(self.threshold, dtype=float), (len(self.ids),)).copy()
            if self.probs.shape[1] != 2:
                raise ValueError(f"a decision threshold needs binary probabilities, got {self.probs.shape[1]} classes")
            if not np.all((threshold >= 0) & (threshold <= 1)):
                raise ValueError(f"decision thresholds must lie in [0, 1], got {np.unique(threshold).tolist()}")
            self.threshold = threshold

    def decisions(self) -> np.ndarray:
        """Predicted class per row: ``probs[:, 1] >= threshold``, or argmax without a threshold."""
        return predict(self.probs, self.threshold)

    def decision_scores(self) -> np.ndarray:
        """One-hot decisions (N, K): what the argmax-based fast metrics need to score the thresholded decisions."""
        return np.eye(self.probs.shape[1])[self.decisions()]

    def fold_threshold(self) -> float | None:
        """The single threshold of a fold's predictions (None without one)."""
        if self.threshold is None or not len(self.threshold):
            return None
        values = np.unique(self.threshold)
        if len(values) > 1:
            raise ValueError(f"one fold's predictions carry several thresholds: {values.tolist()}")
        return float(values[0])

    @classmethod
    def concat(cls, parts: Sequence[LevelPredictions]) -> LevelPredictions:
        """Stack several prediction sets (e.g. all folds' test subjects) into one; thresholds stay per row."""
        thresholded = any(p.threshold is not None for p in parts)
        return cls(
            ids=[i for p in parts for i in p.ids],
            y_true=np.concatenate([p.y_true for p in parts]),
            probs=np.concatenate([p.probs for p in parts]),
            threshold=np.concatenate([p.threshold if p.threshold is not None else np.full(len(p.ids), 0.5) for p in parts])
            if thresholded else None,
        )


@dataclass
class FoldResult:
    """One fold's (or seed's) test predictions by level (``"window"``, ``"video"``, ``"subject"``), extra
    metrics, and its data report (``metrics.json["data"]``: ``identity_leakage`` is read from it)."""

    fold: int
    predictions: dict[str, LevelPredictions]
    metrics: dict[str, float] | None = field(default=None)
    data: dict[str, Any] | None = field(default=None)


def levels_of(folds: Sequence[FoldResult]) -> list[str]:
    """Levels present in any fold, known ones first (window, video, subject), then alphabetically.

    Example:
        >>> levels_of([FoldResult(0, {"subject": None, "window": None})])
        ['window', 'subject']
    """
    present = {lv for f in folds for lv in f.predictions}
    return [lv for lv in LEVELS if lv in present] + sorted(present - set(LEVELS))
