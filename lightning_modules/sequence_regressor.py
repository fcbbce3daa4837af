"""SequenceRegressor: one continuous target per window (HRM atypicality, PHQ-8 score) from any ``net(in_channels, 1)``.

With the DataModule's ``target_stats`` (score targets) the net learns the standardised target
``z = (y - mean) / std``; its predictions ``z * std + mean`` are clipped to the score range ``[low, high]``.
Mean, std, range and screening threshold live in buffers (NaN where absent), so a checkpoint loaded later
de-standardises the same way. Without ``target_stats`` (the HRM DataModule) nothing is standardised or
clipped and no binary or baseline metric is computed.

Metrics (:mod:`lightning_modules.regression_evaluation`) at three levels: window, video (mean of its
windows) and subject (mean over all the subject's windows), logged as ``<stage>/<level>/<metric>``:
mae, rmse, ccc, r, r2; with a threshold accuracy, balanced_accuracy, macro_f1, sensitivity, specificity,
auroc of the thresholded score; with a mean baseline_{mae,rmse,ccc} (every sample predicted as the training
subjects' mean). Checkpoints are picked on ``val/selection_score``: -MAE (``selection_metric: mae``) or CCC
(``ccc``; an undefined CCC, e.g. of constant predictions, counts as -1) at ``selection_level``.

Example (YAML):
    model:
      class_path: lightning_modules.sequence_regressor.SequenceRegressor
      init_args:
        net: {class_path: lightning_modules.nets.RecurrentNet, init_args: {cell: gru, hidden_size: 128, num_layers: 2}}
        loss: ccc
        selection_metric: ccc
        optimizer: {class_path: torch.optim.AdamW, init_args: {lr: 0.001}}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pandas as pd
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from lightning_modules.lean_module import LeanLightningModule
from lightning_modules.aggregation import gather_unique
from lightning_modules.hparams import save_plain_callables
from lightning_modules.nets import RecurrentNet
from lightning_modules.optimization import optimizers_from
from lightning_modules.regression_evaluation import (  # noqa: F401 (re-exported: the regressor's metrics API)
    LEVELS,
    METRICS,
    TargetScale,
    concordance,
    evaluate_regression,
    group_mean,
    regression_metrics,
    regression_tables,
    three_levels,
)
from lightning_modules.regression_losses import LOSSES, RegressionLossKind, regression_loss
from lightning_modules.step_logging import log_step_loss

NetFactory = Callable[[int, int], nn.Module]
SCALE_BUFFERS: dict[str, str] = {"mean": "target_mean", "std": "target_std", "low": "target_low", "high": "target_high",
                                 "threshold": "target_threshold"}
"""TargetScale field -> buffer name."""


def selection_score(scores: Mapping[str, float], metric: str) -> float:
    """``val/selection_score`` from one level's scores: -MAE, or CCC with NaN counted as -1 (never the best).

    >>> selection_score({"mae": 2.5, "ccc": 0.4}, "mae"), selection_score({"mae": 0.0, "ccc": float("nan")}, "ccc")
    (-2.5, -1.0)
    """
    if metric == "mae":
        return -scores["mae"]
    ccc = scores["ccc"]
    return -1.0 if math.isnan(ccc) else ccc


class SequenceRegressor(LeanLightningModule):
    """Regresses one value per window; batches ``{x, y, video, subject, index}`` (``x``: what ``net`` takes).

    Args:
        net: ``net(in_channels, 1)`` factory (class_path/init_args); default: the seed's
            ``RecurrentNet(cell="gru", hidden_size=128, num_layers=2)``.
        in_channels, num_classes, class_names: linked from the DataModule (``num_classes`` must be 1;
            ``class_names`` holds the target's name).
        loss: ``huber`` (``huber_delta``), ``mse``, ``l1`` or ``ccc`` (1 - batch CCC); on the standardised target.
        standardize_target: learn ``(y - mean) / std`` with the DataModule's ``target_stats`` (no-op without them).
        clip: clip predictions to the target range ``[low, high]`` of ``target_stats`` (no-op without one).
        selection_metric / selection_level: ``val/selection_score`` = -MAE or CCC of that level.
        optimizer / lr_scheduler: callables from config (ReduceLROnPlateau monitors ``val/loss``).
    """

    def __init__(self, net: NetFactory | None = None, in_channels: int = 22, num_classes: int = 1,
                 class_names: list[str] | None = None, loss: RegressionLossKind = "huber",
                 huber_delta: float = 1.0, standardize_target: bool = True, clip: bool = True,
                 selection_metric: Literal["mae", "ccc"] = "mae",
                 selection_level: Literal["window", "video", "subject"] = "video",
                 optimizer: OptimizerCallable = torch.optim.AdamW,
                 lr_scheduler: LRSchedulerCallable | None = None) -> None:
        super().__init__()
        if num_classes != 1:
            raise ValueError(f"SequenceRegressor predicts one target; the data gives num_classes={num_classes}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if selection_metric not in ("mae", "ccc"):
            raise ValueError(f"selection_metric must be mae or ccc, got {selection_metric!r}")
        if selection_level not in LEVELS:
            raise ValueError(f"selection_level must be one of {', '.join(LEVELS)}, got {selection_level!r}")
        self.save_hyperparameters()
        save_plain_callables(self)  # checkpoints load with weights_only=True
        self.in_channels, self.num_classes = in_channels, 1
        self.class_names = list(class_names or ["target"])
        self.loss_kind, self.huber_delta = loss, huber_delta
        self.standardize_target, self.clip = standardize_target, clip
        self.selection_metric, self.selection_level = selection_metric, selection_level
        for buffer in SCALE_BUFFERS.values():
            self.register_buffer(buffer, torch.tensor(float("nan"), dtype=torch.float64))
        factory = net or (lambda c, k: RecurrentNet(c, k, hidden_size=128, num_layers=2, cell="gru"))
        self.net = factory(in_channels, 1)
        self.optimizer_factory, self.scheduler_factory = optimizer, lr_scheduler
        self._outputs: dict[str, list[dict[str, torch.Tensor]]] = defaultdict(list)
        self.predictions: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
        self.scores: dict[str, dict[str, dict[str, float]]] = {}

    # ---- target scale ------------------------------------------------------------------------
    @property
    def target_scale(self) -> TargetScale | None:
        """The scale held in the buffers; None when none was set (no ``target_stats``)."""
        values = {field: float(getattr(self, buffer)) for field, buffer in SCALE_BUFFERS.items()}
        if all(math.isnan(v) for v in values.values()):
            return None
        return TargetScale(name=self.class_names[0], **values)

    def set_target_scale(self, scale: TargetScale | None) -> None:
        """Store ``scale`` in the buffers (None: all NaN, i.e. raw targets, no clipping, no binary metrics)."""
        for field, buffer in SCALE_BUFFERS.items():
            value = getattr(scale, field) if scale is not None else None
            getattr(self, buffer).fill_(float("nan") if value is None else value)

    def setup(self, stage: str) -> None:
        """Read the DataModule's ``target_stats`` when fitting (or when no scale is held yet)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        stats = getattr(datamodule, "target_stats", None)
        if stats is not None and (stage == "fit" or self.target_scale is None):
            self.set_target_scale(TargetScale.from_stats(stats))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Checkpoints from before the scale buffers load as unscaled (NaN buffers)."""
        state = checkpoint.get("state_dict")
        if state is not None:
            for buffer in SCALE_BUFFERS.values():
                state.setdefault(buffer, torch.tensor(float("nan"), dtype=torch.float64))

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> SequenceRegressor:
        """Moves and casts as any module, except that the scale buffers stay float64 (``bf16-true`` would round
        a mean of 12.08 to 12.06)."""
        kept = {name: self._buffers[name] for name in SCALE_BUFFERS.values() if name in self._buffers}
        super()._apply(fn, recurse)
        for name, value in kept.items():
            self._buffers[name] = value.to(device=self._buffers[name].device)
        return self

    def _shift_and_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` of the standardisation: ``(0, 1)`` when off or unset; a zero or missing std counts as 1."""
        mean, std = self.target_mean.float(), self.target_std.float()
        if not self.standardize_target:
            return torch.zeros_like(mean), torch.ones_like(std)
        return torch.where(torch.isfinite(mean), mean, 0.0), torch.where(torch.isfinite(std) & (std > 0), std, 1.0)

    def standardize(self, y: torch.Tensor) -> torch.Tensor:
        """Targets in the units the net learns."""
        mean, std = self._shift_and_scale()
        return (y.float() - mean) / std

    def to_target_units(self, z: torch.Tensor) -> torch.Tensor:
        """Net outputs -> predictions: ``z * std + mean``, clipped to ``[low, high]`` (with ``clip`` and a range)."""
        mean, std = self._shift_and_scale()
        pred = z.float() * std + mean
        if self.clip:
            low, high = self.target_low.float(), self.target_high.float()
            pred = torch.where(torch.isnan(low), pred, torch.maximum(pred, low))
            pred = torch.where(torch.isnan(high), pred, torch.minimum(pred, high))
        return pred

    # ---- forward and loss --------------------------------------------------------------------
    def net_output(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ...)`` -> ``(B,)`` raw (standardised) net outputs."""
        return self.net(x).reshape(len(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ...)`` -> ``(B,)`` predictions in target units."""
        return self.to_target_units(self.net_output(x))

    def loss_fn(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The configured loss of (standardised) predictions against (standardised) targets."""
        return regression_loss(self.loss_kind, pred, y, self.huber_delta)

    # ---- steps -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        z = self.net_output(batch["x"])
        loss = self.loss_fn(z, self.standardize(batch["y"]))
        pred, n = self.to_target_units(z.detach()), len(z)
        self._outputs["train"].append({"abs": (pred - batch["y"].float()).abs().sum(), "loss": loss.detach() * n, "n": n})
        log_step_loss(self, loss, n)
        return loss

    def on_train_epoch_end(self) -> None:
        outputs = self._outputs.pop("train", [])
        if not outputs:
            return
        count = sum(o["n"] for o in outputs)
        self.log("train/loss_epoch", torch.stack([o["loss"] for o in outputs]).sum() / count, sync_dist=True)
        self.log("train/window/mae", torch.stack([o["abs"] for o in outputs]).sum() / count, sync_dist=True)

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        z = self.net_output(batch["x"])
        self.log(f"{stage}/loss", self.loss_fn(z, self.standardize(batch["y"])), prog_bar=stage == "val",
                 sync_dist=True, batch_size=len(z))
        self._outputs[stage].append({"pred": self.to_target_units(z.detach()), "y": batch["y"].float(),
                                     "video": batch["video"], "subject": batch["subject"], "index": batch["index"]})

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Window predictions (target units) with their ids (``trainer.predict``); ids absent from the batch are left out."""
        out = {"prediction": self(batch["x"]).float()}
        out.update({k: batch[k] for k in ("video", "subject", "index") if k in batch})
        return out

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def _gathered(self, stage: str) -> dict[str, torch.Tensor]:
        """All ranks' outputs of this epoch, each window once (by ``index``)."""
        data = gather_unique(self, self._outputs.pop(stage, []), ("pred", "y", "video", "subject", "index"))
        return {k: v.long() if k in ("index", "video", "subject") else v for k, v in data.items()}

    def _eval_epoch_end(self, stage: str) -> None:
        data = self._gathered(stage)
        if len(data["index"]) == 0:
            return
        levels, scores = evaluate_regression(data["pred"], data["y"], data["video"], data["subject"], data["index"],
                                             self.target_scale)
        self.predictions[stage], self.scores[stage] = levels, scores
        self.log_dict({f"{stage}/{lv}/{m}": v for lv, s in scores.items() for m, v in s.items()})
        if stage in ("val", "test"):  # test: the tuned run's outer score
            self.log(f"{stage}/selection_score", selection_score(scores[self.selection_level], self.selection_metric),
                     prog_bar=stage == "val")

    # ---- tables ------------------------------------------------------------------------------
    def result_tables(self, stage: str = "test", names: Mapping[str, Mapping[int, str]] | None = None) -> dict[str, pd.DataFrame]:
        """``predictions_<stage>_<level>`` (id, name, target, prediction [, subject]) and ``metrics_<stage>`` (rows = levels)."""
        if stage not in self.predictions:
            return {}
        return regression_tables(self.predictions[stage], self.scores[stage], names, stage)

    # ---- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):  # noqa: ANN201 (Lightning accepts several return shapes)
        return optimizers_from(self.parameters(), self.optimizer_factory, self.scheduler_factory)
