"""SyncBatchNorm that keeps timm's fused BatchNorm + activation layers intact.

Lightning's ``sync_batchnorm: true`` uses torch's ``convert_sync_batchnorm``, which turns timm's
``BatchNormAct2d`` (MobileNetV2, EfficientNet, ...) into a plain ``SyncBatchNorm`` and so drops the
activation that the layer applied: the model silently changes. This plugin converts with timm's own
``convert_sync_batchnorm`` (``BatchNormAct2d`` -> ``SyncBatchNormAct``, activation kept) and reverts
``SyncBatchNormAct`` back to ``BatchNormAct2d`` at teardown, so checkpoints hold the original layers.

Use it with ``sync_batchnorm: true`` (configs/trainer/ddp.yaml)::

    trainer:
      sync_batchnorm: true
      plugins: [{class_path: facedep.experiment.sync_batchnorm.TimmSyncBatchNorm}]

Example:
    >>> import timm, torch
    >>> net = timm.create_model("test_efficientnet", num_classes=2).eval()
    >>> synced = TimmSyncBatchNorm().apply(net)
    >>> sorted({type(m).__name__ for m in synced.modules() if "SyncBatchNorm" in type(m).__name__})
    ['SyncBatchNormAct']
    >>> sorted({type(m).__name__ for m in TimmSyncBatchNorm().revert(synced).modules() if "BatchNorm" in type(m).__name__})
    ['BatchNormAct2d']
"""

from __future__ import annotations

import torch
from pytorch_lightning.plugins import TorchSyncBatchNorm
from torch import nn


class TimmSyncBatchNorm(TorchSyncBatchNorm):
    """A Lightning ``LayerSync`` plugin: timm-aware conversion to and from synchronised BatchNorm."""

    def apply(self, model: nn.Module) -> nn.Module:
        from timm.layers import convert_sync_batchnorm

        return convert_sync_batchnorm(model)

    def revert(self, model: nn.Module) -> nn.Module:
        from timm.layers import BatchNormAct2d, SyncBatchNormAct

        if isinstance(model, SyncBatchNormAct):
            reverted = BatchNormAct2d(model.num_features, model.eps, model.momentum, model.affine,
                                      model.track_running_stats, apply_act=False)
            reverted.act, reverted.drop = model.act, model.drop
            _copy_batchnorm_state(model, reverted)
            for name, child in model.named_children():
                if name not in ("act", "drop"):
                    reverted.add_module(name, self.revert(child))
            return reverted
        if isinstance(model, nn.SyncBatchNorm):
            return super().revert(model)
        for name, child in model.named_children():
            model.add_module(name, self.revert(child))
        return model


def _copy_batchnorm_state(source: nn.modules.batchnorm._BatchNorm, target: nn.modules.batchnorm._BatchNorm) -> None:
    if source.affine:
        with torch.no_grad():
            target.weight, target.bias = source.weight, source.bias
    target.running_mean, target.running_var = source.running_mean, source.running_var
    target.num_batches_tracked = source.num_batches_tracked
    target.training = source.training
