"""Training augmentation of uint8 image batches on their device (the GPU, after the host-to-device copy).

``FaceImageDataModule(augment_on_device=true)`` hands the training batches to :class:`DeviceAugmentation`
in ``on_after_batch_transfer`` instead of running albumentations per image in the loader workers: the
workers only gather uint8 crops from the cache, and every step is one batched kernel for the whole
batch with per-image random parameters. The three steps of the default pipeline are supported, with
albumentations' parameter names and ranges:

- ``HorizontalFlip`` (``p``);
- ``Affine`` (``scale``, ``translate_percent``, ``rotate`` in degrees, ``p``): one ``affine_grid`` +
  bilinear ``grid_sample``, zeros outside the image; positive translations move the content right/down,
  positive angles turn it counter-clockwise on screen;
- ``ColorJitter`` (``brightness``, ``contrast``, ``saturation``, ``hue``, ``p``): torchvision's formulas
  (a float ``b`` means factors in ``[max(0, 1 - b), 1 + b]``, hue shifts in ``[-h, h]`` turns), applied in
  that fixed order (albumentations shuffles the order per image), pixels clamped to ``[0, 1]``.

Any other step is refused with its name. The output is float32 in ``[0, 1]``; the DataModule then
normalises it with the training mean/std as for host-augmented batches.

Example:
    >>> import torch
    >>> aug = DeviceAugmentation([{"name": "HorizontalFlip", "p": 1.0}])
    >>> x = torch.tensor([[[[0, 255]]] * 3], dtype=torch.uint8)  # (1, 3, 1, 2)
    >>> aug(x)[0, 0].tolist()
    [[1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

SUPPORTED = ("HorizontalFlip", "Affine", "ColorJitter")
LUMA = (0.299, 0.587, 0.114)


def factor_range(value: float | Sequence[float], name: str, centre: float = 1.0) -> tuple[float, float]:
    """``(low, high)`` of a jitter factor: ``b`` -> ``[max(0, centre - b), centre + b]``, a pair as given.

    Example:
        >>> factor_range(0.2, "brightness"), factor_range([0.5, 1.5], "contrast"), factor_range(0.1, "hue", 0.0)
        ((0.8, 1.2), (0.5, 1.5), (-0.1, 0.1))
    """
    if isinstance(value, (int, float)):
        low = centre - float(value) if centre == 0.0 else max(0.0, centre - float(value))
        return low, centre + float(value)
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or pair[0] > pair[1]:
        raise ValueError(f"ColorJitter {name} must be a number or [low, high]; got {value!r}")
    return pair


def pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """A number ``v`` as ``(v, v)``, a ``[low, high]`` pair as given.

    Example:
        >>> pair(5, "rotate"), pair([-10, 10], "rotate")
        ((5.0, 5.0), (-10.0, 10.0))
    """
    if isinstance(value, (int, float)):
        return float(value), float(value)
    out = tuple(float(v) for v in value)
    if len(out) != 2 or out[0] > out[1]:
        raise ValueError(f"Affine {name} must be a number or [low, high]; got {value!r}")
    return out


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in ``[0, 1]`` -> HSV with hue in ``[0, 1)`` turns (torchvision's formulas)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(dim=1)
    minc, _ = x.min(dim=1)
    delta = maxc - minc
    same = maxc == minc
    safe_delta = torch.where(same, torch.ones_like(delta), delta)
    saturation = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    rc, gc, bc = (maxc - r) / safe_delta, (maxc - g) / safe_delta, (maxc - b) / safe_delta
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(same, torch.zeros_like(hue), hue)
    return torch.stack(((hue / 6.0) % 1.0, saturation, maxc), dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int64) % 6
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    table = torch.stack((torch.stack((v, q, p, p, t, v), 1), torch.stack((t, v, v, q, p, p), 1),
                         torch.stack((p, p, t, v, v, q), 1)), 1)  # (B, 3 channels, 6 sectors, H, W)
    return table.gather(2, i[:, None, None].expand(-1, 3, 1, -1, -1)).squeeze(2)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` luma of RGB ``x``."""
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def affine_theta(scale: torch.Tensor, angle_deg: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor,
                 height: int, width: int) -> torch.Tensor:
    """``(B, 2, 3)`` matrices for ``F.affine_grid``: output pixel -> input pixel of the forward transform
    "scale about the centre, turn by ``angle`` counter-clockwise on screen, move by (tx, ty) fractions of
    the width/height", in normalised coordinates that respect the aspect ratio.

    Example:
        >>> one, zero = torch.ones(1), torch.zeros(1)
        >>> (affine_theta(one, zero, zero, zero, 4, 4)[0] + 0.0).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    a = torch.deg2rad(angle_deg)
    cos, sin = torch.cos(a), torch.sin(a)
    # inverse rotation in pixel units (y points down, so a counter-clockwise turn on screen is -a here)
    half_w, half_h = width / 2.0, height / 2.0
    m00, m01 = cos / scale, -sin / scale * (half_h / half_w)
    m10, m11 = sin / scale * (half_w / half_h), cos / scale
    # move: the content goes right/down by (tx * W, ty * H) pixels = (2 tx, 2 ty) in normalised units
    dx, dy = 2.0 * tx, 2.0 * ty
    t0, t1 = -(m00 * dx + m01 * dy), -(m10 * dx + m11 * dy)
    return torch.stack((torch.stack((m00, m01, t0), 1), torch.stack((m10, m11, t1), 1)), 1)


class DeviceAugmentation:
    """Per-image random flip / affine / colour jitter of a uint8 ``(B, 3, H, W)`` batch, on its device.

    ``specs`` use albumentations' names and arguments (``[{"name": "HorizontalFlip", "p": 0.5}, ...]``);
    ``seed`` seeds one generator per device, so a run's augmentations repeat with its seed and batch order.
    """

    def __init__(self, specs: Sequence[dict[str, Any]], seed: int = 0) -> None:
        self.steps: list[tuple[str, dict[str, Any]]] = []
        for spec in specs:
            kwargs = dict(spec)
            name = kwargs.pop("name", None)
            if name not in SUPPORTED:
                raise ValueError(f"augment_on_device supports {', '.join(SUPPORTED)}; not {name!r} ({spec}); "
                                 "set augment_on_device: false to run it in the loader workers")
            self.steps.append((name, self._parse(name, kwargs)))
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    @staticmethod
    def _parse(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        p = float(kwargs.pop("p", 0.5))
        if name == "HorizontalFlip":
            parsed: dict[str, Any] = {}
        elif name == "Affine":
            parsed = {"scale": pair(kwargs.pop("scale", 1.0), "scale"),
                      "translate": pair(kwargs.pop("translate_percent", 0.0), "translate_percent"),
                      "rotate": pair(kwargs.pop("rotate", 0.0), "rotate")}
        else:
            parsed = {key: factor_range(kwargs.pop(key, 0.0), key, 0.0 if key == "hue" else 1.0)
                      for key in ("brightness", "contrast", "saturation", "hue")}
        if kwargs:
            raise ValueError(f"augment_on_device: {name} does not take {sorted(kwargs)} on the device")
        return {"p": p, **parsed}

    def generator(self, device: torch.device) -> torch.Generator:
        """The seeded generator of ``device`` (made on first use)."""
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def _uniform(self, low: float, high: float, n: int, device: torch.device) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator(device), device=device)

    def _chosen(self, p: float, n: int, device: torch.device) -> torch.Tensor:
        return torch.rand(n, generator=self.generator(device), device=device) < p

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``[0, 1]`` augmented copy of uint8 (or [0, 1] float) ``x`` ``(B, 3, H, W)``."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected image batches (B, 3, H, W); got {tuple(x.shape)}")
        out = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        for name, params in self.steps:
            out = getattr(self, f"_{name.lower()}")(out, params)
        return out

    def _horizontalflip(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        chosen = self._chosen(params["p"], len(x), x.device)
        return torch.where(chosen[:, None, None, None], x.flip(-1), x)

    def _affine(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        n, device = len(x), x.device
        chosen = self._chosen(params["p"], n, device)
        scale = torch.where(chosen, self._uniform(*params["scale"], n, device), torch.ones(n, device=device))
        angle = torch.where(chosen, self._uniform(*params["rotate"], n, device), torch.zeros(n, device=device))
        tx = torch.where(chosen, self._uniform(*params["translate"], n, device), torch.zeros(n, device=device))
        ty = torch.where(chosen, self._uniform(*params["translate"], n, device), torch.zeros(n, device=device))
        theta = affine_theta(scale, angle, tx, ty, x.shape[-2], x.shape[-1])
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return torch.where(chosen[:, None, None, None], moved, x)  # untouched images stay bit-exact

    def _colorjitter(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        n, device = len(x), x.device
        chosen = self._chosen(params["p"], n, device)
        b, c, s = (self._uniform(*params[k], n, device)[:, None, None, None]
                   for k in ("brightness", "contrast", "saturation"))
        h = self._uniform(*params["hue"], n, device)[:, None, None]
        out = (x * b).clamp_(0.0, 1.0)
        mean = grayscale(out).mean(dim=(1, 2, 3), keepdim=True)
        out = (c * out + (1.0 - c) * mean).clamp_(0.0, 1.0)
        out = (s * out + (1.0 - s) * grayscale(out)).clamp_(0.0, 1.0)
        if params["hue"] != (0.0, 0.0):
            hsv = rgb_to_hsv(out)
            hsv = torch.stack(((hsv[:, 0] + h) % 1.0, hsv[:, 1], hsv[:, 2]), dim=1)
            out = hsv_to_rgb(hsv).clamp_(0.0, 1.0)
        return torch.where(chosen[:, None, None, None], out, x)

