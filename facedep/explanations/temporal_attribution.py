"""Integrated gradients over time for one test video: attribution per frame and AU channel.

Integrated gradients (Sundararajan et al. 2017), written with torch: for a window ``x`` and the baseline
``x' = 0`` (zeros in the standardised input space, i.e. every AU at the training subjects' mean),
``IG_i(x) = x_i * mean_k dF(alpha_k x)/dx_i`` with ``alpha_k = (k + 1/2) / steps`` (midpoint rule,
``steps = 32``), so that ``sum_i IG_i(x) ~= F(x) - F(0)`` (completeness). ``F`` is the positive class's
logit of a classifier, the standardised output of a regressor
(:func:`~facedep.explanations.model_outputs.attributed_output`). A frame's attribution is the mean over
the overlapping windows that cover it.

Example:
    >>> net = lambda x: (x ** 2).sum(dim=(1, 2))
    >>> x = torch.ones(2, 4, 3)
    >>> ig = integrated_gradients(net, x, steps=32)
    >>> round(float(ig.sum()), 3), float(net(x).sum() - net(torch.zeros_like(x)).sum())
    (24.0, 24.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from datamodules.window_dataset import WindowDataset
from facedep.explanations.model_outputs import attributed_output, model_device_dtype

STEPS = 32
METHOD = ("integrated gradients (32 midpoint steps) of the positive class's logit (regressor: standardised output) "
          "w.r.t. the standardised AU input, baseline = zeros = the training subjects' mean of every AU; "
          "per frame: mean over the test windows that cover it")


def integrated_gradients(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, steps: int = STEPS,
                         baseline: torch.Tensor | None = None, chunk: int = 4096) -> torch.Tensor:
    """Attributions of ``forward`` (``(B, ...) -> (B,)``) for every input of ``x``, same shape as ``x``."""
    base = torch.zeros_like(x) if baseline is None else baseline.to(x)
    delta = x - base
    alphas = (torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps
    total = torch.zeros_like(x)
    per_chunk = max(1, chunk // max(1, len(x)))
    for start in range(0, steps, per_chunk):
        a = alphas[start:start + per_chunk].view(-1, *([1] * x.ndim))
        path = (base.unsqueeze(0) + a * delta.unsqueeze(0)).reshape(-1, *x.shape[1:]).requires_grad_(True)
        (grad,) = torch.autograd.grad(forward(path).sum(), path)
        total += grad.reshape(len(a), *x.shape).sum(dim=0)
    return delta * total / steps


def model_integrated_gradients(model: nn.Module, x: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
    """:func:`integrated_gradients` of a sequence model's :func:`attributed_output` in eval mode (dropout off;
    cuDNN off, whose RNN backward refuses eval mode), on the model's device; returned on CPU, float32."""
    device, dtype = model_device_dtype(model)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            ig = integrated_gradients(lambda v: attributed_output(model, v), x.to(device=device, dtype=dtype), steps)
    finally:
        model.train(was_training)
    return ig.detach().float().cpu()


@dataclass
class TemporalAttribution:
    """``values`` ``(frames, channels)``: mean attribution per frame; ``coverage``: windows covering each frame."""

    values: np.ndarray
    channels: list[str]
    coverage: np.ndarray
    video: int

    def frame(self) -> pd.DataFrame:
        """``frame, windows, <channel>...`` (the CSV that ``--run.explain`` writes)."""
        table = pd.DataFrame(self.values, columns=self.channels)
        table.insert(0, "windows", self.coverage)
        table.insert(0, "frame", np.arange(len(self.values)))
        return table


def temporal_attribution(model: nn.Module, dataset: WindowDataset, channels: list[str], sequence: int = 0,
                         steps: int = STEPS) -> TemporalAttribution:
    """Integrated gradients of every window of ``dataset.sequences[sequence]``, averaged per frame.

    Frames no window covers (past a padded short video's end cannot happen; skipped frames with ``frame_step > 1``
    can) get NaN.
    """
    rows = np.flatnonzero(dataset.index[:, 0] == sequence)
    if len(rows) == 0:
        raise ValueError(f"sequence {sequence} has no window in this dataset")
    x = torch.as_tensor(np.stack([dataset.render(int(i)) for i in rows]).astype(np.float32))
    ig = model_integrated_gradients(model, x, steps).numpy()
    length = len(dataset.sequences[sequence])
    sums = np.zeros((length, len(channels)), dtype=np.float64)
    counts = np.zeros(length, dtype=np.int64)
    for attribution, start in zip(ig, dataset.index[rows, 1]):
        frames = int(start) + np.arange(dataset.window) * dataset.frame_step
        keep = frames < length  # a video shorter than a window is zero-padded at its end
        np.add.at(sums, frames[keep], attribution[keep])
        np.add.at(counts, frames[keep], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], np.nan)
    return TemporalAttribution(values.astype(np.float32), list(channels), counts, int(dataset.video_ids[sequence]))
