"""AUDetector: multi-label facial action unit detection from face images (Hugging-Rain-Man style).

A timm backbone with a K-logit sigmoid head, and optional AU intensity (0-5) and atypicality
heads. Batches are dicts ``{x, aus, [intensity], [atypicality], video, subject, index}`` with NaN
for unknown labels (masked out of every loss and metric).

Example (YAML):
    model:
      class_path: lightning_modules.AUDetector
      init_args:
        backbone: resnet50
        pretrained: true
        loss: asymmetric
        pos_weight: auto
        tune_thresholds: true
        optimizer: {class_path: torch.optim.AdamW, init_args: {lr: 0.0001}}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from lightning_modules.lean_module import LeanLightningModule
from lightning_modules.aggregation import gather_unique
from lightning_modules.multilabel import LossKind, MultiLabelLoss, masked_regression_loss
from lightning_modules.multilabel_metrics import best_thresholds, flatten_scores, multilabel_scores, regression_scores
from lightning_modules.nets.frame_cnn import timm_backbone
from lightning_modules.optimization import optimizers_from

Batch = dict[str, torch.Tensor]


class AUDetector(LeanLightningModule):
    """Multi-label AU detector: ``sigmoid(Linear(backbone(x)))`` per AU, per-AU thresholds.

    Args:
        backbone / pretrained / weights: the timm model (``weights``: a local file, offline).
        in_channels: image channels (linked from the DataModule).
        num_classes / class_names: number and names of the AUs (linked from the DataModule).
        dropout: before the heads.
        loss: ``bce``, ``focal`` (``focal_gamma``) or ``asymmetric`` (``gamma_neg``, ``gamma_pos``, ``clip``).
        pos_weight: ``auto`` (the DataModule's ``pos_weight()``, training frames, at fit), ``none``, or a list.
        tune_thresholds: per AU, the threshold in [0.05, 0.95] with the best validation F1; else 0.5.
        intensity_head / intensity_loss / intensity_weight: AU intensity regression (0-5), MSE or Huber.
        atypicality_head / atypicality_weight: one atypicality score per frame (Huber, delta 1).
        channels_last: channels-last memory format for the backbone (faster convolutions in bf16/fp16).
        optimizer / lr_scheduler: callables from config.

    Example:
        >>> model = AUDetector("test_resnet", num_classes=3, intensity_head=True)
        >>> {k: tuple(v.shape) for k, v in model(torch.randn(2, 3, 32, 32)).items()}
        {'logits': (2, 3), 'intensity': (2, 3)}
    """

    thresholds: torch.Tensor

    def __init__(
        self,
        backbone: str = "resnet50",
        pretrained: bool = False,
        weights: str | None = None,
        in_channels: int = 3,
        num_classes: int = 22,
        class_names: list[str] | None = None,
        dropout: float = 0.0,
        loss: LossKind = "bce",
        focal_gamma: float = 2.0,
        gamma_neg: float = 4.0,
        gamma_pos: float = 1.0,
        clip: float = 0.05,
        pos_weight: Literal["auto", "none"] | list[float] = "auto",
        tune_thresholds: bool = False,
        intensity_head: bool = False,
        intensity_loss: Literal["mse", "huber"] = "mse",
        intensity_weight: float = 1.0,
        atypicality_head: bool = False,
        atypicality_weight: float = 1.0,
        channels_last: bool = False,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])  # checkpoints load with weights_only=True
        self.class_names = list(class_names) if class_names else [f"AU{i}" for i in range(num_classes)]
        if len(self.class_names) != num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} names for num_classes={num_classes}")
        if isinstance(pos_weight, str) and pos_weight not in ("auto", "none"):
            raise ValueError(f"pos_weight must be 'auto', 'none' or a list, got {pos_weight!r}")
        self.num_classes, self.pos_weight_mode, self.tune_thresholds = num_classes, pos_weight, tune_thresholds
        self.backbone = timm_backbone(backbone, in_channels, pretrained, weights)
        if channels_last:
            self.backbone = self.backbone.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        features = self.backbone.num_features
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({"logits": nn.Linear(features, num_classes)})
        if intensity_head:
            self.heads["intensity"] = nn.Linear(features, num_classes)
        if atypicality_head:
            self.heads["atypicality"] = nn.Linear(features, 1)
        self.loss_fn = MultiLabelLoss(num_classes, loss, focal_gamma, gamma_neg, gamma_pos, clip)
        if isinstance(pos_weight, list):
            self.loss_fn.set_pos_weight(pos_weight)
        self.register_buffer("thresholds", torch.full((num_classes,), 0.5))
        self.head_weights = {"intensity": intensity_weight, "atypicality": atypicality_weight}
        self.intensity_loss = intensity_loss
        self.optimizer_factory, self.scheduler_factory = optimizer, lr_scheduler
        self._outputs: dict[str, list[Batch]] = defaultdict(list)
        self.results: dict[str, Batch] = {}
        self.scores: dict[str, dict[str, float]] = {}

    @property
    def pos_weight(self) -> torch.Tensor:
        """Per-AU positive weights of the loss (a buffer; ones when unweighted)."""
        return self.loss_fn.pos_weight

    def setup(self, stage: str) -> None:
        if stage != "fit" or self.pos_weight_mode != "auto":
            return
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or not hasattr(datamodule, "pos_weight"):
            raise ValueError("pos_weight='auto' needs a DataModule with pos_weight(); set pos_weight: none or a list")
        self.loss_fn.set_pos_weight(datamodule.pos_weight())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"logits": (B, K), ["intensity": (B, K)], ["atypicality": (B,)]}``."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        features = self.dropout(self.backbone(x))
        out = {name: head(features) for name, head in self.heads.items()}
        if "atypicality" in out:
            out["atypicality"] = out["atypicality"].squeeze(1)
        return out

    def _losses(self, out: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        """Per-head losses; a head whose target is missing from the batch gets a zero loss (with grad, for DDP)."""
        losses = {"au": self.loss_fn(out["logits"], batch["aus"])}
        for name, kind in (("intensity", self.intensity_loss), ("atypicality", "huber")):
            if name in out:
                target = batch.get(name, torch.full_like(out[name], float("nan")))
                losses[name] = masked_regression_loss(out[name], target.reshape(out[name].shape), kind)
        return losses

    def _total(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return losses["au"] + sum(self.head_weights[k] * v for k, v in losses.items() if k != "au")

    # ---- steps -----------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        losses = self._losses(self(batch["x"]), batch)
        loss = self._total(losses)
        size = len(batch["x"])
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=size)
        if len(losses) > 1:
            self.log_dict({f"train/loss_{k}": v for k, v in losses.items()}, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def _eval_step(self, batch: Batch, stage: str) -> None:
        out = self(batch["x"])
        loss = self._total(self._losses(out, batch))
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", sync_dist=True, batch_size=len(batch["x"]))
        kept = {"probs": torch.sigmoid(out["logits"].float()), **{k: batch[k] for k in ("aus", "video", "subject", "index")}}
        for name in ("intensity", "atypicality"):
            if name in out and name in batch:
                kept[f"{name}_pred"], kept[name] = out[name].float(), batch[name].float().reshape(out[name].shape)
        self._outputs[stage].append({k: v.detach() for k, v in kept.items()})

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: Batch | torch.Tensor, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        """``probs`` (B, K) (and ``intensity`` clipped to 0-5, ``atypicality``), plus the batch's ids."""
        x = batch["x"] if isinstance(batch, dict) else batch
        out = self(x)
        result = {"probs": torch.sigmoid(out["logits"].float())}
        if "intensity" in out:
            result["intensity"] = out["intensity"].float().clamp(0, 5)
        if "atypicality" in out:
            result["atypicality"] = out["atypicality"].float()
        if isinstance(batch, dict):
            result.update({k: batch[k] for k in ("video", "subject", "index") if k in batch})
        return result

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    # ---- evaluation --------------------------------------------------------------------------
    def _gathered(self, stage: str) -> Batch:
        """All ranks' outputs of this epoch, each frame once (by ``index``)."""
        outputs = self._outputs.pop(stage, [])
        return gather_unique(self, outputs, list(outputs[0])) if outputs else {}

    def _eval_epoch_end(self, stage: str) -> None:
        data = self._gathered(stage)
        if not data:
            return
        if self.tune_thresholds and stage == "val" and not self.trainer.sanity_checking:
            self.thresholds.copy_(best_thresholds(data["probs"], data["aus"]).to(self.thresholds))
        scores = self.evaluate(data, stage)
        self.log_dict(scores)
        if stage == "val":
            self.log("val/selection_score", scores["val/f1_mean"], prog_bar=True)
        self.results[stage] = {k: v.cpu() for k, v in data.items()}
        self.scores[stage] = scores

    def evaluate(self, data: Mapping[str, torch.Tensor], stage: str) -> dict[str, float]:
        """Flat metrics of gathered predictions: per AU and mean F1/accuracy/AUROC, intensity, atypicality."""
        names = self.class_names
        scores = flatten_scores(multilabel_scores(data["probs"], data["aus"], self.thresholds), names, f"{stage}/")
        if self.tune_thresholds:
            scores.update({f"{stage}/threshold/{n}": float(t) for n, t in zip(names, self.thresholds.tolist())})
        if "intensity" in data:
            regression = regression_scores(data["intensity_pred"].clamp(0, 5), data["intensity"])
            scores.update(flatten_scores({f"intensity_{k}": regression[k] for k in ("mae", "r")}, names, f"{stage}/"))
        if "atypicality" in data:
            regression = regression_scores(data["atypicality_pred"], data["atypicality"])
            scores.update({f"{stage}/atypicality_{k}": float(v) for k, v in regression.items()})
        return scores

    # ---- tables ------------------------------------------------------------------------------
    def au_presence_table(self, probs: torch.Tensor, intensity: torch.Tensor | None = None) -> pd.DataFrame:
        """Per frame: ``<AU>_p`` probability, ``<AU>_c`` presence (per-AU threshold), ``<AU>_r`` intensity."""
        probs = probs.detach().float().cpu()
        columns: dict[str, np.ndarray] = {}
        for k, name in enumerate(self.class_names):
            columns[f"{name}_p"] = probs[:, k].numpy()
            columns[f"{name}_c"] = (probs[:, k] >= float(self.thresholds[k])).int().numpy()
            if intensity is not None:
                columns[f"{name}_r"] = intensity[:, k].detach().float().cpu().clamp(0, 5).numpy()
        return pd.DataFrame(columns)

    def result_tables(self, stage: str = "test", names: Mapping[str, Mapping[int, str]] | None = None) -> dict[str, pd.DataFrame]:
        """``predictions_<stage>_frame`` (one row per frame) and ``metrics_<stage>_per_au`` after an evaluation."""
        if stage not in self.results:
            return {}
        data, names = self.results[stage], names or {}
        frames = pd.DataFrame({k: data[k].numpy() for k in ("index", "video", "subject")})
        frame_names = names.get("frame", names.get("window", {}))
        frames.insert(1, "name", [frame_names.get(i, str(i)) for i in frames["index"]])
        frames["video_name"] = [names.get("video", {}).get(i, str(i)) for i in frames["video"]]
        aus = pd.DataFrame(data["aus"].numpy(), columns=[f"{n}_true" for n in self.class_names])
        intensity = data.get("intensity_pred")
        parts = [frames, aus, self.au_presence_table(data["probs"], intensity)]
        if intensity is not None:
            parts.append(pd.DataFrame(data["intensity"].numpy(), columns=[f"{n}_r_true" for n in self.class_names]))
        if "atypicality" in data:
            truth, pred = data["atypicality"].numpy(), data["atypicality_pred"].numpy()
            parts.append(pd.DataFrame({"atypicality_true": truth, "atypicality": pred}))
        scores = self.scores[stage]
        metrics = ["f1", "accuracy", "auroc"] + (["intensity_mae", "intensity_r"] if intensity is not None else [])
        per_au = pd.DataFrame({"au": self.class_names, "threshold": self.thresholds.cpu().numpy()})
        positives = multilabel_scores(data["probs"], data["aus"], self.thresholds.cpu())["positives"]
        per_au["positives"] = pd.array(positives.long().numpy(), dtype="Int64")
        for metric in metrics:
            per_au[metric] = [scores.get(f"{stage}/{metric}/{n}", float("nan")) for n in self.class_names]
        mean = {"au": "mean", **{m: scores.get(f"{stage}/{m}_mean", float("nan")) for m in metrics}}
        per_au = pd.concat([per_au, pd.DataFrame([mean])], ignore_index=True)
        return {f"predictions_{stage}_frame": pd.concat(parts, axis=1), f"metrics_{stage}_per_au": per_au}

    # ---- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):  # noqa: ANN201 (Lightning accepts several return shapes)
        return optimizers_from(self.parameters(), self.optimizer_factory, self.scheduler_factory)
