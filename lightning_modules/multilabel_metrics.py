"""Per-label metrics and per-label decision thresholds for multi-label (AU) detection.

Labels are float ``(N, K)`` 0/1 with NaN where unknown; every score of label ``k`` uses the rows
where label ``k`` is known. F1 follows sklearn (``zero_division=0``: 0 when an AU is never present
and never predicted); AUROC is NaN for a label with one class only and left out of the mean; a
label with no known entry is NaN everywhere.

Example:
    >>> probs = torch.tensor([[0.9, 0.2], [0.3, 0.6], [0.7, 0.1]])
    >>> labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, float("nan")]])
    >>> scores = multilabel_scores(probs, labels, torch.tensor([0.5, 0.5]))
    >>> scores["f1"].tolist(), scores["auroc"].tolist()
    ([1.0, 1.0], [1.0, 1.0])
    >>> flat = flatten_scores(scores, ["AU1", "AU2"], "val/")
    >>> flat["val/f1_mean"], flat["val/f1/AU2"]
    (1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics.functional.classification import binary_auroc

THRESHOLD_GRID = torch.linspace(0.05, 0.95, 91)
"""Candidate per-AU thresholds: 0.05, 0.06, ..., 0.95."""


def _counts(pred: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """tp, fp, fn, tn per label (``pred`` bool ``(..., N, K)``), counting known labels only."""
    known = ~torch.isnan(labels)
    truth = torch.nan_to_num(labels, nan=0.0) > 0.5
    tp = (pred & truth & known).sum(-2)
    fp = (pred & ~truth & known).sum(-2)
    fn = (~pred & truth & known).sum(-2)
    tn = (~pred & ~truth & known).sum(-2)
    return tp, fp, fn, tn


def _f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    denom = (2 * tp + fp + fn).double()
    return torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(denom))


def best_thresholds(probs: torch.Tensor, labels: torch.Tensor, grid: torch.Tensor = THRESHOLD_GRID) -> torch.Tensor:
    """Per label, the grid threshold with the highest F1 of ``probs >= t`` (ties: the one nearest 0.5).

    Example:
        >>> p = torch.tensor([[0.1], [0.325], [0.4], [0.8]])  # every t in (0.1, 0.325] is perfect
        >>> best_thresholds(p, torch.tensor([[0.0], [1.0], [1.0], [1.0]]))
        tensor([0.3200])
    """
    grid = grid.to(probs.device, probs.dtype)
    f1 = torch.stack([_f1(*_counts(probs >= t, labels)[:3]) for t in grid])  # (G, K)
    best = f1.max(0).values
    distance = torch.where(f1 >= best - 1e-12, (grid - 0.5).abs().unsqueeze(1), torch.full_like(f1, float("inf")))
    return grid[distance.argmin(0)].float()


def multilabel_scores(probs: torch.Tensor, labels: torch.Tensor, thresholds: torch.Tensor) -> dict[str, torch.Tensor]:
    """``f1``, ``accuracy``, ``auroc`` and ``positives`` (count), each ``(K,)``, at per-label ``thresholds``."""
    tp, fp, fn, tn = _counts(probs >= thresholds.to(probs).unsqueeze(0), labels)
    known = tp + fp + fn + tn
    nan = torch.full(known.shape, float("nan"), dtype=torch.float64, device=probs.device)
    f1 = torch.where(known > 0, _f1(tp, fp, fn), nan)
    accuracy = torch.where(known > 0, (tp + tn).double() / known.clamp(min=1), nan)
    auroc = nan.clone()
    for k in range(probs.shape[1]):
        mask = ~torch.isnan(labels[:, k])
        y = labels[mask, k].long()
        if y.numel() and 0 < int(y.sum()) < y.numel():
            auroc[k] = binary_auroc(probs[mask, k].float(), y).double()
    return {"f1": f1, "accuracy": accuracy, "auroc": auroc, "positives": (tp + fn).double()}


def pearson_r(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per column over rows where ``target`` is known (NaN if < 2 rows or constant)."""
    known = ~torch.isnan(target)
    n = known.sum(0).double()
    x = torch.where(known, pred.double(), 0.0)
    y = torch.nan_to_num(target.double(), nan=0.0)
    mx, my = x.sum(0) / n.clamp(min=1), y.sum(0) / n.clamp(min=1)
    dx, dy = torch.where(known, x - mx, 0.0), torch.where(known, y - my, 0.0)
    denom = (dx.pow(2).sum(0) * dy.pow(2).sum(0)).sqrt()
    r = (dx * dy).sum(0) / denom
    return torch.where((n >= 2) & (denom > 0), r, torch.full_like(r, float("nan")))


def regression_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """``mae``, ``rmse`` and ``r`` per column of ``(N, K)`` (or scalars for ``(N,)``), NaN targets masked.

    Example:
        >>> s = regression_scores(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, float("nan")]))
        >>> [round(float(s[k]), 4) for k in ("mae", "rmse", "r")]
        [0.5, 0.7071, 1.0]
    """
    squeeze = pred.dim() == 1
    pred, target = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    known = ~torch.isnan(target)
    n = known.sum(0).double()
    error = torch.where(known, pred.double() - torch.nan_to_num(target.double()), 0.0)
    nan = torch.full_like(n, float("nan"))
    scores = {
        "mae": torch.where(n > 0, error.abs().sum(0) / n.clamp(min=1), nan),
        "rmse": torch.where(n > 0, (error.pow(2).sum(0) / n.clamp(min=1)).sqrt(), nan),
        "r": pearson_r(pred, target),
    }
    return {k: v[0] for k, v in scores.items()} if squeeze else scores


def flatten_scores(scores: dict[str, torch.Tensor], names: Sequence[str], prefix: str) -> dict[str, float]:
    """``{prefix}{metric}_mean`` (mean over labels with a defined value) and ``{prefix}{metric}/{name}``.

    ``positives`` (a count, not a score) is left out.
    """
    flat: dict[str, float] = {}
    for metric, values in scores.items():
        if metric == "positives":
            continue
        defined = values[~torch.isnan(values)]
        flat[f"{prefix}{metric}_mean"] = float(defined.mean()) if defined.numel() else float("nan")
        flat.update({f"{prefix}{metric}/{name}": float(v) for name, v in zip(names, values.tolist())})
    return flat
