"""Regression evaluation shared by the deep regressor and the classic baselines: levels, metrics, tables.

* Levels: ``window`` (one row per window), ``video`` (mean of its windows' predictions and targets) and
  ``subject`` (mean over *all* of the subject's windows, not the mean of its video means: a subject with a
  long video weighs that video more, as the regressor has always done).
* Metrics per level: MAE, RMSE, CCC (Lin, AVEC), Pearson r, R²; with ``scale.threshold`` the binary metrics
  of the thresholded score (positive iff score >= threshold, for targets and predictions alike): accuracy,
  balanced_accuracy, macro_f1, sensitivity, specificity and AUROC (the predicted score ranks; NaN with one
  class); with ``scale.mean`` the AVEC mean baseline ``baseline_{mae,rmse,ccc}`` (every sample predicted as
  the training subjects' mean).

Example:
    >>> scale = TargetScale(name="score", mean=2.0, std=1.0, low=0.0, high=24.0, threshold=2.0)
    >>> levels, scores = evaluate_regression([1.0, 3.0, 4.0], [1.0, 2.0, 3.0], [0, 1, 1], [0, 1, 1], [0, 1, 2], scale)
    >>> [round(scores["video"][k], 3) for k in ("mae", "accuracy", "baseline_mae")]
    [0.5, 1.0, 0.75]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from lightning_modules.multilabel_metrics import regression_scores

LEVELS: tuple[str, ...] = ("window", "video", "subject")
METRICS: tuple[str, ...] = ("mae", "rmse", "ccc", "r", "r2")
BINARY_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "sensitivity", "specificity", "auroc")
BASELINE_METRICS: tuple[str, ...] = ("baseline_mae", "baseline_rmse", "baseline_ccc")
ArrayLike = torch.Tensor | np.ndarray | Sequence[float]


def _finite(value: float | None) -> float | None:
    """``value`` as a float, None when absent or NaN."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@dataclass(frozen=True)
class TargetScale:
    """The target's scale: training-subject mean and population std, valid range, screening threshold.

    ``None`` marks what is absent (no range: no clipping; no threshold: no binary metrics; no mean: no baseline).

    >>> TargetScale.from_stats({"name": "score", "mean": 6.5, "std": 5.0, "low": 0, "high": 24, "threshold": 10}).as_dict()
    {'name': 'score', 'mean': 6.5, 'std': 5.0, 'low': 0.0, 'high': 24.0, 'threshold': 10.0}
    """

    name: str = "target"
    mean: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        for key in ("mean", "std", "low", "high", "threshold"):
            object.__setattr__(self, key, _finite(getattr(self, key)))
        if self.std is not None and self.std < 0:
            raise ValueError(f"target std must be >= 0, got {self.std}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"target range low {self.low} > high {self.high}")

    @classmethod
    def from_stats(cls, stats: Mapping[str, Any] | None) -> TargetScale | None:
        """From a DataModule's ``target_stats`` (keys name, mean, std, low, high, threshold); None gives None."""
        if stats is None:
            return None
        unknown = set(stats) - {"name", "mean", "std", "low", "high", "threshold"}
        if unknown:
            raise ValueError(f"target_stats has unknown keys {sorted(unknown)}")
        return cls(name=str(stats.get("name", "target")), **{k: stats.get(k) for k in ("mean", "std", "low", "high", "threshold")})

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``metrics.json["target"]``)."""
        return asdict(self)


# ---- metrics ----------------------------------------------------------------------------------
def concordance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient (AVEC 2019): ``2 cov / (var_p + var_t + (mean_p - mean_t)²)``
    with population (1/N) moments; NaN when both sides are constant and equal, 0 for a constant prediction.

    >>> round(float(concordance(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 3.0]))), 4)
    0.7273
    """
    p, t = torch.as_tensor(pred).double().flatten(), torch.as_tensor(target).double().flatten()
    if len(p) == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    dp, dt = p - p.mean(), t - t.mean()
    denominator = dp.pow(2).mean() + dt.pow(2).mean() + (p.mean() - t.mean()).pow(2)
    if float(denominator) == 0.0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    return 2 * (dp * dt).mean() / denominator


def regression_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """MAE, RMSE, CCC, Pearson r and R² (1 - SS_res / SS_tot); r and R² are NaN when undefined.

    >>> m = regression_metrics(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 3.0]))
    >>> [round(m[k], 4) for k in ("mae", "rmse", "ccc", "r", "r2")]
    [0.6667, 0.8165, 0.7273, 0.7559, 0.25]
    """
    p, t = torch.as_tensor(pred).double().flatten(), torch.as_tensor(target).double().flatten()
    nan = float("nan")
    if len(p) == 0:
        return dict.fromkeys(METRICS, nan)
    scores = {k: float(v) for k, v in regression_scores(p, t).items()}  # mae, rmse, r (shared with AU intensity)
    ss_tot = float(((t - t.mean()) ** 2).sum())
    scores["r2"] = 1.0 - float(((p - t) ** 2).sum()) / ss_tot if ss_tot > 0 else nan
    scores["ccc"] = float(concordance(p, t))
    return {k: scores[k] for k in METRICS}


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for boolean ``positive`` (Mann-Whitney, ties count 1/2); NaN with one class.

    >>> auroc(np.array([0.1, 0.4, 0.4, 0.8]), np.array([False, False, True, True]))
    0.875
    """
    score, positive = np.asarray(score, dtype=np.float64), np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    pos, neg = score[positive][:, None], score[~positive][None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (n_pos * n_neg))


def binary_metrics(pred: ArrayLike, target: ArrayLike, threshold: float) -> dict[str, float]:
    """Screening metrics of the thresholded score (positive iff ``>= threshold``): accuracy, balanced accuracy
    (mean recall over the classes present in the targets), macro-F1 (over the classes present in targets or
    predictions, as scikit-learn), sensitivity, specificity (NaN without positives / negatives) and AUROC.

    >>> m = binary_metrics([12.0, 4.0, 9.0, 11.0], [15.0, 3.0, 10.0, 2.0], threshold=10)
    >>> [round(m[k], 3) for k in ("accuracy", "sensitivity", "specificity", "balanced_accuracy", "auroc")]
    [0.5, 0.5, 0.5, 0.5, 0.75]
    """
    p, t = np.asarray(pred, dtype=np.float64).ravel(), np.asarray(target, dtype=np.float64).ravel()
    nan = float("nan")
    if len(p) == 0:
        return dict.fromkeys(BINARY_METRICS, nan)
    yp, yt = p >= threshold, t >= threshold
    tp, tn = int((yp & yt).sum()), int((~yp & ~yt).sum())
    fp, fn = int((yp & ~yt).sum()), int((~yp & yt).sum())
    sensitivity = tp / (tp + fn) if tp + fn else nan
    specificity = tn / (tn + fp) if tn + fp else nan
    f1 = [2 * a / (2 * a + fp + fn) for a, present in ((tp, yt.any() or yp.any()), (tn, (~yt).any() or (~yp).any())) if present]
    return {
        "accuracy": (tp + tn) / len(p),
        "balanced_accuracy": float(np.nanmean([sensitivity, specificity])),
        "macro_f1": float(np.mean(f1)),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "auroc": auroc(p, yt),
    }


def baseline_metrics(target: ArrayLike, mean: float) -> dict[str, float]:
    """The AVEC mean baseline: every sample predicted as ``mean`` (training subjects' mean).

    >>> m = baseline_metrics([1.0, 2.0, 6.0], mean=2.0)
    >>> [round(m[k], 4) for k in ("baseline_mae", "baseline_rmse", "baseline_ccc")]
    [1.6667, 2.3805, 0.0]
    """
    t = torch.as_tensor(np.asarray(target, dtype=np.float64)).flatten()
    scores = regression_metrics(torch.full_like(t, float(mean)), t)
    return {f"baseline_{k}": scores[k] for k in ("mae", "rmse", "ccc")}


def level_scores(pred: ArrayLike, target: ArrayLike, scale: TargetScale | None) -> dict[str, float]:
    """Everything one level reports: :data:`METRICS`, plus binary (threshold) and baseline (mean) metrics."""
    scores = regression_metrics(torch.as_tensor(np.asarray(pred, dtype=np.float64)), torch.as_tensor(np.asarray(target, dtype=np.float64)))
    if scale is not None and scale.threshold is not None:
        scores.update(binary_metrics(pred, target, scale.threshold))
    if scale is not None and scale.mean is not None:
        scores.update(baseline_metrics(target, scale.mean))
    return scores


# ---- levels ------------------------------------------------------------------------------------
def group_mean(values: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted unique ``groups`` and the mean of ``values`` in each.

    >>> ids, m = group_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([7, 2, 7]))
    >>> ids.tolist(), m.tolist()
    ([2, 7], [3.0, 3.0])
    """
    ids, inverse = torch.unique(groups, sorted=True, return_inverse=True)
    sums = torch.zeros(len(ids), dtype=values.dtype, device=values.device).index_add_(0, inverse, values)
    return ids, sums / torch.bincount(inverse, minlength=len(ids)).to(values.dtype)


def three_levels(pred: torch.Tensor, y: torch.Tensor, video: torch.Tensor, subject: torch.Tensor,
                 index: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    """``{level: {"ids", "y", "pred"}}``: windows, and means per video and per subject (over windows);
    window and video levels also carry ``subject`` (the subject id of each row)."""
    levels = {"window": {"ids": index, "y": y, "pred": pred, "subject": subject}}
    video_ids, video_pred = group_mean(pred, video)
    subject_of_video = group_mean(subject.double(), video)[1].round().long()  # a video belongs to one subject
    levels["video"] = {"ids": video_ids, "y": group_mean(y, video)[1], "pred": video_pred, "subject": subject_of_video}
    subject_ids, subject_pred = group_mean(pred, subject)
    levels["subject"] = {"ids": subject_ids, "y": group_mean(y, subject)[1], "pred": subject_pred}
    return levels


def _tensor(values: ArrayLike, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)).to(dtype).flatten()


def evaluate_regression(pred: ArrayLike, y: ArrayLike, video: ArrayLike, subject: ArrayLike, index: ArrayLike,
                        scale: TargetScale | None = None
                        ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict[str, float]]]:
    """Window predictions (target units) -> ``(levels, scores)``: ``levels = {level: {"ids", "y", "pred"[, "subject"]}}``
    (CPU float64 tensors, ids long) and ``scores = {level: {metric: float}}`` (:func:`level_scores`)."""
    pred_t, y_t = _tensor(pred, torch.float64), _tensor(y, torch.float64)
    video_t, subject_t, index_t = (_tensor(v, torch.long) for v in (video, subject, index))
    if not len(pred_t) == len(y_t) == len(video_t) == len(subject_t) == len(index_t):
        raise ValueError(f"pred, y, video, subject, index differ in length: "
                         f"{[len(v) for v in (pred_t, y_t, video_t, subject_t, index_t)]}")
    levels = three_levels(pred_t, y_t, video_t, subject_t, index_t)
    return levels, {level: level_scores(d["pred"], d["y"], scale) for level, d in levels.items()}


# ---- tables ------------------------------------------------------------------------------------
def regression_tables(levels: Mapping[str, Mapping[str, torch.Tensor]], scores: Mapping[str, Mapping[str, float]],
                      names: Mapping[str, Mapping[int, str]] | None = None, stage: str = "test",
                      subject_of: Mapping[int, str] | None = None) -> dict[str, pd.DataFrame]:
    """``predictions_<stage>_<level>`` (``id, name, target, prediction`` + ``subject`` where the level has one:
    the subject's name, from ``subject_of`` or else ``names["subject"]``, for the cluster bootstrap) and
    ``metrics_<stage>`` (one row per level: ``level, n`` and every score).

    >>> levels, scores = evaluate_regression([1.0, 3.0], [1.0, 2.0], [0, 1], [5, 5], [0, 1])
    >>> tables = regression_tables(levels, scores, {"subject": {5: "p5"}})
    >>> tables["predictions_test_video"].columns.tolist(), tables["predictions_test_video"]["subject"].tolist()
    (['id', 'name', 'target', 'prediction', 'subject'], ['p5', 'p5'])
    """
    names = names or {}
    subject_names = subject_of if subject_of is not None else names.get("subject", {})
    tables: dict[str, pd.DataFrame] = {}
    for level, d in levels.items():
        ids = np.asarray(d["ids"]).tolist()
        lookup = names.get(level, {})
        table = pd.DataFrame({"id": ids, "name": [lookup.get(i, str(i)) for i in ids],
                              "target": np.asarray(d["y"], dtype=np.float64), "prediction": np.asarray(d["pred"], dtype=np.float64)})
        if "subject" in d:
            table["subject"] = [subject_names.get(s, str(s)) for s in np.asarray(d["subject"]).tolist()]
        tables[f"predictions_{stage}_{level}"] = table
    tables[f"metrics_{stage}"] = pd.DataFrame(
        [{"level": level, "n": len(levels[level]["ids"]), **scores[level]} for level in levels])
    return tables
