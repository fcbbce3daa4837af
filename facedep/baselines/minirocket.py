"""MiniRocket (Dempster et al. 2021), multivariate, vectorised in torch.

The 84 fixed length-9 kernels (weight -1 everywhere, +2 at 3 of the 9 positions) run at dilations
spread exponentially up to ``(T - 1) / 8``; each (dilation, kernel) pair sums the kernel's output
over a random channel combination (as aeon's multivariate ``MiniRocket``) and yields PPV features
against biases fitted in ``fit`` from low-discrepancy quantiles of that output on random training
series. Padding alternates between pairs. Parameters are kept in aeon's layout (:attr:`parameters`),
so aeon's fitted parameters can be loaded (:meth:`MiniRocket.set_parameters`) and vice versa.

Two transform backends give the same features: on the CPU (``backend="auto"`` with numba installed)
one fused numba pass per series, parallel over series (:mod:`facedep.baselines.minirocket_numba`,
bit-identical to aeon's transform with the same parameters); on a GPU (or ``backend="torch"``) torch:
because convolution is linear and every channel of a combination shares the kernel, the per-channel
sum is taken first (one ``(84, C)`` 0/1 matrix product), then one depthwise ``conv1d`` per dilation
and the PPV counts against all biases at once (agrees with the numba path except for outputs within
float rounding of a bias: about 3 values in 100,000 differ, by one time step's share).

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(6, 3, 40))
    >>> MiniRocket(num_features=168, device="cpu").fit_transform(x).shape
    (6, 168)
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from facedep.baselines import minirocket_numba
from facedep.baselines.rocket import (
    ArrayLike,
    as_tensor,
    batched_features,
    check_3d,
    check_finite,
    default_device,
    ieee_fp32,
)

BACKENDS = ("auto", "numba", "torch")
NUM_KERNELS = 84
KERNEL_LENGTH = 9
INDICES = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.int32)
"""(84, 3): the positions of weight 2 in each kernel (aeon's ``MiniRocket._indices``)."""


class MiniRocketParameters(NamedTuple):
    """Fitted parameters in aeon's layout (``tuple(p)`` is aeon's ``MiniRocket.parameters``)."""

    num_channels_per_combination: np.ndarray  # int32 (num_dilations * 84,)
    channel_indices: np.ndarray  # int32, concatenated channel combinations
    dilations: np.ndarray  # int32 (num_dilations,)
    num_features_per_dilation: np.ndarray  # int32 (num_dilations,)
    biases: np.ndarray  # float32 (num_features,)


def kernel_weights() -> np.ndarray:
    """``(84, 9)`` float32 weights: -1 everywhere and 2 at the three positions of each combination.

    Example:
        >>> w = kernel_weights()
        >>> w.shape, float(w.sum(axis=1).max())
        ((84, 9), 0.0)
    """
    w = -np.ones((NUM_KERNELS, KERNEL_LENGTH), dtype=np.float32)
    np.put_along_axis(w, INDICES.astype(np.int64), 2.0, axis=1)
    return w


def fit_dilations(length: int, num_features: int, max_dilations_per_kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """Dilations and features per dilation (aeon's ``_fit_dilations``).

    Example:
        >>> d, n = fit_dilations(100, 840, 32)
        >>> d.tolist(), int(n.sum())
        ([1, 2, 3, 4, 5, 7, 9, 12], 10)
    """
    per_kernel = num_features // NUM_KERNELS
    true_max = min(per_kernel, max_dilations_per_kernel)
    multiplier = per_kernel / true_max
    max_exponent = np.log2((length - 1) / (KERNEL_LENGTH - 1))
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, true_max, base=2).astype(np.int32), return_counts=True
    )
    counts = (counts * multiplier).astype(np.int32)
    remainder, i = per_kernel - int(counts.sum()), 0
    while remainder > 0:
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return dilations.astype(np.int32), counts


def quantiles(n: int) -> np.ndarray:
    """Low-discrepancy quantiles ``(k * golden ratio) mod 1``, ``k = 1..n`` (float32).

    Example:
        >>> [round(float(q), 3) for q in quantiles(3)]
        [0.618, 0.236, 0.854]
    """
    return np.array([(k * ((np.sqrt(5) + 1) / 2)) % 1 for k in range(1, n + 1)], dtype=np.float32)


def sample_combinations(num_combinations: int, num_channels: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Channel combination per (dilation, kernel): sizes ``2**U(0, log2(min(C, 9) + 1))``, no repeats.

    Example:
        >>> sizes, idx = sample_combinations(4, 3, np.random.default_rng(0))
        >>> int(sizes.sum()) == len(idx), int(idx.max()) < 3
        (True, True)
    """
    max_exponent = np.log2(min(num_channels, KERNEL_LENGTH) + 1)
    sizes = (2 ** rng.uniform(0, max_exponent, num_combinations)).astype(np.int32)
    idx = [rng.choice(num_channels, int(m), replace=False) for m in sizes]
    return sizes, np.concatenate(idx).astype(np.int32)


def combination_masks(sizes: np.ndarray, channel_indices: np.ndarray, num_channels: int) -> np.ndarray:
    """``(num_combinations, C)`` float32 0/1 matrix of the channels in each combination.

    Example:
        >>> combination_masks(np.array([1, 2]), np.array([2, 0, 1]), 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    masks = np.zeros((len(sizes), num_channels), dtype=np.float32)
    rows = np.repeat(np.arange(len(sizes)), sizes)
    masks[rows, channel_indices] = 1.0
    return masks


def convolve(x: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """``(B, 84, T)``: each kernel's "same" convolution summed over its channel combination.

    Example:
        >>> w = torch.from_numpy(kernel_weights())[:, None]
        >>> convolve(torch.ones(2, 3, 20), torch.ones(84, 3), w, 1)[0, 0, 4:-4].unique().tolist()
        [0.0]
    """
    summed = torch.matmul(mask, x)  # (84, C) @ (B, C, T) -> (B, 84, T)
    return F.conv1d(summed, weight, dilation=dilation, padding=(KERNEL_LENGTH - 1) * dilation // 2, groups=NUM_KERNELS)


def valid_weights(num_kernels: int, length: int, crop: torch.Tensor, padding: int, device: torch.device) -> torch.Tensor:
    """``(84, T)`` float 0/1: the time steps each kernel's PPV counts (``crop`` kernels skip ``padding`` at both ends).

    Example:
        >>> valid_weights(2, 5, torch.tensor([False, True]), 1, torch.device("cpu")).tolist()
        [[1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0, 0.0]]
    """
    valid = torch.ones((num_kernels, length), device=device)
    valid[crop, :padding] = 0.0
    valid[crop, length - padding :] = 0.0
    return valid


def ppv(c: torch.Tensor, biases: torch.Tensor, crop: torch.Tensor, padding: int, max_elements: int | None = None) -> torch.Tensor:
    """``(B, 84, F)`` proportion of ``c`` ``(B, 84, T)`` above ``biases`` ``(84, F)``; ``crop`` kernels skip the padded ends.

    ``c > b`` is evaluated as ``clamp(sign(c - b), 0)`` (exact in IEEE float with subnormals, for finite
    ``c``) and summed over time by a matrix product with the valid steps, in chunks of series and biases
    whose ``(b, 84, f, T)`` intermediate has at most ``max_elements`` (default 2**20 on CPU, 2**26 on GPU).

    Example:
        >>> c = torch.arange(10.0).repeat(1, 84, 1)
        >>> ppv(c, torch.full((84, 1), 4.5), torch.zeros(84, dtype=torch.bool), 2)[0, 0].tolist()
        [0.5]
    """
    b, k, t = c.shape
    nf = biases.shape[1]
    if max_elements is None:
        max_elements = 2**20 if c.device.type == "cpu" else 2**26
    valid = valid_weights(k, t, crop, padding, c.device)
    f_step = max(1, min(nf, max_elements // (k * t)))
    b_step = max(1, max_elements // (k * t * f_step))
    c = c.unsqueeze(2)
    counts = torch.empty((b, k, nf), device=c.device)
    for i in range(0, b, b_step):
        for f in range(0, nf, f_step):
            above = (c[i : i + b_step] - biases[:, f : f + f_step, None]).sign_().clamp_(min=0.0)  # in {0, 1}
            counts[i : i + b_step, :, f : f + f_step] = torch.matmul(above, valid[:, :, None]).squeeze(-1)
    return counts / valid.sum(dim=1)[:, None]


def resolve_backend(backend: str, device: torch.device) -> str:
    """``"numba"`` or ``"torch"`` for ``backend`` on ``device``; ``"auto"`` picks numba on the CPU when installed.

    Example:
        >>> resolve_backend("auto", torch.device("meta"))
        'torch'
    """
    if backend not in BACKENDS:
        raise ValueError(f"MiniRocket backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "numba" if device.type == "cpu" and minirocket_numba.available() else "torch"
    if backend == "numba" and device.type != "cpu":
        raise ValueError(f"MiniRocket backend 'numba' runs on the CPU, not on {device}; use 'torch' there")
    if backend == "numba" and not minirocket_numba.available():
        raise ValueError("MiniRocket backend 'numba' needs numba (pip install numba); use 'torch'")
    return backend


class MiniRocket:
    """MiniRocket transform: ``84 * (num_features // 84)`` PPV features (at least 84).

    ``fit`` picks dilations from ``T``, channel combinations, and biases from quantiles of the
    convolution output on random training series; ``transform`` batches over series on ``device``.
    ``backend``: ``"auto"`` = numba on the CPU when it is installed, else torch; ``"numba"`` (CPU
    only) or ``"torch"`` to force one. ``threads`` caps the numba path's threads (default: torch's
    ``torch.get_num_threads()``, which ``--threads`` sets).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(5, 2, 30)).astype(np.float32)
        >>> m = MiniRocket(num_features=200, seed=1, device="cpu").fit(x)
        >>> m.num_features_, m.transform(x).dtype
        (168, dtype('float32'))
    """

    def __init__(
        self,
        num_features: int = 10_000,
        max_dilations_per_kernel: int = 32,
        seed: int | None = 0,
        device: str | torch.device | None = None,
        batch_size: int = 256,
        backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.num_features = num_features
        self.max_dilations_per_kernel = max_dilations_per_kernel
        self.seed = seed
        self.device = default_device(device)
        self.batch_size = batch_size
        self.backend = resolve_backend(backend, self.device)
        self.threads = threads
        self.parameters: MiniRocketParameters | None = None

    def fit(self, X: ArrayLike, y: object = None) -> MiniRocket:  # noqa: N803
        """Fit dilations, channel combinations and biases on ``X`` ``(N, C, T)``, ``T >= 9``."""
        n, c, t = check_3d(X)
        check_finite(torch.as_tensor(X))
        if t < KERNEL_LENGTH:
            raise ValueError(f"MiniRocket needs series of at least {KERNEL_LENGTH} steps, got {t}; zero-pad them")
        rng = np.random.default_rng(self.seed)
        dilations, per_dilation = fit_dilations(t, max(self.num_features, NUM_KERNELS), self.max_dilations_per_kernel)
        sizes, channel_indices = sample_combinations(len(dilations) * NUM_KERNELS, c, rng)
        examples = rng.integers(n, size=len(dilations) * NUM_KERNELS)
        unfitted = np.zeros(NUM_KERNELS * int(per_dilation.sum()), dtype=np.float32)
        self.set_parameters(MiniRocketParameters(sizes, channel_indices, dilations, per_dilation, unfitted), c, t)
        return self.set_parameters(self.parameters._replace(biases=self.fit_biases(X, examples)), c, t)

    def set_parameters(self, parameters: MiniRocketParameters | tuple, num_channels: int, length: int) -> MiniRocket:
        """Use fitted parameters in aeon's layout (e.g. ``aeon_minirocket.parameters``)."""
        p = MiniRocketParameters(*(np.asarray(a) for a in parameters))
        self.parameters, self.num_channels_, self.length_ = p, num_channels, length
        self.num_features_ = len(p.biases)
        masks = combination_masks(p.num_channels_per_combination, p.channel_indices, num_channels)
        self._masks = torch.from_numpy(masks).to(self.device).view(len(p.dilations), NUM_KERNELS, num_channels)
        self._weight = torch.from_numpy(kernel_weights())[:, None].to(self.device)
        self._biases = torch.from_numpy(p.biases.astype(np.float32)).to(self.device)
        return self

    def fit_biases(self, X: ArrayLike, examples: np.ndarray) -> np.ndarray:  # noqa: N803
        """Biases: quantiles of each (dilation, kernel) output on training series ``X[examples[i]]``."""
        p = self.parameters
        q = quantiles(len(p.biases))
        biases, start = np.zeros(len(p.biases), dtype=np.float32), 0
        with torch.no_grad(), ieee_fp32():
            for j, dilation in enumerate(p.dilations.tolist()):
                picked = examples[j * NUM_KERNELS : (j + 1) * NUM_KERNELS]
                x = as_tensor(X[picked] if isinstance(X, np.ndarray) else X[torch.as_tensor(picked)], self.device)
                mask = self._masks[j].unsqueeze(1)  # kernel k sums its channels of example k
                summed = torch.matmul(mask, x).squeeze(1).unsqueeze(0)  # (1, 84, T)
                out = F.conv1d(summed, self._weight, dilation=dilation, padding=4 * dilation, groups=NUM_KERNELS)[0]
                out = out.cpu().numpy()
                nf = int(p.num_features_per_dilation[j])
                for k in range(NUM_KERNELS):
                    biases[start : start + nf] = np.quantile(out[k], q[start : start + nf])
                    start += nf
        return biases

    def transform(self, X: ArrayLike) -> np.ndarray:  # noqa: N803
        """``(N, num_features_)`` float32 PPV features, ordered (dilation, kernel, quantile) as aeon."""
        if self.parameters is None:
            raise RuntimeError("call fit() before transform()")
        return batched_features(X, self.num_channels_, self.num_features_, self.batch_size, self._transform_batch)

    def fit_transform(self, X: ArrayLike, y: object = None) -> np.ndarray:  # noqa: N803
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def _transform_batch(self, x: ArrayLike) -> np.ndarray:
        if self.backend == "numba":
            xn = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
            xn = np.ascontiguousarray(xn, dtype=np.float32)
            if not np.isfinite(xn).all():
                check_finite(torch.from_numpy(xn))  # raises the common message
            threads = self.threads if self.threads is not None else torch.get_num_threads()
            return minirocket_numba.transform(xn, self.parameters, threads)
        p = self.parameters
        xt = as_tensor(x, self.device)
        check_finite(xt)
        parity = torch.arange(NUM_KERNELS, device=self.device) % 2
        feats, start = [], 0
        for j, dilation in enumerate(p.dilations.tolist()):
            nf = int(p.num_features_per_dilation[j])
            c = convolve(xt, self._masks[j], self._weight, dilation)
            b = self._biases[start : start + NUM_KERNELS * nf].view(NUM_KERNELS, nf)
            feats.append(ppv(c, b, (parity + j % 2) % 2 == 1, 4 * dilation).flatten(1))
            start += NUM_KERNELS * nf
        return torch.cat(feats, dim=1).cpu().numpy()
