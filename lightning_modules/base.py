"""BaseClassifier: what every facedep classification task shares.

Loss with class weights (inside the loss module, so they land in the checkpoint), metric
collections per stage, window -> video -> subject aggregation in validation and test, and the
optimiser and scheduler from config. Subclasses only build ``self.net`` and may override
``forward``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from lightning_modules.lean_module import LeanLightningModule
from lightning_modules.aggregation import gather_unique, three_levels
from lightning_modules.losses import ClassificationLoss, LossKind
from lightning_modules.metrics import LEVELS, classification_metrics, confusion_matrix_metric
from lightning_modules.optimization import optimizers_from
from lightning_modules.ordinal import check_ordinal_classes
from lightning_modules.step_logging import log_step_loss
from lightning_modules.thresholds import best_threshold, shift_to_threshold

LevelPredictions = dict[str, torch.Tensor]  # ids, y, probs


class BaseClassifier(LeanLightningModule):
    """Shared training/evaluation logic. Batches are dicts with ``x, y, video, subject, index``.

    Args:
        num_classes: number of classes (linked from the DataModule by the CLI).
        class_names: display names (linked from the DataModule).
        loss: ``ce`` (cross-entropy over K logits), ``bce`` (binary, one logit, pos_weight), or the ordinal
            ``coral`` / ``corn`` (K-1 outputs, :mod:`lightning_modules.ordinal`): the classes must be in
            severity order (checked at setup) and the metrics add ``qwk``, ``mae_classes``, ``recall_<class>``.
        focal_gamma: > 0 turns the loss into focal loss.
        class_weights: ``auto`` (from the DataModule's training labels), ``none``, or a list.
        optimizer / lr_scheduler: callables from config (``class_path`` + ``init_args``).
        tune_threshold: binary only: pick the decision threshold that maximises macro-F1 on the
            validation ``threshold_level`` predictions (100 values in [0.1, 0.9]); it is stored in
            the checkpoint and used for validation and test metrics. Otherwise 0.5 (argmax).
    """

    def __init__(
        self,
        num_classes: int = 2,
        class_names: list[str] | None = None,
        loss: LossKind = "ce",
        focal_gamma: float = 0.0,
        class_weights: Literal["auto", "none"] | list[float] = "auto",
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable | None = None,
        tune_threshold: bool = False,
        threshold_level: Literal["window", "video", "subject"] = "subject",
    ) -> None:
        super().__init__()
        if tune_threshold and num_classes != 2:
            raise ValueError(f"tune_threshold needs a binary task, got num_classes={num_classes}")
        self.tune_threshold, self.threshold_level = tune_threshold, threshold_level
        self.register_buffer("decision_threshold", torch.tensor(0.5))
        self.num_classes = num_classes
        self.class_names = class_names or [str(i) for i in range(num_classes)]
        self.loss_fn = ClassificationLoss(num_classes, kind=loss, focal_gamma=focal_gamma)
        self.class_weights_mode = class_weights
        if isinstance(class_weights, list):
            self.loss_fn.set_class_weights(torch.tensor(class_weights, dtype=torch.float32))
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        ordinal = {"ordinal": self.ordinal, "class_names": self.class_names}
        self.train_metrics = classification_metrics(num_classes, prefix="train/window/", **ordinal)
        self.eval_metrics = nn.ModuleDict(
            {
                f"{stage}_{level}": classification_metrics(num_classes, prefix=f"{stage}/{level}/", sync_on_compute=False,
                                                           **ordinal)
                for stage in ("val", "test")
                for level in LEVELS
            }
        )
        self.confusion = confusion_matrix_metric(num_classes, sync_on_compute=False)
        self._outputs: dict[str, list[dict[str, torch.Tensor]]] = defaultdict(list)
        self.predictions: dict[str, dict[str, LevelPredictions]] = {}
        self.confusion_matrices: dict[str, dict[str, torch.Tensor]] = {}

    @property
    def num_outputs(self) -> int:
        """Logits the net must produce: 1 for ``bce``, ``num_classes - 1`` for ``coral``/``corn``, else ``num_classes``."""
        return self.loss_fn.num_outputs

    @property
    def ordinal(self) -> bool:
        """True when the loss treats the classes as ordered (``coral``, ``corn``); ``metrics.json["ordinal"]``."""
        return self.loss_fn.ordinal

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if self.ordinal:
            self.check_class_order(datamodule)
        weights = getattr(datamodule, "class_weights", None)
        if stage == "fit" and self.class_weights_mode == "auto" and weights is not None:
            self.loss_fn.set_class_weights(weights)

    def check_class_order(self, datamodule: object | None) -> None:
        """An ordinal model refuses classes out of severity order (the DataModule's ``classes`` and ``class_names``)."""
        check_ordinal_classes(getattr(datamodule, "classes", None),
                              getattr(datamodule, "class_names", None) or self.class_names, self.loss_fn.kind)

    # ---- steps -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch["x"])
        loss = self.loss_fn(logits, batch["y"])
        self._record_training_step(loss, logits, batch["y"])
        return loss

    def _record_training_step(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Keep this step's outputs for the epoch metrics; log the step loss every ``log_every_n_steps``.

        A metric ``update`` costs about 1 ms per call in torchmetrics, a visible share of a small model's
        step, so the epoch's logits are kept (detached) on the device and turned into probabilities and
        metrics once per epoch (``on_train_epoch_end``): no torch op per step beyond the two detaches; the
        step loss: see :mod:`lightning_modules.step_logging`.
        """
        self._outputs["train"].append({"logits": logits.detach(), "y": y, "loss": loss.detach(), "n": len(y)})
        log_step_loss(self, loss, len(y))

    def on_train_epoch_end(self) -> None:
        outputs = self._outputs.pop("train", [])
        if not outputs:
            return
        probs = self.loss_fn.probabilities(torch.cat([o["logits"] for o in outputs]).float())
        self.train_metrics.update(probs, torch.cat([o["y"] for o in outputs]))
        self.log_dict(self.train_metrics.compute())
        self.train_metrics.reset()
        sizes = torch.tensor([o["n"] for o in outputs], dtype=torch.float32, device=outputs[0]["loss"].device)
        total = (torch.stack([o["loss"].float() for o in outputs]) * sizes).sum()
        self.log("train/loss_epoch", total / sizes.sum(), sync_dist=True)

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        logits = self(batch["x"])
        loss = self.loss_fn(logits, batch["y"])
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", sync_dist=True, batch_size=len(batch["y"]))
        self._outputs[stage].append(
            {
                "probs": self.loss_fn.probabilities(logits.float()).detach(),
                "y": batch["y"],
                "video": batch["video"],
                "subject": batch["subject"],
                "index": batch["index"],
            }
        )

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    # ---- aggregation -------------------------------------------------------------------------
    def _gathered(self, stage: str) -> dict[str, torch.Tensor]:
        """All ranks' outputs of this epoch, each sample once."""
        return gather_unique(self, self._outputs.pop(stage, []), ("probs", "y", "video", "subject", "index"))

    def _eval_epoch_end(self, stage: str) -> None:
        data = self._gathered(stage)
        if len(data["index"]) == 0:
            return
        levels = three_levels(data["probs"], data["y"], data["video"], data["subject"], data["index"])
        if self.tune_threshold and stage == "val" and not self.trainer.sanity_checking:
            chosen = levels[self.threshold_level]
            self.decision_threshold.fill_(best_threshold(chosen["probs"][:, 1], chosen["y"]))
        if self.num_classes == 2:
            self.log(f"{stage}/threshold", self.decision_threshold)
        self.predictions[stage] = {k: {n: t.detach().cpu() for n, t in v.items()} for k, v in levels.items()}
        self.confusion_matrices[stage] = {}
        computed: dict[str, dict[str, torch.Tensor]] = {}
        for level, pred in levels.items():
            metrics = self.eval_metrics[f"{stage}_{level}"]
            decided = shift_to_threshold(pred["probs"], float(self.decision_threshold)) if self.num_classes == 2 else pred["probs"]
            metrics.update(decided, pred["y"])
            computed[level] = metrics.compute()
            self.log_dict(computed[level], prog_bar=stage == "val" and level == "subject")
            metrics.reset()
            self.confusion.update(decided, pred["y"])
            self.confusion_matrices[stage][level] = self.confusion.compute().cpu()
            self.confusion.reset()
        if stage in ("val", "test"):
            self._log_selection_score(levels, computed["subject"][f"{stage}/subject/macro_f1"], stage)

    def _log_selection_score(self, levels: dict[str, dict[str, torch.Tensor]], subject_f1: torch.Tensor, stage: str = "val") -> None:
        """``<stage>/selection_score``: subject macro-F1 minus 0.001 x window NLL (ties go to the better-calibrated epoch).

        Small validation sets often give the same macro-F1 for many epochs; without the tie-break the
        checkpoint callback would keep the first (least trained) of them. The test value is the same
        formula on the test subjects (a tuned run's outer score, beside its best inner validation score).
        """
        windows = levels["window"]
        nll = -torch.log(windows["probs"].gather(1, windows["y"].long().unsqueeze(1)).clamp_min(1e-7)).mean()
        self.log(f"{stage}/selection_score", subject_f1.to(nll.device) - 1e-3 * nll)

    # ---- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):  # noqa: ANN201 (Lightning accepts several return shapes)
        return optimizers_from(self.parameters(), self.optimizer_factory, self.scheduler_factory)
