"""Models: LightningModules (tasks), plain nets in ``nets``, losses and metrics."""

from lightning_modules.base import BaseClassifier
from lightning_modules.cnn_lstm_classifier import CNNLSTMClassifier
from lightning_modules.hybrid_attention_classifier import HybridAttentionClassifier
from lightning_modules.sequence_classifier import SequenceClassifier

__all__ = ["BaseClassifier", "CNNLSTMClassifier", "HybridAttentionClassifier", "SequenceClassifier"]

from lightning_modules.au_detector import AUDetector  # noqa: E402

__all__ += ["AUDetector"]
