"""The fused numba MiniRocket transform: bit for bit a literal numpy port of aeon's algorithm, and the torch path's features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facedep.baselines import MiniRocket
from facedep.baselines import minirocket_numba
from facedep.baselines.minirocket import INDICES, resolve_backend

pytestmark = pytest.mark.skipif(not minirocket_numba.available(), reason="numba not installed")


def aeon_reference(x: np.ndarray, parameters: tuple) -> np.ndarray:
    """aeon 1.6's ``_static_transform_multi`` transcribed to plain numpy, statement by statement (float32)."""
    sizes, channel_indices, dilations, per_dilation, biases = parameters
    n, c, t = x.shape
    features = np.zeros((n, 84 * int(per_dilation.sum())), dtype=np.float32)
    for i in range(n):
        a, g = -x[i], (3 * x[i]).astype(np.float32)
        f_start, combo, ch_start = 0, 0, 0
        for j, dilation in enumerate(dilations.tolist()):
            padding = (8 * dilation) // 2
            c_alpha = np.zeros((c, t), dtype=np.float32)
            c_alpha[:] = a
            c_gamma = np.zeros((9, c, t), dtype=np.float32)
            c_gamma[4] = g
            start, end = dilation, t - padding
            for gamma_index in range(4):
                c_alpha[:, -end:] = c_alpha[:, -end:] + a[:, :end]
                c_gamma[gamma_index, :, -end:] = g[:, :end]
                end += dilation
            for gamma_index in range(5, 9):
                c_alpha[:, :-start] = c_alpha[:, :-start] + a[:, start:]
                c_gamma[gamma_index, :, :-start] = g[:, start:]
                start += dilation
            for k in range(84):
                chans = channel_indices[ch_start : ch_start + sizes[combo]]
                i0, i1, i2 = INDICES[k]
                per_channel = c_alpha[chans] + c_gamma[i0][chans] + c_gamma[i1][chans] + c_gamma[i2][chans]
                summed = np.zeros(t, dtype=np.float32)
                for row in per_channel:  # numba's np.sum(axis=0): one row after the other
                    summed = summed + row
                counted = summed if (j % 2 + k) % 2 == 0 else summed[padding:-padding]
                for f in range(int(per_dilation[j])):
                    features[i, f_start + f] = np.float32((counted > biases[f_start + f]).sum() / len(counted))
                f_start += int(per_dilation[j])
                ch_start += int(sizes[combo])
                combo += 1
    return features


@pytest.mark.parametrize(("n", "c", "t", "num_features"), [(5, 4, 60, 1000), (3, 1, 9, 84), (4, 12, 97, 2000)],
                         ids=["multivariate", "univariate-minimum-length", "more-channels-than-taps"])
def test_numba_transform_is_bitwise_the_aeon_algorithm(n: int, c: int, t: int, num_features: int) -> None:
    x = np.cumsum(np.random.default_rng(n * t).normal(size=(n, c, t)), axis=-1).astype(np.float32)
    m = MiniRocket(num_features=num_features, device="cpu", backend="numba").fit(x)
    reference = aeon_reference(x, tuple(m.parameters))
    np.testing.assert_array_equal(m.transform(x), reference)
    assert 0.2 < reference.mean() < 0.8  # the biases lie inside the outputs: the check is not trivially all 0 or 1


def test_numba_and_torch_backends_agree_up_to_rounding_at_a_bias() -> None:
    x = np.cumsum(np.random.default_rng(1).normal(size=(40, 6, 128)), axis=-1).astype(np.float32)
    numba_side = MiniRocket(num_features=3000, device="cpu", backend="numba").fit(x)
    torch_side = MiniRocket(num_features=3000, device="cpu", backend="torch").fit(x)
    np.testing.assert_array_equal(numba_side.parameters.biases, torch_side.parameters.biases)  # fit is shared
    a, b = numba_side.transform(x), torch_side.transform(x)
    assert (a != b).mean() < 1e-3
    assert np.abs(a - b).max() <= 2.0 / (128 - 2 * 4 * 15) + 1e-6  # at most two time steps of the shortest count


def test_numba_transform_is_independent_of_threads_batches_and_input_type() -> None:
    x = np.random.default_rng(2).normal(size=(7, 3, 50)).astype(np.float32)
    m = MiniRocket(num_features=500, device="cpu", backend="numba").fit(x)
    reference = minirocket_numba.transform(x, m.parameters, threads=1)
    np.testing.assert_array_equal(minirocket_numba.transform(x, m.parameters, threads=2), reference)
    batched = MiniRocket(num_features=500, device="cpu", backend="numba", batch_size=3, threads=1).fit(x)
    np.testing.assert_array_equal(batched.transform(torch.from_numpy(x)), reference)
    np.testing.assert_array_equal(m.transform(x.astype(np.float64)), reference)  # float64 input is cast once


def test_series_shorter_than_fitted_match_the_torch_path() -> None:
    """Transforming shorter series than fitted: kernels whose padding leaves no step give NaN on both paths."""
    x = np.random.default_rng(5).normal(size=(3, 2, 60)).astype(np.float32)
    numba_side = MiniRocket(num_features=840, device="cpu", backend="numba").fit(x)
    torch_side = MiniRocket(num_features=840, device="cpu", backend="torch").fit(x)
    a, b = numba_side.transform(x[..., :20]), torch_side.transform(x[..., :20])
    assert np.isnan(a).any() and np.array_equal(np.isnan(a), np.isnan(b))
    assert (a[~np.isnan(a)] != b[~np.isnan(b)]).mean() < 1e-2


def test_numba_threads_are_restored() -> None:
    import numba

    before = numba.get_num_threads()
    x = np.random.default_rng(3).normal(size=(2, 2, 20)).astype(np.float32)
    MiniRocket(num_features=84, device="cpu", backend="numba", threads=1).fit(x).transform(x)
    assert numba.get_num_threads() == before


def test_backend_choice_and_errors() -> None:
    assert resolve_backend("auto", torch.device("cpu")) == "numba"
    assert resolve_backend("auto", torch.device("meta")) == "torch"
    assert resolve_backend("torch", torch.device("cpu")) == "torch"
    with pytest.raises(ValueError, match="runs on the CPU"):
        resolve_backend("numba", torch.device("meta"))
    with pytest.raises(ValueError, match="must be one of"):
        MiniRocket(device="cpu", backend="fast")
