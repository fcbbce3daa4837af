"""ROCKET (Dempster et al. 2020) for multivariate series, vectorised in torch.

Kernels are sampled as in aeon's multivariate ``Rocket`` (lengths {7, 9, 11}, mean-centred N(0, 1)
weights, U(-1, 1) bias, exponential dilation, padding with probability 0.5, a random channel subset
per kernel) and kept in aeon's flat layout (:class:`RocketKernels`), so the same kernels can be fed
to aeon's ``_apply_kernels`` or to :func:`apply_kernels_numpy`. The transform groups kernels by
(length, dilation, padding) and runs each group as one dense ``conv1d`` whose weights are zero on
the channels a kernel does not use; features are PPV and max per kernel, interleaved as in aeon.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 3, 50))
    >>> rocket = Rocket(num_kernels=20, device="cpu").fit(x)
    >>> rocket.transform(x).shape
    (4, 40)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = np.ndarray | torch.Tensor


class RocketKernels(NamedTuple):
    """Kernel parameters in aeon's flat layout (``tuple(kernels)`` is what aeon's ``_apply_kernels`` takes)."""

    weights: np.ndarray  # float32, concatenated (num_channels_k, length_k) blocks
    lengths: np.ndarray  # int32 (K,)
    biases: np.ndarray  # float32 (K,)
    dilations: np.ndarray  # int32 (K,)
    paddings: np.ndarray  # int32 (K,)
    num_channel_indices: np.ndarray  # int32 (K,)
    channel_indices: np.ndarray  # int32, concatenated channel subsets


@dataclass
class _Group:
    """Kernels sharing (length, dilation, padding): one dense conv1d."""

    length: int
    dilation: int
    padding: int
    index: torch.Tensor  # (k,) kernel indices
    weight: torch.Tensor  # (k, C, L) with zeros on unused channels
    bias: torch.Tensor  # (k,)


def default_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` means CUDA when available, else CPU.

    Example:
        >>> default_device("cpu")
        device(type='cpu')
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


@contextmanager
def ieee_fp32() -> Iterator[None]:
    """Full float32 convolutions and matrix products inside (no TF32 / reduced precision), restored after.

    Example:
        >>> with ieee_fp32():
        ...     float(torch.ones(2) @ torch.ones(2))
        2.0
    """
    backends = [getattr(getattr(torch.backends, name, None), op, None)
                for name in ("cudnn", "cuda", "mkldnn") for op in ("conv", "matmul")]
    backends = [b for b in backends if b is not None and hasattr(b, "fp32_precision")]
    saved = [b.fp32_precision for b in backends]
    try:
        for b in backends:
            b.fp32_precision = "ieee"
        yield
    finally:
        for b, old in zip(backends, saved, strict=True):
            b.fp32_precision = old


def as_tensor(x: ArrayLike, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``x`` (numpy or tensor) as a ``dtype`` tensor on ``device``.

    Example:
        >>> as_tensor(np.zeros((1, 2, 3)), torch.device("cpu")).dtype
        torch.float32
    """
    t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    return t.to(device=device, dtype=dtype)


def check_3d(x: ArrayLike) -> tuple[int, int, int]:
    """``(N, C, T)`` of a 3-d collection; raises ``ValueError`` otherwise.

    Example:
        >>> check_3d(np.zeros((2, 3, 9)))
        (2, 3, 9)
    """
    if x.ndim != 3:
        raise ValueError(f"expected (N, C, T) series, got shape {tuple(x.shape)}")
    n, c, t = (int(s) for s in x.shape)
    return n, c, t


def batched_features(
    X: ArrayLike,  # noqa: N803
    fitted_channels: int,
    num_features: int,
    batch_size: int,
    transform_batch: Callable[[ArrayLike], np.ndarray],
) -> np.ndarray:
    """``(N, num_features)`` float32 from ``transform_batch`` over batches of ``X``, in exact float32."""
    n, c, _ = check_3d(X)
    if c != fitted_channels:
        raise ValueError(f"fitted on {fitted_channels} channels, got {c}")
    out = np.empty((n, num_features), dtype=np.float32)
    with torch.no_grad(), ieee_fp32():
        for start in range(0, n, batch_size):
            out[start : start + batch_size] = transform_batch(X[start : start + batch_size])
    return out


def znormalise(x: torch.Tensor) -> torch.Tensor:
    """Z-normalise each series per channel over time (std 0 -> 1), in float64 as aeon's ``Normalizer``.

    Example:
        >>> znormalise(torch.tensor([[[1.0, 3.0]]])).tolist()
        [[[-1.0, 1.0]]]
    """
    x = x.double()
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    std = torch.where(std == 0, torch.ones_like(std), std)
    return (x - mean) / std


def sample_kernels(num_kernels: int, num_channels: int, length: int, rng: np.random.Generator) -> RocketKernels:
    """Random ROCKET kernels for ``(C, T)`` series, following aeon's ``_generate_kernels`` step by step.

    Dilation is at least 1 and, when a kernel would not fit a series shorter than it, it is padded.

    Example:
        >>> k = sample_kernels(5, 3, 40, np.random.default_rng(0))
        >>> len(k.lengths), int(k.num_channel_indices.sum()) == len(k.channel_indices)
        (5, True)
    """
    lengths = rng.choice(np.array([7, 9, 11], dtype=np.int32), num_kernels).astype(np.int32)
    limits = np.minimum(num_channels, lengths)
    num_channel_indices = (2 ** rng.uniform(0, np.log2(limits + 1))).astype(np.int32)
    weights, channel_indices = [], []
    biases = np.zeros(num_kernels, dtype=np.float32)
    dilations = np.zeros(num_kernels, dtype=np.int32)
    paddings = np.zeros(num_kernels, dtype=np.int32)
    for i in range(num_kernels):
        size, m = int(lengths[i]), int(num_channel_indices[i])
        w = rng.normal(0, 1, (m, size)).astype(np.float32)
        weights.append((w - w.mean(axis=1, keepdims=True)).ravel())
        channel_indices.append(rng.choice(num_channels, m, replace=False).astype(np.int32))
        biases[i] = rng.uniform(-1, 1)
        top = np.log2(max(length - 1, 1) / (size - 1))
        dilation = max(int(2 ** rng.uniform(0, top)), 1) if top > 0 else 1
        dilations[i] = dilation
        pad = (size - 1) * dilation // 2 if rng.integers(2) == 1 else 0
        if length - (size - 1) * dilation < 1:  # series shorter than the kernel: pad (aeon would fail)
            pad = (size - 1) * dilation // 2
        paddings[i] = pad
    return RocketKernels(
        np.concatenate(weights).astype(np.float32), lengths, biases, dilations, paddings,
        num_channel_indices, np.concatenate(channel_indices).astype(np.int32),
    )


def dense_weights(kernels: RocketKernels, num_channels: int) -> list[np.ndarray]:
    """Per kernel a ``(C, L)`` float32 weight array, zero on the channels the kernel does not use.

    Example:
        >>> k = sample_kernels(3, 4, 30, np.random.default_rng(0))
        >>> [w.shape[0] for w in dense_weights(k, 4)]
        [4, 4, 4]
    """
    out, a1, a2 = [], 0, 0
    for size, m in zip(kernels.lengths.tolist(), kernels.num_channel_indices.tolist(), strict=True):
        dense = np.zeros((num_channels, size), dtype=np.float32)
        dense[kernels.channel_indices[a2 : a2 + m]] = kernels.weights[a1 : a1 + m * size].reshape(m, size)
        out.append(dense)
        a1, a2 = a1 + m * size, a2 + m
    return out


def build_groups(kernels: RocketKernels, num_channels: int, device: torch.device) -> list[_Group]:
    """Kernels grouped by (length, dilation, padding) with dense weight tensors on ``device``.

    Example:
        >>> k = sample_kernels(10, 2, 30, np.random.default_rng(0))
        >>> sum(len(g.index) for g in build_groups(k, 2, torch.device("cpu")))
        10
    """
    dense = dense_weights(kernels, num_channels)
    keys = np.stack([kernels.lengths, kernels.dilations, kernels.paddings], axis=1)
    groups = []
    for key in np.unique(keys, axis=0):
        idx = np.flatnonzero((keys == key).all(axis=1))
        weight = torch.from_numpy(np.stack([dense[i] for i in idx]))
        groups.append(_Group(
            int(key[0]), int(key[1]), int(key[2]), torch.from_numpy(idx).to(device),
            weight.to(device), torch.from_numpy(kernels.biases[idx]).to(device),
        ))
    return groups


def group_features(x: torch.Tensor, group: _Group) -> tuple[torch.Tensor, torch.Tensor]:
    """PPV and max ``(B, k)`` of one kernel group on normalised float32 ``x`` ``(B, C, T)``.

    PPV is ``mean(sign(clamp(out, 0)))``, computed in place after the max (exactly ``mean(out > 0)``).

    Example:
        >>> k = sample_kernels(4, 2, 30, np.random.default_rng(0))
        >>> ppv, mx = group_features(torch.randn(3, 2, 30), build_groups(k, 2, torch.device("cpu"))[0])
        >>> ppv.shape[0], bool(((ppv >= 0) & (ppv <= 1)).all())
        (3, True)
    """
    out = F.conv1d(x, group.weight, group.bias, dilation=group.dilation, padding=group.padding)
    mx = out.amax(dim=-1)
    return out.clamp_(min=0.0).sign_().mean(dim=-1), mx


def feature_order(groups: list[_Group]) -> torch.Tensor:
    """Column permutation from group order (``[ppv_g, max_g]`` per group) to aeon's ``[ppv_0, max_0, ...]``.

    Example:
        >>> k = sample_kernels(6, 2, 30, np.random.default_rng(0))
        >>> groups = build_groups(k, 2, torch.device("cpu"))
        >>> sorted(feature_order(groups).tolist()) == list(range(12))
        True
    """
    kernel = torch.cat([torch.cat([g.index, g.index]) for g in groups]).cpu()
    is_max = torch.cat([torch.arange(2 * len(g.index)) >= len(g.index) for g in groups])
    destination = 2 * kernel + is_max.long()
    order = torch.empty_like(destination)
    order[destination] = torch.arange(len(destination))
    return order


def check_finite(x: torch.Tensor) -> None:
    """Raise ``ValueError`` on NaN or infinite values (impute missing frames first).

    Example:
        >>> check_finite(torch.tensor([1.0, float("nan")]))
        Traceback (most recent call last):
        ...
        ValueError: series contain NaN or infinite values; impute them before the transform
    """
    if not bool(torch.isfinite(x).all()):
        raise ValueError("series contain NaN or infinite values; impute them before the transform")


class Rocket:
    """ROCKET transform: ``2 * num_kernels`` features (PPV, max per kernel, interleaved as in aeon).

    ``fit`` only uses ``C`` and ``T`` of ``X`` ``(N, C, T)`` to sample kernels; ``transform`` runs
    batches of ``batch_size`` series on ``device`` (CUDA when available, else CPU).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(3, 2, 40)).astype(np.float32)
        >>> f = Rocket(num_kernels=8, seed=1, device="cpu").fit_transform(x)
        >>> f.shape, f.dtype
        ((3, 16), dtype('float32'))
    """

    def __init__(
        self,
        num_kernels: int = 10_000,
        normalise: bool = True,
        seed: int | None = 0,
        device: str | torch.device | None = None,
        batch_size: int = 256,
    ) -> None:
        self.num_kernels = num_kernels
        self.normalise = normalise
        self.seed = seed
        self.device = default_device(device)
        self.batch_size = batch_size
        self.kernels: RocketKernels | None = None
        self._groups: list[_Group] = []

    def fit(self, X: ArrayLike, y: object = None) -> Rocket:  # noqa: N803
        """Sample kernels for the channel count and length of ``X``."""
        _, c, t = check_3d(X)
        kernels = sample_kernels(self.num_kernels, c, t, np.random.default_rng(self.seed))
        return self.set_kernels(kernels, c, t)

    def set_kernels(self, kernels: RocketKernels | tuple, num_channels: int, length: int) -> Rocket:
        """Use given kernels (aeon's layout, e.g. ``aeon_rocket.kernels``) instead of sampling."""
        self.kernels = RocketKernels(*(np.asarray(a) for a in kernels))
        self.num_kernels = len(self.kernels.lengths)
        self.num_channels_, self.length_ = num_channels, length
        self._groups = build_groups(self.kernels, num_channels, self.device)
        self._order = feature_order(self._groups).to(self.device)
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:  # noqa: N803
        """``(N, 2 * num_kernels)`` float32 features: ``[ppv_0, max_0, ppv_1, max_1, ...]``."""
        if self.kernels is None:
            raise RuntimeError("call fit() before transform()")
        return batched_features(X, self.num_channels_, 2 * self.num_kernels, self.batch_size, self._transform_batch)

    def fit_transform(self, X: ArrayLike, y: object = None) -> np.ndarray:  # noqa: N803
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def _transform_batch(self, x: ArrayLike) -> np.ndarray:
        xt = as_tensor(x, self.device, torch.float64 if self.normalise else torch.float32)
        check_finite(xt)
        xt = (znormalise(xt) if self.normalise else xt).float()
        parts = []
        for group in self._groups:
            parts.extend(group_features(xt, group))
        return torch.cat(parts, dim=1)[:, self._order].cpu().numpy()


def apply_kernels_numpy(X: np.ndarray, kernels: RocketKernels | tuple) -> np.ndarray:  # noqa: N803
    """Reference transform: aeon's ``_apply_kernels`` loop written literally in numpy (slow; tiny data only).

    ``X`` is used as given (normalise it first to match ``Rocket(normalise=True)``).

    Example:
        >>> k = sample_kernels(2, 2, 20, np.random.default_rng(0))
        >>> apply_kernels_numpy(np.ones((1, 2, 20), dtype=np.float32), k).shape
        (1, 4)
    """
    weights, lengths, biases, dilations, paddings, num_channel_indices, channel_indices = kernels
    X = np.asarray(X, dtype=np.float32)
    n_cases, _, n_timepoints = X.shape
    out = np.zeros((n_cases, 2 * len(lengths)), dtype=np.float32)
    for i in range(n_cases):
        a1 = a2 = 0
        for j in range(len(lengths)):
            size, m = int(lengths[j]), int(num_channel_indices[j])
            w = weights[a1 : a1 + m * size].reshape(m, size)
            chans = channel_indices[a2 : a2 + m]
            dilation, padding = int(dilations[j]), int(paddings[j])
            output_length = n_timepoints + 2 * padding - (size - 1) * dilation
            ppv, mx = 0, -np.inf
            for t in range(-padding, n_timepoints + padding - (size - 1) * dilation):
                total = np.float32(biases[j])
                index = t
                for q in range(size):
                    if -1 < index < n_timepoints:
                        for k in range(m):
                            total = total + w[k, q] * X[i, chans[k], index]
                    index += dilation
                mx = max(mx, total)
                ppv += total > 0
            out[i, 2 * j], out[i, 2 * j + 1] = ppv / output_length, mx
            a1, a2 = a1 + m * size, a2 + m
    return out
