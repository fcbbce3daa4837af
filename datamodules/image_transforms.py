"""Image augmentation pipelines (albumentations) and per-channel normalisation (on the host or the device)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Default training augmentation (albumentations class names and arguments).
DEFAULT_TRAIN_TRANSFORMS: list[dict[str, Any]] = [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "Affine", "scale": [0.95, 1.05], "translate_percent": [-0.05, 0.05], "rotate": [-10, 10], "p": 0.5},
    {"name": "ColorJitter", "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02, "p": 0.5},
]


def build_transforms(specs: Sequence[dict[str, Any]] | None) -> Any | None:
    """An ``albumentations.Compose`` of ``[{"name": "HorizontalFlip", "p": 0.5}, ...]``; ``None`` if empty.

    Example:
        >>> build_transforms([{"name": "HorizontalFlip", "p": 1.0}])  # doctest: +SKIP
    """
    if not specs:
        return None
    import albumentations as A

    steps = []
    for spec in specs:
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if not isinstance(name, str) or not hasattr(A, name):
            raise ValueError(f"unknown albumentations transform {name!r} in {spec}")
        steps.append(getattr(A, name)(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}))
    return A.Compose(steps)


def resolve_normalization(
    normalization: str | None = "imagenet", mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` on [0, 1] pixels: explicit lists, ``imagenet``, a timm model name, or none.

    >>> resolve_normalization("imagenet")[0]
    (0.485, 0.456, 0.406)
    >>> resolve_normalization(None)
    ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    """
    if mean is not None or std is not None:
        if mean is None or std is None or len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std must both be 3 values (std > 0); got mean={mean}, std={std}")
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if normalization is None or normalization == "none":
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if normalization == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    import timm

    cfg = timm.get_pretrained_cfg(normalization)
    if cfg is None:
        raise ValueError(f"normalization {normalization!r}: not 'imagenet', null, nor a timm model name")
    return tuple(float(v) for v in cfg.mean), tuple(float(v) for v in cfg.std)



def normalize_batch(batch: Any, mean: Sequence[float], std: Sequence[float]) -> Any:
    """Batch ``x`` uint8 ``(B, 3, H, W)`` -> float32 ``(x / 255 - mean) / std``, where ``x`` already is
    (on GPU: after the host-to-device copy); other batches pass unchanged.

    Example:
        >>> out = normalize_batch({"x": torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)}, (0.5,) * 3, (0.5,) * 3)
        >>> out["x"].flatten().tolist()
        [1.0, 1.0, 1.0]
    """
    if not isinstance(batch, dict) or not isinstance(batch.get("x"), torch.Tensor) or batch["x"].dtype != torch.uint8:
        return batch
    x = batch["x"]
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean_t, std_t = _channel_stats(tuple(mean), tuple(std), x.device)
    return {**batch, "x": (x.float() / 255.0 - mean_t.view(shape)) / std_t.view(shape)}  # the host's formula


def normalize_unit_batch(batch: dict, mean: Sequence[float], std: Sequence[float]) -> dict:
    """Batch ``x`` float ``(B, 3, H, W)`` in ``[0, 1]`` (e.g. augmented on the device) -> ``(x - mean) / std``.

    Example:
        >>> normalize_unit_batch({"x": torch.ones(1, 3, 1, 1)}, (0.5,) * 3, (0.5,) * 3)["x"].flatten().tolist()
        [1.0, 1.0, 1.0]
    """
    x = batch["x"]
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean_t, std_t = _channel_stats(tuple(mean), tuple(std), x.device)
    return {**batch, "x": (x - mean_t.view(shape)) / std_t.view(shape)}


@functools.lru_cache(maxsize=16)
def _channel_stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """float32 ``mean`` and ``std`` on ``device``, made once (a copy per batch would wait for the GPU's queue)."""
    return (torch.tensor(mean, dtype=torch.float32, device=device),
            torch.tensor(std, dtype=torch.float32, device=device))

