"""Plain ``nn.Module`` nets. Sequence nets take ``(batch, time, channels)``; ``MLP`` takes ``(batch, channels)``.

All return logits ``(batch, num_classes)`` and take ``in_channels, num_classes`` as their first two arguments.
"""

from lightning_modules.nets.cnn_lstm import CNNLSTM, ImageCNN
from lightning_modules.nets.inception_time import InceptionTime
from lightning_modules.nets.mlp import MLP
from lightning_modules.nets.recurrent import RecurrentNet
from lightning_modules.nets.transformer import TransformerEncoderNet

__all__ = ["CNNLSTM", "ImageCNN", "InceptionTime", "MLP", "RecurrentNet", "TransformerEncoderNet"]
