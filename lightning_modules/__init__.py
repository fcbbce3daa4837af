"""Models: LightningModules (tasks), plain nets in ``nets``, losses and metrics."""

from lightning_modules.au_detector import AUDetector
from lightning_modules.base import BaseClassifier
from lightning_modules.cnn_lstm_classifier import CNNLSTMClassifier
from lightning_modules.hybrid_attention_classifier import HybridAttentionClassifier
from lightning_modules.image_classifier import ImageClassifier
from lightning_modules.multimodal import MultimodalClassifier, MultimodalRegressor
from lightning_modules.sequence_classifier import SequenceClassifier
from lightning_modules.sequence_regressor import SequenceRegressor

__all__ = ["AUDetector", "BaseClassifier", "CNNLSTMClassifier", "HybridAttentionClassifier", "ImageClassifier",
           "MultimodalClassifier", "MultimodalRegressor", "SequenceClassifier", "SequenceRegressor"]
