"""Shared input checks for the nets."""

from __future__ import annotations

import torch


def check_sequence_input(x: torch.Tensor, in_channels: int, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(batch, time, in_channels)`` with ``time >= 1``."""
    if x.ndim != 3:
        raise ValueError(f"{name} expects input of shape (batch, time, channels); got shape {tuple(x.shape)}")
    if x.shape[-1] != in_channels:
        raise ValueError(f"{name} was built for in_channels={in_channels}; got input with {x.shape[-1]} channels")
    if x.shape[1] < 1:
        raise ValueError(f"{name} got an empty sequence (time=0)")
