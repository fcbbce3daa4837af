"""Where in a face image the model looks: Grad-CAM (own implementation), or a hybrid net's own attention map.

**Grad-CAM** (Selvaraju et al. 2017): a forward hook on the net's last ``nn.Conv2d`` (the last one registered, which
for SmallCNN, ImageCNN and timm CNNs is the last one run) keeps its output ``A`` (``K`` maps); the explained output
``y`` (:func:`~facedep.explanations.model_outputs.attributed_output`: the positive / most severe class's logit, a
regressor's standardised output) is differentiated w.r.t. ``A`` only; ``CAM = ReLU(sum_k mean_xy(dy/dA_k) A_k)``,
upsampled bilinearly to the image and min-max scaled to [0, 1] per image (all 0 when flat). The hook hands
the rest of the net a copy of ``A`` (so in-place activations after the convolution are fine) and cuts the graph
below it (frozen backbones need no gradients).

**HybridAttentionNet** exposes its own map (:meth:`~lightning_modules.nets.HybridAttentionNet.attention_maps`: the
CLS token's head-averaged attention in the last spatial encoder layer, per backbone grid): the maps of all backbones
are upsampled to the image, summed and min-max scaled to [0, 1] (attention is positive everywhere: the scaling shows
where it is highest, not that elsewhere it is 0). It says where the model reads, not for which class.

Example:
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
    ...                     nn.Flatten(), nn.Linear(4, 2))
    >>> maps = grad_cam_maps(net, torch.rand(2, 3, 16, 16), lambda m, x: m(x)[:, 1])
    >>> tuple(maps.shape), bool(maps.min() >= 0) and bool(maps.max() <= 1)
    ((2, 16, 16), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facedep.explanations.errors import Unsupported
from facedep.explanations.model_outputs import attributed_output, model_device_dtype, window_scores

DEFAULT_FACES = 8
GRAD_CAM_METHOD = ("Grad-CAM on the last convolution layer: ReLU of its feature maps weighted by the spatial mean "
                   "gradient of the positive class's logit (regressor: standardised output), upsampled, min-max "
                   "scaled to [0, 1] per face")
ATTENTION_METHOD = ("the hybrid net's own attention: CLS-token attention of the last spatial transformer layer "
                    "(head-averaged), per backbone grid, upsampled, summed over backbones, min-max scaled to [0, 1] per "
                    "face")


def last_conv_layer(net: nn.Module) -> nn.Conv2d:
    """The last registered ``nn.Conv2d`` of ``net``; :class:`Unsupported` without one."""
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise Unsupported(f"{type(net).__name__} has no convolution layer for Grad-CAM")
    return convs[-1]


def _scaled(cam: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(B, h, w)`` -> ``(B, H, W)`` upsampled bilinearly and min-max scaled per map (a flat map: all 0)."""
    cam = F.interpolate(cam.unsqueeze(1).float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    low = cam.flatten(1).amin(dim=1).view(-1, 1, 1)
    span = cam.flatten(1).amax(dim=1).view(-1, 1, 1) - low
    return torch.where(span > 1e-12, (cam - low) / span.clamp_min(1e-12), torch.zeros_like(cam)).clamp(0, 1)


def grad_cam_maps(model: nn.Module, x: torch.Tensor,
                  target: Callable[[nn.Module, torch.Tensor], torch.Tensor] = attributed_output,
                  layer: nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM ``(B, H, W)`` in [0, 1] on CPU for images ``x`` ``(B, C, H, W)``; ``target(model, x) -> (B,)``."""
    layer = layer if layer is not None else last_conv_layer(model)
    captured: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        leaf = output.detach().requires_grad_(True)
        captured["a"] = leaf
        return leaf * 1.0  # not a leaf: an in-place ReLU after the convolution may modify it

    device, dtype = model_device_dtype(model)
    was_training = model.training
    model.eval()
    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            out = target(model, x.to(device=device, dtype=dtype))
            if "a" not in captured:
                raise Unsupported(f"the layer {type(layer).__name__} was not run by the model's forward pass")
            (grad,) = torch.autograd.grad(out.float().sum(), captured["a"])
    finally:
        handle.remove()
        model.train(was_training)
    activation = captured["a"].detach().float()
    weights = grad.float().mean(dim=(2, 3), keepdim=True)
    return _scaled(F.relu((weights * activation).sum(dim=1)), x.shape[-2:]).cpu()


def has_attention_map(model: nn.Module) -> bool:
    """The model's net is a per-image :class:`~lightning_modules.nets.HybridAttentionNet` (its own attention map)."""
    net = getattr(model, "net", None)
    return hasattr(net, "attention_maps") and not getattr(net, "temporal", False)


@torch.no_grad()
def attention_maps(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The hybrid net's CLS attention ``(B, H, W)`` in [0, 1] (summed over backbones, min-max scaled), on CPU."""
    device, dtype = model_device_dtype(model)
    was_training = model.training
    model.eval()
    try:
        maps = model.net.attention_maps(x.to(device=device, dtype=dtype))
    finally:
        model.train(was_training)
    size = x.shape[-2:]
    total = sum(F.interpolate(m.unsqueeze(1).float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
                for m in maps.values())
    return _scaled(total, size).cpu()


def image_maps(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, str, str]:
    """``(maps, method, name)`` for images ``x``: the hybrid net's attention, else Grad-CAM."""
    if x.ndim != 4:
        raise Unsupported(f"inputs of shape {tuple(x.shape[1:])} are not single images (channels, height, width)")
    if has_attention_map(model):
        return attention_maps(model, x), ATTENTION_METHOD, "attention"
    return grad_cam_maps(model, x), GRAD_CAM_METHOD, "grad_cam"


# ---- test faces ------------------------------------------------------------------------------------------
def pick_faces(labels: np.ndarray, subjects: np.ndarray, count: int = DEFAULT_FACES) -> list[int]:
    """Up to ``count`` images, one per subject (its first), taking classes in turn (a score target: subjects spread
    over the score range).

    >>> pick_faces(np.array([0, 0, 1, 1, 0]), np.array([5, 5, 6, 7, 8]), 3)
    [0, 2, 4]
    """
    labels, subjects = np.asarray(labels), np.asarray(subjects)
    _, first = np.unique(subjects, return_index=True)
    first = np.sort(first)
    if labels.dtype.kind == "f":
        ordered = first[np.argsort(labels[first], kind="stable")]
        keep = np.unique(np.linspace(0, len(ordered) - 1, min(count, len(ordered))).round().astype(int))
        return sorted(int(i) for i in ordered[keep])
    queues = [list(first[labels[first] == c]) for c in np.unique(labels[first])]
    chosen: list[int] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(int(queue.pop(0)))
    return sorted(chosen)


@dataclass
class FaceMaps:
    """Explained faces: ``images`` uint8 ``(n, H, W, 3)``, ``maps`` ``(n, H, W)`` in [0, 1], the dataset rows, their
    targets and the model's scores (P(positive / last class) or the predicted score), and how the maps were made."""

    images: np.ndarray
    maps: np.ndarray
    rows: list[int]
    targets: np.ndarray
    scores: np.ndarray
    subjects: np.ndarray
    method: str
    name: str


def normalized(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(n, H, W, 3)`` -> float32 ``(n, 3, H, W)`` as the image dataset normalises them."""
    pixels = (images.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))


def explain_faces(model: nn.Module, images: np.ndarray, mean: Sequence[float], std: Sequence[float]
                  ) -> tuple[np.ndarray, np.ndarray, str, str]:
    """``(maps, scores, method, name)`` of uint8 face crops ``(n, H, W, 3)`` normalised with ``mean``/``std``."""
    x = normalized(images, mean, std)
    maps, method, name = image_maps(model, x)
    scores = window_scores(model, x)
    scores = scores[:, -1] if scores.ndim == 2 else scores
    return maps.numpy(), scores.numpy(), method, name


def explain_test_faces(model: nn.Module, dataset: object, count: int = DEFAULT_FACES) -> FaceMaps:
    """Maps of up to ``count`` test faces of a :class:`~datamodules.image_dataset.FaceImageDataset` (evaluation
    transform, the dataset's normalisation); only the test set's images and labels are read."""
    for attribute in ("image", "labels", "subject_ids", "mean", "std"):
        if not hasattr(dataset, attribute):
            raise Unsupported(f"{type(dataset).__name__} is not a face-image dataset")
    if len(dataset) == 0:
        raise Unsupported("no test images")
    rows = pick_faces(np.asarray(dataset.labels), np.asarray(dataset.subject_ids), count)
    images = np.stack([np.asarray(dataset.image(i), dtype=np.uint8) for i in rows])
    maps, scores, method, name = explain_faces(model, images, dataset.mean, dataset.std)
    return FaceMaps(images, maps, rows, np.asarray(dataset.labels)[rows], scores,
                    np.asarray(dataset.subject_ids)[rows], method, name)
