"""CNNLSTMClassifier: the landmark pseudo-image task (seed system 3) with its defaults.

A :class:`SequenceClassifier` whose net defaults to the seed's CNN-LSTM, with a binary
BCE loss (``pos_weight`` from the training labels), and the decision threshold tuned on
validation subjects (macro-F1, 100 values in [0.1, 0.9]). For the temporal pseudo-image use
``net: lightning_modules.nets.ImageCNN``; for a timm per-frame CNN set ``net.init_args.backbone``.

Example (YAML):
    model:
      class_path: lightning_modules.CNNLSTMClassifier
      init_args: {focal_gamma: 2.0, net: {class_path: lightning_modules.nets.CNNLSTM}}
"""

from __future__ import annotations

from typing import Any, Literal

from lightning_modules.nets import CNNLSTM
from lightning_modules.sequence_classifier import NetFactory, SequenceClassifier


class CNNLSTMClassifier(SequenceClassifier):
    """Seed-3 defaults on top of :class:`SequenceClassifier` (see the module docstring).

    Args:
        net: per-sample net (default :class:`~lightning_modules.nets.CNNLSTM`).
        in_channels: image channels (3 for pseudo-images; linked from the DataModule).
        loss: ``bce`` (default, one logit) or ``ce``.
        tune_threshold: pick the decision threshold on validation (default on).
        **kwargs: see :class:`~lightning_modules.base.BaseClassifier`.
    """

    def __init__(
        self,
        net: NetFactory = CNNLSTM,
        in_channels: int = 3,
        loss: Literal["ce", "bce"] = "bce",
        tune_threshold: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(net=net, in_channels=in_channels, loss=loss, tune_threshold=tune_threshold, **kwargs)
