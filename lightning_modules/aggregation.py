"""Window predictions -> video -> subject: mean probability per group.

Example:
    >>> probs = torch.tensor([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1]])
    >>> ids, p, y = aggregate_mean(probs, torch.tensor([7, 7, 3]), torch.tensor([1, 1, 0]))
    >>> ids.tolist(), [round(v, 4) for v in p[:, 1].tolist()], y.tolist()
    ([3, 7], [0.1, 0.7], [0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import pytorch_lightning as pl


def aggregate_mean(
    probs: torch.Tensor, group: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean probability and majority label per group id (sorted ids).

    Ties in the majority vote go to the larger class index (the positive class in binary tasks).
    """
    ids, inverse = torch.unique(group, sorted=True, return_inverse=True)
    num_groups, num_classes = len(ids), probs.shape[1]
    sums = torch.zeros(num_groups, num_classes, dtype=probs.dtype, device=probs.device).index_add_(0, inverse, probs)
    counts = torch.bincount(inverse, minlength=num_groups).to(probs.dtype).unsqueeze(1)
    votes = torch.zeros(num_groups, num_classes, device=probs.device).index_add_(
        0, inverse, torch.nn.functional.one_hot(labels, num_classes).float()
    )
    tie_break = torch.arange(num_classes, device=probs.device) * 1e-3
    return ids, sums / counts, (votes + tie_break).argmax(dim=1)


def dedupe(index: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Keep the first occurrence of every sample index (distributed samplers repeat samples to pad)."""
    unique, inverse = torch.unique(index, return_inverse=True)
    first = torch.full((len(unique),), len(index), dtype=torch.long, device=index.device)
    first = first.scatter_reduce(0, inverse, torch.arange(len(index), device=index.device), reduce="amin")
    return (index[first],) + tuple(t[first] for t in tensors)


def gather_unique(
    module: pl.LightningModule, outputs: Sequence[dict[str, torch.Tensor]], keys: Sequence[str]
) -> dict[str, torch.Tensor]:
    """This epoch's step ``outputs`` (``keys`` of each) concatenated, gathered from all ranks, each ``index`` once.

    Under DDP the sampler pads shards by repeating samples; :func:`dedupe` keeps the first of each. Without
    outputs every key is an empty tensor on the module's device.
    """
    local = {k: torch.cat([o[k] for o in outputs]) if outputs else torch.zeros(0, device=module.device) for k in keys}
    if module.trainer.world_size > 1:
        local = {k: v.reshape(-1, *v.shape[2:]) for k, v in module.all_gather(local).items()}
    others = [k for k in keys if k != "index"]
    index, *values = dedupe(local["index"], *(local[k] for k in others))
    return {"index": index, **dict(zip(others, values))}


def three_levels(
    probs: torch.Tensor, y: torch.Tensor, video: torch.Tensor, subject: torch.Tensor, index: torch.Tensor
) -> dict[str, dict[str, torch.Tensor]]:
    """Window predictions and their mean per video and per subject (videos weigh equally).

    Returns ``{"window" | "video" | "subject": {"ids", "y", "probs"}}``.
    """
    levels = {"window": {"ids": index, "y": y, "probs": probs}}
    video_ids, video_probs, video_y = aggregate_mean(probs, video, y)
    levels["video"] = {"ids": video_ids, "y": video_y, "probs": video_probs}
    subject_of_video = torch.zeros(int(video.max()) + 1, dtype=torch.long, device=video.device)
    subject_of_video[video] = subject
    subject_ids, subject_probs, subject_y = aggregate_mean(video_probs, subject_of_video[video_ids], video_y)
    levels["subject"] = {"ids": subject_ids, "y": subject_y, "probs": subject_probs}
    return levels
