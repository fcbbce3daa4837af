"""Optuna pruning from a ``pytorch_lightning`` Trainer: report the validation score each epoch, stop a bad trial.

Optuna's own ``optuna_integration.PyTorchLightningPruningCallback`` subclasses ``lightning.pytorch.Callback``
(the ``lightning`` package); facedep's Trainer is ``pytorch_lightning``'s, which refuses callbacks of the other
package. This callback keeps Optuna's semantics (``trial.report`` at the end of every validation, outside the
sanity check; ``trial.should_prune()`` decides, with the study's pruner) and, under DDP, rank zero decides and
the decision is broadcast so that every rank stops at the same epoch.

Inner folds run one after another inside one trial: fold ``k`` reports at step ``k * max_epochs + epoch``, so
the pruner compares a trial's fold-k epoch-e score with the other trials' fold-k epoch-e scores.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from pytorch_lightning import Callback, LightningModule, Trainer


class TrialPruning(Callback):
    """Report ``monitor`` to ``trial`` after each validation epoch; raise :class:`optuna.TrialPruned` when the
    pruner says so (the trial is then recorded as PRUNED at that step)."""

    def __init__(self, trial: optuna.Trial, monitor: str = "val/selection_score", step_offset: int = 0) -> None:
        super().__init__()
        self.trial, self.monitor, self.step_offset = trial, monitor, int(step_offset)
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            warnings.warn(f"pruning: {self.monitor!r} was not logged this epoch (logged: {sorted(trainer.callback_metrics)})")
            return
        step = self.step_offset + int(pl_module.current_epoch)
        prune = False
        if trainer.is_global_zero:
            self.trial.report(float(score), step=step)
            prune = bool(self.trial.should_prune())
        if trainer.world_size > 1:
            prune = bool(trainer.strategy.broadcast(prune))
        if prune:
            self.pruned_at = step
            raise optuna.TrialPruned(f"pruned at epoch {pl_module.current_epoch} (step {step}): {self.monitor} = {float(score):.4f}")


def epochs_of(trainer_config: dict[str, Any], default: int = 1000) -> int:
    """``trainer.max_epochs`` of a resolved config (the step stride between inner folds); ``default`` when unset.

    >>> epochs_of({"max_epochs": 12}), epochs_of({"max_epochs": None}), epochs_of({})
    (12, 1000, 1000)
    """
    value = trainer_config.get("max_epochs")
    return int(value) if isinstance(value, int) and value > 0 else default
