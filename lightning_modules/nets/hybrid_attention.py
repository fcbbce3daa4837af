"""Hybrid multi-backbone CNN + transformer over spatial tokens (and, optionally, over frames).

The seed system (SEEDS.md section 4) pools MobileNetV2 and ResNet50 globally, concatenates the two
vectors and feeds a transformer block a sequence of length 1, so its attention is degenerate. Here
every backbone's last feature map is projected (1x1 conv) to ``d_model`` and flattened into spatial
tokens; tokens get a learned 2D position embedding (per backbone) and a learned source embedding,
the tokens of all backbones are concatenated behind a CLS token, and a pre-norm transformer encoder
attends across the positions of both backbones. ``temporal=True`` adds a second transformer over the
per-frame CLS embeddings of a clip.

Example (tiny timm test models, random weights):
    >>> import torch
    >>> net = HybridAttentionNet(3, 2, backbones=("test_resnet", "test_efficientnet"), img_size=64,
    ...                          d_model=32, nhead=2, dim_feedforward=64)
    >>> net(torch.randn(2, 3, 64, 64)).shape
    torch.Size([2, 2])
    >>> tokens, grids = net.embed_images(torch.randn(2, 3, 64, 64))
    >>> tokens.shape, grids  # 1 CLS + 2*2 + 2*2 spatial tokens
    (torch.Size([2, 9, 32]), [(2, 2), (2, 2)])
    >>> {k: v.shape for k, v in net.eval().attention_maps(torch.randn(2, 3, 64, 64)).items()}
    {'test_resnet': torch.Size([2, 2, 2]), 'test_efficientnet': torch.Size([2, 2, 2])}
    >>> clip_net = HybridAttentionNet(3, 2, backbones=("test_resnet", "test_efficientnet"), img_size=64,
    ...                               d_model=32, nhead=2, dim_feedforward=64, temporal=True, max_frames=8)
    >>> clip_net(torch.randn(2, 5, 3, 64, 64)).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.nets.layers import encoder_stack


def build_feature_backbone(
    name: str, in_channels: int, pretrained: bool = False, weights: str | None = None, stage: int = -1
) -> nn.Module:
    """A timm ``features_only`` model returning one feature map (``stage``: -1 = the last).

    ``weights`` is a local checkpoint (offline). It is loaded by timm itself through
    ``pretrained_cfg_overlay={"file": weights}`` *before* the feature wrapper is built, so it may be a
    full classifier state_dict (classifier/head keys are dropped) or one saved from a ``features_only``
    model; with ``in_channels != 3`` timm adapts the first convolution as for hub weights.
    """
    import timm

    kwargs: dict = {}
    if weights is not None:
        if not Path(weights).is_file():
            raise FileNotFoundError(f"backbone weights {weights} for {name!r} do not exist")
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
        pretrained = True
    return timm.create_model(
        name, pretrained=pretrained, features_only=True, out_indices=(stage,), in_chans=in_channels, **kwargs
    )


def reference_grid(backbone: nn.Module, img_size: tuple[int, int]) -> tuple[int, int]:
    """Feature-map size of ``backbone`` at input ``img_size`` (from its total stride, rounded up)."""
    reduction = backbone.feature_info.reduction()[-1]
    return math.ceil(img_size[0] / reduction), math.ceil(img_size[1] / reduction)


def layer_attention(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """Head-averaged self-attention weights ``(B, L, L)`` that ``layer`` computes on its input ``x``."""
    h = layer.norm1(x) if layer.norm_first else x
    _, weights = layer.self_attn(h, h, h, need_weights=True, average_attn_weights=True)
    return weights


class HybridAttentionNet(nn.Module):
    """Several timm backbones -> spatial tokens -> [CLS] transformer encoder -> LayerNorm -> Linear.

    Args:
        in_channels: image channels (timm adapts the stem when not 3).
        num_classes: number of logits.
        backbones: timm model names; each must support ``features_only``.
        pretrained: download timm's pretrained weights (needs internet; prefer ``weights``).
        weights: local weight files per backbone name (offline); see ``build_feature_backbone``.
        freeze_backbones: no gradients for the backbones, which also stay in eval mode (BatchNorm
            statistics are not updated) even after ``.train()``.
        d_model, nhead, num_layers, dim_feedforward, dropout: the spatial transformer encoder.
        temporal: input is a clip ``(B, T, C, H, W)``; per-frame CLS embeddings go through a second
            transformer (``temporal_layers`` layers) with frame positions and its own CLS token.
        max_frames: longest clip accepted in temporal mode.
        img_size: reference input size that sizes the 2D position tables; other sizes interpolate.
        temporal_layers: layers of the frame transformer.
        feature_stage: which backbone stage gives the tokens (-1: the last, as the seed's pooled
            features; -2, -3: finer grids, e.g. when training small backbones from scratch).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        backbones: tuple[str, ...] = ("mobilenetv2_100", "resnet50"),
        pretrained: bool = False,
        weights: dict[str, str] | None = None,
        freeze_backbones: bool = True,
        d_model: int = 256,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 512,
        dropout: float = 0.1,
        temporal: bool = False,
        max_frames: int = 64,
        img_size: int | tuple[int, int] = 224,
        temporal_layers: int = 1,
        feature_stage: int = -1,
    ) -> None:
        super().__init__()
        backbones = tuple(backbones)
        weights = dict(weights or {})
        if not backbones:
            raise ValueError("HybridAttentionNet needs at least one backbone")
        if d_model % nhead != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        unknown = set(weights) - set(backbones)
        if unknown:
            raise ValueError(f"weights given for {sorted(unknown)}, which are not in backbones={backbones}")
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.in_channels = in_channels
        self.backbone_names = backbones
        self.freeze_backbones = freeze_backbones
        self.temporal = temporal
        self.max_frames = max_frames

        self.backbones = nn.ModuleList(
            build_feature_backbone(n, in_channels, pretrained, weights.get(n), feature_stage) for n in backbones
        )
        self.projections = nn.ModuleList(
            nn.Conv2d(b.feature_info.channels()[-1], d_model, kernel_size=1) for b in self.backbones
        )
        self.pos_embeddings = nn.ParameterList(
            nn.Parameter(torch.zeros(1, d_model, *reference_grid(b, size))) for b in self.backbones
        )
        self.source_embedding = nn.Parameter(torch.zeros(len(backbones), d_model))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.embed_dropout = nn.Dropout(dropout)
        self.encoder = encoder_stack(d_model, nhead, num_layers, dim_feedforward, dropout)
        if temporal:
            self.frame_norm = nn.LayerNorm(d_model)
            self.frame_cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
            self.frame_pos_embedding = nn.Parameter(torch.zeros(1, max_frames + 1, d_model))  # +1 for CLS
            self.temporal_encoder = encoder_stack(d_model, nhead, temporal_layers, dim_feedforward, dropout)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, num_classes))
        self._init_embeddings()
        if freeze_backbones:
            self.backbones.requires_grad_(False)
            self.backbones.eval()

    def _init_embeddings(self) -> None:
        for p in [*self.pos_embeddings, self.source_embedding, self.cls_token]:
            nn.init.trunc_normal_(p, std=0.02)
        if self.temporal:
            nn.init.trunc_normal_(self.frame_cls_token, std=0.02)
            nn.init.trunc_normal_(self.frame_pos_embedding, std=0.02)

    def train(self, mode: bool = True) -> HybridAttentionNet:
        """Like ``nn.Module.train``, but frozen backbones stay in eval mode."""
        super().train(mode)
        if self.freeze_backbones:
            self.backbones.eval()
        return self

    # ----------------------------------------------------------------------------- spatial tokens
    def _position(self, k: int, h: int, w: int) -> torch.Tensor:
        """Position embedding ``(1, h*w, d_model)`` of backbone ``k``, interpolated to ``(h, w)`` if needed."""
        pos = self.pos_embeddings[k]
        if pos.shape[-2:] != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode="bilinear", align_corners=False)
        return pos.flatten(2).transpose(1, 2)

    def _backbone_tokens(self, k: int, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Tokens ``(B, h*w, d_model)`` of backbone ``k`` (with position + source embedding) and its grid."""
        fmap = self.projections[k](self.backbones[k](x)[-1])
        h, w = fmap.shape[-2:]
        tokens = fmap.flatten(2).transpose(1, 2)  # works for any memory format
        tokens = tokens + self._position(k, h, w) + self.source_embedding[k]
        return tokens, (h, w)

    def embed_images(self, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Images ``(B, C, H, W)`` -> tokens ``(B, 1 + sum h_k*w_k, d_model)`` (CLS first) and the grids."""
        parts, grids = [], []
        for k in range(len(self.backbones)):
            tokens, grid = self._backbone_tokens(k, x)
            parts.append(tokens)
            grids.append(grid)
        cls = self.cls_token.expand(x.shape[0], -1, -1).to(parts[0].dtype)
        tokens = torch.cat([cls, *parts], dim=1)
        return self.embed_dropout(tokens), grids

    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> CLS output of the spatial encoder ``(B, d_model)`` (before the head norm)."""
        tokens, _ = self.embed_images(x)
        return self.encoder(tokens)[:, 0]

    # ----------------------------------------------------------------------------- forward
    def _check_input(self, x: torch.Tensor) -> None:
        expected = 5 if self.temporal else 4
        layout = "(batch, frames, channels, height, width)" if self.temporal else "(batch, channels, height, width)"
        name = type(self).__name__
        if x.ndim != expected:
            raise ValueError(f"{name} (temporal={self.temporal}) expects {layout}; got shape {tuple(x.shape)}")
        if x.shape[-3] != self.in_channels:
            raise ValueError(f"{name} was built for in_channels={self.in_channels}; got {x.shape[-3]} channels")
        if self.temporal and not 1 <= x.shape[1] <= self.max_frames:
            raise ValueError(f"{name}: clip length {x.shape[1]} not in [1, max_frames={self.max_frames}]")

    def _encode_clip(self, x: torch.Tensor) -> torch.Tensor:
        """Clips ``(B, T, C, H, W)`` -> CLS output of the frame transformer ``(B, d_model)``."""
        b, t = x.shape[:2]
        frames = self.frame_norm(self.encode_images(x.flatten(0, 1))).reshape(b, t, -1)
        cls = self.frame_cls_token.expand(b, -1, -1).to(frames.dtype)
        tokens = torch.cat([cls, frames], dim=1) + self.frame_pos_embedding[:, : t + 1]
        return self.temporal_encoder(self.embed_dropout(tokens))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` (or clips ``(B, T, C, H, W)`` when ``temporal``) -> logits ``(B, num_classes)``."""
        self._check_input(x)
        feats = self._encode_clip(x) if self.temporal else self.encode_images(x)
        return self.head(feats)

    # ----------------------------------------------------------------------------- explanation
    def attention_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """CLS-token attention of the last spatial encoder layer (head-averaged), per backbone.

        Returns ``{backbone name: (B, h_k, w_k)}``, or ``(B, T, h_k, w_k)`` for clips. Over all maps the
        weights sum to ``1 -`` the CLS token's attention to itself. Call in eval mode (attention
        dropout otherwise perturbs the weights); wrap in ``torch.no_grad()`` if no gradients are needed.
        If a backbone name repeats, later entries get a ``#index`` suffix.
        """
        self._check_input(x)
        lead = x.shape[:2] if self.temporal else x.shape[:1]
        images = x.flatten(0, 1) if self.temporal else x
        z, grids = self.embed_images(images)
        *first, last = self.encoder.layers
        for layer in first:
            z = layer(z)
        cls_attn = layer_attention(last, z)[:, 0, 1:]
        chunks = cls_attn.split([h * w for h, w in grids], dim=1)
        maps: dict[str, torch.Tensor] = {}
        for k, (name, chunk, grid) in enumerate(zip(self.backbone_names, chunks, grids)):
            key = name if name not in maps else f"{name}#{k}"
            maps[key] = chunk.reshape(*lead, *grid)
        return maps
