"""SequenceRegressor: one continuous target per window (e.g. HRM atypicality) from any sequence net.

Metrics at three levels: window, video (segment: mean of its windows' predictions and targets) and
subject (mean over all the subject's windows): MAE, RMSE, Pearson r and R², logged as
``<stage>/<level>/<metric>``. Checkpoints are picked on ``val/selection_score`` = -(video MAE).

Example (YAML):
    model:
      class_path: lightning_modules.sequence_regressor.SequenceRegressor
      init_args:
        net: {class_path: lightning_modules.nets.RecurrentNet, init_args: {cell: gru, hidden_size: 128, num_layers: 2}}
        loss: huber
        optimizer: {class_path: torch.optim.AdamW, init_args: {lr: 0.001}}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Literal

import pandas as pd
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from lightning_modules.aggregation import gather_unique
from lightning_modules.hparams import save_plain_callables
from lightning_modules.multilabel_metrics import regression_scores
from lightning_modules.nets import RecurrentNet
from lightning_modules.optimization import optimizers_from
from lightning_modules.step_logging import log_step_loss

NetFactory = Callable[[int, int], nn.Module]
LEVELS: tuple[str, ...] = ("window", "video", "subject")
METRICS: tuple[str, ...] = ("mae", "rmse", "ccc", "r", "r2")


def concordance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lin's concordance correlation coefficient (AVEC 2019): ``2 cov / (var_p + var_t + (mean_p - mean_t)²)``
    with population (1/N) moments; NaN when both sides are constant and equal, 0 for a constant prediction.

    >>> round(float(concordance(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 3.0]))), 4)
    0.7273
    """
    p, t = pred.double().flatten(), target.double().flatten()
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
    p, t = pred.double().flatten(), target.double().flatten()
    nan = float("nan")
    if len(p) == 0:
        return dict.fromkeys(METRICS, nan)
    scores = {k: float(v) for k, v in regression_scores(p, t).items()}  # mae, rmse, r (shared with AU intensity)
    ss_tot = float(((t - t.mean()) ** 2).sum())
    scores["r2"] = 1.0 - float(((p - t) ** 2).sum()) / ss_tot if ss_tot > 0 else nan
    scores["ccc"] = float(concordance(p, t))
    return {k: scores[k] for k in METRICS}


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
    """``{level: {"ids", "y", "pred"}}``: windows, and means per video and per subject (over windows)."""
    levels = {"window": {"ids": index, "y": y, "pred": pred}}
    for level, group in (("video", video), ("subject", subject)):
        ids, mean_pred = group_mean(pred, group)
        levels[level] = {"ids": ids, "y": group_mean(y, group)[1], "pred": mean_pred}
    return levels


class SequenceRegressor(pl.LightningModule):
    """Regresses one value per window ``(batch, time, channels)``; batches ``{x, y, video, subject, index}``.

    Args:
        net: ``net(in_channels, 1)`` factory (class_path/init_args); default: the seed's
            ``RecurrentNet(cell="gru", hidden_size=128, num_layers=2)``.
        in_channels, num_classes, class_names: linked from the DataModule (``num_classes`` must be 1;
            ``class_names`` holds the target's name).
        loss: ``huber`` (``huber_delta``), ``mse`` or ``l1``.
        optimizer / lr_scheduler: callables from config (ReduceLROnPlateau monitors ``val/loss``).
    """

    def __init__(self, net: NetFactory | None = None, in_channels: int = 22, num_classes: int = 1,
                 class_names: list[str] | None = None, loss: Literal["huber", "mse", "l1"] = "huber",
                 huber_delta: float = 1.0, optimizer: OptimizerCallable = torch.optim.AdamW,
                 lr_scheduler: LRSchedulerCallable | None = None) -> None:
        super().__init__()
        if num_classes != 1:
            raise ValueError(f"SequenceRegressor predicts one target; the data gives num_classes={num_classes}")
        if loss not in ("huber", "mse", "l1"):
            raise ValueError(f"loss must be huber, mse or l1, got {loss!r}")
        self.save_hyperparameters()
        save_plain_callables(self)  # checkpoints load with weights_only=True
        self.in_channels, self.num_classes = in_channels, 1
        self.class_names = list(class_names or ["target"])
        self.loss_kind, self.huber_delta = loss, huber_delta
        factory = net or (lambda c, k: RecurrentNet(c, k, hidden_size=128, num_layers=2, cell="gru"))
        self.net = factory(in_channels, 1)
        self.optimizer_factory, self.scheduler_factory = optimizer, lr_scheduler
        self._outputs: dict[str, list[dict[str, torch.Tensor]]] = defaultdict(list)
        self.predictions: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
        self.scores: dict[str, dict[str, dict[str, float]]] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` -> ``(B,)`` predictions."""
        return self.net(x).reshape(len(x))

    def loss_fn(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pred, y = pred.float(), y.float()
        if self.loss_kind == "huber":
            return F.huber_loss(pred, y, delta=self.huber_delta)
        return F.mse_loss(pred, y) if self.loss_kind == "mse" else F.l1_loss(pred, y)

    # ---- steps -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred = self(batch["x"])
        loss = self.loss_fn(pred, batch["y"])
        n = len(pred)
        self._outputs["train"].append({"abs": (pred.detach().float() - batch["y"]).abs().sum(), "loss": loss.detach() * n, "n": n})
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
        pred = self(batch["x"])
        self.log(f"{stage}/loss", self.loss_fn(pred, batch["y"]), prog_bar=stage == "val", sync_dist=True,
                 batch_size=len(pred))
        self._outputs[stage].append({"pred": pred.detach().float(), "y": batch["y"].float(), "video": batch["video"],
                                     "subject": batch["subject"], "index": batch["index"]})

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Window predictions with their ids (``trainer.predict``); ids absent from the batch are left out."""
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
        levels = three_levels(data["pred"], data["y"], data["video"], data["subject"], data["index"])
        self.predictions[stage] = {lv: {k: v.detach().cpu() for k, v in d.items()} for lv, d in levels.items()}
        self.scores[stage] = {lv: regression_metrics(d["pred"], d["y"]) for lv, d in levels.items()}
        flat = {f"{stage}/{lv}/{m}": v for lv, s in self.scores[stage].items() for m, v in s.items()}
        self.log_dict(flat)
        if stage == "val":
            self.log("val/selection_score", -self.scores["val"]["video"]["mae"], prog_bar=True)

    # ---- tables ------------------------------------------------------------------------------
    def result_tables(self, stage: str = "test", names: Mapping[str, Mapping[int, str]] | None = None) -> dict[str, pd.DataFrame]:
        """``predictions_<stage>_<level>`` (id, name, target, prediction) and ``metrics_<stage>`` (rows = levels)."""
        if stage not in self.predictions:
            return {}
        names = names or {}
        tables: dict[str, pd.DataFrame] = {}
        for level, d in self.predictions[stage].items():
            ids = d["ids"].tolist()
            lookup = names.get(level, {})
            tables[f"predictions_{stage}_{level}"] = pd.DataFrame(
                {"id": ids, "name": [lookup.get(i, str(i)) for i in ids], "target": d["y"].numpy(),
                 "prediction": d["pred"].numpy()})
        counts = {lv: len(d["ids"]) for lv, d in self.predictions[stage].items()}
        tables[f"metrics_{stage}"] = pd.DataFrame(
            [{"level": lv, "n": counts[lv], **s} for lv, s in self.scores[stage].items()])
        return tables

    # ---- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):  # noqa: ANN201 (Lightning accepts several return shapes)
        return optimizers_from(self.parameters(), self.optimizer_factory, self.scheduler_factory)
