"""FusionNet: intermediate fusion of the face views (AUs, landmarks, face crops) by cross-view attention.

One encoder per view turns its window into a token of ``embed_dim`` features; a learned modality embedding
is added, a small transformer attends across the V view tokens (absent views masked out as keys), the
present views' tokens are averaged, and one linear head gives the logits. Input: the
:class:`~datamodules.MultimodalDataModule` batch's ``x``, a dict of the run's views plus ``present`` ``(B, V)``
(column j = j-th key of ``in_channels``). An absent view never reaches its encoder and never changes the output.

Example:
    >>> import torch
    >>> net = FusionNet({"aus": 17, "landmarks": 3}, 2, embed_dim=16)
    >>> x = {"aus": torch.randn(4, 32, 17), "landmarks": torch.randn(4, 32, 68, 3),
    ...      "present": torch.tensor([[True, True], [True, False], [False, True], [True, True]])}
    >>> net(x).shape, net.last_attention.shape
    (torch.Size([4, 2]), torch.Size([4, 2, 2]))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import torch
from torch import nn

from lightning_modules.nets.cnn_lstm import CNNLSTM, ImageCNN
from lightning_modules.nets.recurrent import RecurrentNet

NetFactory = Callable[[int, int], nn.Module]
"""A net class (or partial) called as ``net(in_channels, embed_dim)``."""

VIEWS: tuple[str, ...] = ("aus", "landmarks", "faces")
"""Known views, in the canonical order of ``present``'s columns."""

DEFAULT_ENCODERS: dict[str, NetFactory] = {
    "aus": partial(RecurrentNet, hidden_size=32, cell="gru"),
    "landmarks": partial(ImageCNN, conv_channels=(8, 16, 32), dropout=0.0, pool_size=(1, 4), batch_norm=True),
    "faces": partial(CNNLSTM, conv_channels=(8, 16, 32), hidden_size=32, dropout=0.0, batch_norm=True),
}
"""Small encoders (a CPU demo): GRU over AU frames; CNN over the (x, y, z) x time x point pseudo-image, pooled over
time but keeping 4 bins of points (68-point order: jaw, brows + nose, eyes, mouth); per-frame CNN + LSTM over crops.
The CNNs normalise their batches (without it the landmark CNN often stalled at chance loss on the fusion demo; the
encoders only ever see windows where their view is present, so the statistics are those of observed data)."""


def view_input(view: str, x: torch.Tensor) -> torch.Tensor:
    """A view's batch tensor as its encoder takes it: landmarks ``(B, T, P, 3)`` -> pseudo-image ``(B, 3, T, P)``."""
    if view == "landmarks":
        if x.dim() != 4:
            raise ValueError(f"landmarks must be (batch, time, points, 3), got shape {tuple(x.shape)}")
        return x.permute(0, 3, 1, 2)
    return x


class CrossViewLayer(nn.Module):
    """Pre-norm transformer layer over view tokens that also returns its attention weights (averaged over heads)."""

    def __init__(self, dim: int, heads: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.feedforward = nn.Sequential(nn.Linear(dim, feedforward), nn.GELU(), nn.Dropout(dropout),
                                         nn.Linear(feedforward, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` ``(B, V, D)``, ``padding`` ``(B, V)`` True = ignore as key -> tokens, weights ``(B, V, V)``."""
        h = self.norm1(tokens)
        out, weights = self.attention(h, h, h, key_padding_mask=padding, need_weights=True, average_attn_weights=True)
        tokens = tokens + self.dropout(out)
        return tokens + self.dropout(self.feedforward(self.norm2(tokens))), weights


class FusionNet(nn.Module):
    """Per-view encoders -> view tokens + modality embeddings -> cross-view attention -> masked mean -> head.

    Args:
        in_channels: channels per view, in the order of ``present``'s columns (``{"aus": 17, "landmarks": 3,
            "faces": 3}``, or any non-empty subset; one view = a single-view model).
        num_classes: logits.
        embed_dim: width of the view tokens (divisible by ``attention_heads``).
        aus_encoder / landmarks_encoder / faces_encoder: ``factory(in_channels[view], embed_dim)``
            (class_path/init_args in a config); None = :data:`DEFAULT_ENCODERS`. The AU encoder takes
            ``(B, T, C)``, the landmark one the pseudo-image ``(B, 3, T, P)``, the face one ``(B, F, 3, S, S)``.
        attention_heads / attention_layers: the cross-view transformer; its feed-forward width is ``2 * embed_dim``.
        modality_dropout: training only: each present view of a window is dropped with this probability, never
            all of them (one present view, drawn at random, is kept).
        dropout: in the transformer and before the head.

    ``forward`` keeps ``last_attention`` ``(B, V, V)`` (query x key, last layer, mean over heads; rows and
    columns of views not used are 0) and ``last_present`` ``(B, V)`` (the views used: ``present`` after
    modality dropout).
    """

    def __init__(
        self,
        in_channels: dict[str, int],
        num_classes: int,
        embed_dim: int = 32,
        aus_encoder: NetFactory | None = None,
        landmarks_encoder: NetFactory | None = None,
        faces_encoder: NetFactory | None = None,
        attention_heads: int = 2,
        attention_layers: int = 1,
        modality_dropout: float = 0.25,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if not in_channels:
            raise ValueError("FusionNet needs at least one view in in_channels")
        unknown = [v for v in in_channels if v not in VIEWS]
        if unknown:
            raise ValueError(f"unknown view(s) {unknown}; views are {', '.join(VIEWS)}")
        if embed_dim % attention_heads != 0:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by attention_heads ({attention_heads})")
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
        self.views = list(in_channels)
        self.in_channels = dict(in_channels)
        self.embed_dim, self.modality_dropout = embed_dim, modality_dropout
        factories = {"aus": aus_encoder, "landmarks": landmarks_encoder, "faces": faces_encoder}
        self.encoders = nn.ModuleDict({
            view: (factories[view] or DEFAULT_ENCODERS[view])(channels, embed_dim) for view, channels in in_channels.items()
        })
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.views), embed_dim))
        nn.init.trunc_normal_(self.modality_embedding, std=0.02)
        self.layers = nn.ModuleList(
            [CrossViewLayer(embed_dim, attention_heads, 2 * embed_dim, dropout) for _ in range(attention_layers)])
        self.norm = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embed_dim, num_classes)
        self.last_attention: torch.Tensor | None = None
        self.last_present: torch.Tensor | None = None

    # ---- masks --------------------------------------------------------------------------------
    def present_mask(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``x["present"]`` as bool ``(B, V)`` (all True when missing), checked against the views."""
        missing = [v for v in self.views if v not in x]
        if missing:
            raise ValueError(f"FusionNet built for views {self.views}; the batch lacks {missing}")
        batch = len(x[self.views[0]])
        present = x.get("present")
        if present is None:
            return torch.ones(batch, len(self.views), dtype=torch.bool, device=x[self.views[0]].device)
        if present.shape != (batch, len(self.views)):
            raise ValueError(f"present must be (batch, views) = {(batch, len(self.views))}, got {tuple(present.shape)}")
        return present.bool()

    def drop_modalities(self, present: torch.Tensor) -> torch.Tensor:
        """Training-time modality dropout: each present view kept with ``1 - p``; a window keeps at least one."""
        if not self.training or self.modality_dropout == 0.0 or present.shape[1] < 2:
            return present
        keep = present & (torch.rand(present.shape, device=present.device) >= self.modality_dropout)
        lost = present.any(1) & ~keep.any(1)
        if lost.any():
            draw = torch.rand(present.shape, device=present.device).masked_fill(~present, -1.0)
            keep[lost, draw[lost].argmax(1)] = True
        return keep

    # ---- encoding -----------------------------------------------------------------------------
    def encode(self, x: Mapping[str, torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        """View embeddings ``(B, V, D)``: each encoder runs on its present windows only; absent rows are 0.

        Encoding only the present windows keeps absent inputs out of batch statistics (BatchNorm) too. In training,
        a view present in no window of the batch is still run on one window and multiplied by 0, so that every
        parameter takes part in every step (DDP).
        """
        first = x[self.views[0]]
        out = first.new_zeros(len(first), len(self.views), self.embed_dim, dtype=self.modality_embedding.dtype)
        for j, view in enumerate(self.views):
            rows = present[:, j].nonzero().squeeze(1)
            data = view_input(view, x[view])
            if len(rows) > 0:
                out[rows, j] = self.encoders[view](data[rows]).to(out.dtype)
            elif self.training and torch.is_grad_enabled():
                out[:, j] = out[:, j] + 0.0 * self.encoders[view](data[:1]).to(out.dtype).sum()
        return out

    def fuse(self, embeddings: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, V, D)`` -> the masked mean of the attended present tokens ``(B, D)``; keeps ``last_attention``."""
        used = present.unsqueeze(-1).to(embeddings.dtype)
        tokens = (embeddings + self.modality_embedding.to(embeddings.dtype)) * used
        padding = ~present
        padding = padding & present.any(1, keepdim=True)  # a window with no view: nothing masked (no NaN), output constant
        weights = None
        for layer in self.layers:
            tokens, weights = layer(tokens, padding)
            tokens = tokens * used
        if weights is not None:
            pair = present.unsqueeze(2) & present.unsqueeze(1)
            self.last_attention = (weights * pair.to(weights.dtype)).detach()
        else:
            self.last_attention = present.new_zeros(*present.shape, present.shape[1], dtype=embeddings.dtype)
        self.last_present = present.detach()
        return tokens.sum(1) / used.sum(1).clamp_min(1.0)

    def forward(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``x``: the views' tensors and ``present`` ``(B, V)`` -> logits ``(B, num_classes)``."""
        present = self.drop_modalities(self.present_mask(x))
        pooled = self.fuse(self.encode(x, present), present)
        return self.head(self.dropout(self.norm(pooled)))

    @torch.no_grad()
    def view_embeddings(self, x: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each view's encoder output ``(B, D)`` (0 where absent) and ``fused`` (the pooled vector before the head's
        LayerNorm), without modality dropout: features for explanations and plots."""
        was_training = self.training
        self.eval()
        try:
            present = self.present_mask(x)
            embeddings = self.encode(x, present)
            out = {view: embeddings[:, j] for j, view in enumerate(self.views)}
            out["fused"] = self.fuse(embeddings, present)
        finally:
            self.train(was_training)
        return out
