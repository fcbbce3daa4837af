"""Plain ``nn.Module`` nets, no Lightning inside.

Inputs: sequence nets (``RecurrentNet``, ``InceptionTime``, ``TransformerEncoderNet``) take
``(batch, time, channels)``; ``MLP`` takes ``(batch, channels)``; ``ImageCNN`` and
``HybridAttentionNet`` take images ``(batch, channels, H, W)``; ``CNNLSTM`` and
``HybridAttentionNet(temporal=True)`` take clips ``(batch, frames, channels, H, W)``; ``FusionNet`` takes a
dict of views (``aus``, ``landmarks``, ``faces``) with ``present`` ``(batch, views)`` and ``in_channels`` as a dict.

All return logits ``(batch, num_classes)`` and take ``in_channels, num_classes`` as their first two arguments.
"""

from lightning_modules.nets.cnn_lstm import CNNLSTM, ImageCNN
from lightning_modules.nets.fusion import FusionNet
from lightning_modules.nets.hybrid_attention import HybridAttentionNet
from lightning_modules.nets.inception_time import InceptionTime
from lightning_modules.nets.mlp import MLP
from lightning_modules.nets.recurrent import RecurrentNet
from lightning_modules.nets.transformer import TransformerEncoderNet

__all__ = ["CNNLSTM", "FusionNet", "HybridAttentionNet", "ImageCNN", "InceptionTime", "MLP", "RecurrentNet",
           "TransformerEncoderNet"]
