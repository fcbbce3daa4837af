"""Torch ROCKET / MiniRocket: aeon's algorithm on the same kernels, fitted parameters in aeon's layout, accuracy.

Comparisons against aeon itself run only where ``aeon`` is importable in this interpreter (it is kept out
of the project venv because it pins older numpy/pandas); everything else always runs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from facedep.baselines import MiniRocket, Rocket
from facedep.baselines.minirocket import INDICES, fit_dilations, kernel_weights, quantiles
from facedep.baselines.rocket import apply_kernels_numpy, sample_kernels, znormalise

try:
    import aeon  # noqa: F401

    HAVE_AEON = True
except ImportError:
    HAVE_AEON = False

needs_aeon = pytest.mark.skipif(not HAVE_AEON, reason="aeon not importable in this interpreter")


def planted(n: int = 200, channels: int = 6, length: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise series; channel 2 carries a sine burst at a random place, faster in class 1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, channels, length)).astype(np.float32)
    y = np.arange(n) % 2
    t = np.arange(30)
    for i in range(n):
        start = rng.integers(0, length - 30)
        period = 12.0 if y[i] else 5.0
        x[i, 2, start : start + 30] += 2.5 * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    return x, y


def accuracy(features_train: np.ndarray, y_train: np.ndarray, features_test: np.ndarray, y_test: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
    return float((model.fit(features_train, y_train).predict(features_test) == y_test).mean())


@pytest.fixture(scope="module")
def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = planted()
    return x[:100], y[:100], x[100:], y[100:]


# ---------------------------------------------------------------- ROCKET


def test_rocket_kernels_follow_aeon_sampling() -> None:
    k = sample_kernels(400, 5, 80, np.random.default_rng(0))
    assert set(k.lengths.tolist()) == {7, 9, 11}
    assert (k.num_channel_indices >= 1).all() and (k.num_channel_indices <= 5).all()
    assert (k.dilations >= 1).all() and ((k.lengths - 1) * k.dilations <= 79).all()
    assert ((k.paddings == 0) | (k.paddings == (k.lengths - 1) * k.dilations // 2)).all()
    assert 0.3 < (k.paddings > 0).mean() < 0.7 and (np.abs(k.biases) <= 1).all()
    a1 = a2 = 0
    for size, m in zip(k.lengths, k.num_channel_indices, strict=True):
        w = k.weights[a1 : a1 + m * size].reshape(m, size)
        assert np.allclose(w.mean(axis=1), 0, atol=1e-5)  # mean-centred per channel
        assert len(set(k.channel_indices[a2 : a2 + m].tolist())) == m  # no repeated channel
        a1, a2 = a1 + m * size, a2 + m
    assert a1 == len(k.weights) and a2 == len(k.channel_indices)


def test_rocket_matches_aeon_loop_on_same_kernels() -> None:
    x = np.random.default_rng(1).normal(size=(3, 4, 40)) * 3 + 1
    rocket = Rocket(num_kernels=150, device="cpu", batch_size=2).fit(x)
    reference = apply_kernels_numpy(znormalise(torch.from_numpy(x)).float().numpy(), rocket.kernels)
    np.testing.assert_allclose(rocket.transform(x), reference, atol=1e-4)


def test_rocket_without_normalise_and_short_series() -> None:
    x = np.random.default_rng(2).normal(size=(2, 3, 6)).astype(np.float32)  # shorter than every kernel
    rocket = Rocket(num_kernels=30, normalise=False, device="cpu").fit(x)
    np.testing.assert_allclose(rocket.transform(torch.from_numpy(x)), apply_kernels_numpy(x, rocket.kernels), atol=1e-4)


def test_rocket_shapes_determinism_and_errors() -> None:
    x = np.random.default_rng(3).normal(size=(5, 3, 50)).astype(np.float32)
    a = Rocket(num_kernels=40, seed=7, device="cpu").fit_transform(x)
    assert a.shape == (5, 80) and a.dtype == np.float32
    assert np.array_equal(a, Rocket(num_kernels=40, seed=7, device="cpu").fit_transform(x))
    assert not np.array_equal(a, Rocket(num_kernels=40, seed=8, device="cpu").fit_transform(x))
    assert ((a[:, 0::2] >= 0) & (a[:, 0::2] <= 1)).all()  # PPV columns
    with pytest.raises(RuntimeError):
        Rocket(num_kernels=4, device="cpu").transform(x)
    with pytest.raises(ValueError):
        Rocket(num_kernels=4, device="cpu").fit(x).transform(x[:, :2])


@needs_aeon
def test_rocket_matches_aeon_apply_kernels() -> None:
    from aeon.transformations.collection.convolution_based._rocket import _apply_kernels

    x = np.random.default_rng(4).normal(size=(4, 5, 60))
    rocket = Rocket(num_kernels=300, device="cpu").fit(x)
    reference = _apply_kernels(znormalise(torch.from_numpy(x)).float().numpy(), tuple(rocket.kernels))
    np.testing.assert_allclose(rocket.transform(x), reference, atol=1e-4)


@needs_aeon
def test_rocket_runs_aeon_kernels() -> None:
    from aeon.transformations.collection.convolution_based import Rocket as AeonRocket

    x = np.random.default_rng(5).normal(size=(4, 5, 60))
    theirs = AeonRocket(n_kernels=200, random_state=0).fit(x)
    ours = Rocket(device="cpu").set_kernels(theirs.kernels, 5, 60)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x), atol=1e-4)


# ---------------------------------------------------------------- MiniRocket


def test_minirocket_fixed_kernels_and_dilations() -> None:
    w = kernel_weights()
    assert w.shape == (84, 9) and set(np.unique(w).tolist()) == {-1.0, 2.0} and (w == 2).sum(axis=1).tolist() == [3] * 84
    dilations, per_dilation = fit_dilations(100, 10_000, 32)
    assert dilations[0] == 1 and dilations[-1] <= (100 - 1) / 8 and per_dilation.sum() == 10_000 // 84
    q = quantiles(100)
    assert ((q > 0) & (q < 1)).all() and abs(q.mean() - 0.5) < 0.02


def test_minirocket_shapes_determinism_and_errors() -> None:
    x = np.random.default_rng(6).normal(size=(6, 3, 40)).astype(np.float32)
    m = MiniRocket(num_features=500, seed=3, device="cpu").fit(x)
    f = m.transform(x)
    assert f.shape == (6, 420) and f.dtype == np.float32 and m.num_features_ == 420
    assert ((f >= 0) & (f <= 1)).all()
    assert np.array_equal(f, MiniRocket(num_features=500, seed=3, device="cpu").fit_transform(x))
    assert not np.array_equal(f, MiniRocket(num_features=500, seed=4, device="cpu").fit_transform(x))
    assert np.array_equal(f, MiniRocket(num_features=500, seed=3, device="cpu", batch_size=4).fit(x).transform(torch.from_numpy(x)))
    assert MiniRocket(num_features=10, device="cpu").fit(x).num_features_ == 84
    assert MiniRocket(device="cpu").fit(x).num_features_ == 84 * (10_000 // 84)
    with pytest.raises(ValueError, match="at least 9"):
        MiniRocket(device="cpu").fit(x[:, :, :8])


def test_minirocket_ppv_chunking_is_exact() -> None:
    from facedep.baselines.minirocket import ppv

    c, biases = torch.randn(5, 84, 40), torch.randn(84, 7)
    crop = torch.arange(84) % 2 == 1  # odd kernels skip 16 steps at each end
    full = ppv(c, biases, crop, 16)
    assert torch.equal(full, ppv(c, biases, crop, 16, max_elements=1))
    assert torch.allclose(full[:, 0::2], (c[:, 0::2, None, :] > biases[0::2, :, None]).float().mean(-1))
    assert torch.allclose(full[:, 1::2], (c[:, 1::2, None, 16:24] > biases[1::2, :, None]).float().mean(-1))


def test_minirocket_biases_are_quantiles_of_the_training_outputs() -> None:
    """With one training series repeated, each bias is an exact quantile of that series' kernel output."""
    x = np.repeat(np.random.default_rng(7).normal(size=(1, 2, 30)).astype(np.float32), 3, axis=0)
    m = MiniRocket(num_features=84, device="cpu").fit(x)
    p = m.parameters
    assert len(p.dilations) == 1 and p.dilations[0] == 1
    q = quantiles(84)
    for k in range(84):
        chans = p.channel_indices[p.num_channels_per_combination[:k].sum() :][: p.num_channels_per_combination[k]]
        series = np.pad(x[0, chans].sum(axis=0), 4)
        out = np.array([series[t : t + 9] @ kernel_weights()[k] for t in range(30)])
        assert p.biases[k] == pytest.approx(np.quantile(out, q[k]), rel=1e-5, abs=1e-5)


@needs_aeon
def test_minirocket_bitwise_with_aeon_parameters_both_ways() -> None:
    from aeon.transformations.collection.convolution_based import MiniRocket as AeonMiniRocket

    x = np.random.default_rng(8).normal(size=(6, 4, 60)).astype(np.float32)
    theirs = AeonMiniRocket(n_kernels=1000, random_state=0).fit(x)
    ours = MiniRocket(device="cpu").set_parameters(theirs.parameters, 4, 60)
    np.testing.assert_array_equal(ours.transform(x), theirs.transform(x))
    ours = MiniRocket(num_features=1000, device="cpu").fit(x)
    theirs.parameters = tuple(ours.parameters)
    np.testing.assert_array_equal(ours.transform(x), theirs.transform(x))


@needs_aeon
def test_minirocket_bias_fit_matches_aeon() -> None:
    """Same channel combinations; identical training series make aeon's random example choice irrelevant."""
    from aeon.transformations.collection.convolution_based._minirocket import _fit_biases

    x = np.repeat(np.random.default_rng(9).normal(size=(1, 4, 60)).astype(np.float32), 3, axis=0)
    p = MiniRocket(num_features=1000, device="cpu").fit(x).parameters
    reference = _fit_biases(x, p.num_channels_per_combination, p.channel_indices, p.dilations,
                            p.num_features_per_dilation, quantiles(len(p.biases)), INDICES, 0)
    np.testing.assert_allclose(p.biases, reference, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------- accuracy on a planted problem


@pytest.mark.parametrize("make", [lambda: Rocket(num_kernels=500, device="cpu"),
                                  lambda: MiniRocket(num_features=2000, device="cpu")], ids=["rocket", "minirocket"])
def test_planted_problem_is_learned(make, split) -> None:  # noqa: ANN001
    x_train, y_train, x_test, y_test = split
    transform = make().fit(x_train)
    assert accuracy(transform.transform(x_train), y_train, transform.transform(x_test), y_test) >= 0.9


@needs_aeon
@pytest.mark.parametrize("kind", ["rocket", "minirocket"])
def test_accuracy_and_feature_distribution_on_par_with_aeon(kind: str, split) -> None:  # noqa: ANN001
    from aeon.transformations.collection.convolution_based import MiniRocket as AeonMiniRocket
    from aeon.transformations.collection.convolution_based import Rocket as AeonRocket

    x_train, y_train, x_test, y_test = split
    if kind == "rocket":
        ours, theirs = Rocket(num_kernels=500, device="cpu"), AeonRocket(n_kernels=500, random_state=0)
    else:
        ours, theirs = MiniRocket(num_features=2000, device="cpu"), AeonMiniRocket(n_kernels=2000, random_state=0)
    f_ours = ours.fit(x_train).transform(np.concatenate([x_train, x_test]))
    f_theirs = theirs.fit(x_train).transform(np.concatenate([x_train, x_test]))
    assert f_ours.shape == f_theirs.shape
    acc_ours = accuracy(f_ours[:100], y_train, f_ours[100:], y_test)
    acc_theirs = accuracy(f_theirs[:100], y_train, f_theirs[100:], y_test)
    assert acc_ours >= acc_theirs - 0.05
    ppv_ours, ppv_theirs = (f[:, 0::2] if kind == "rocket" else f for f in (f_ours, f_theirs))
    assert abs(ppv_ours.mean() - ppv_theirs.mean()) < 0.05 and abs(ppv_ours.std() - ppv_theirs.std()) < 0.05
    if kind == "rocket":  # random kernels: same sampling distribution
        assert abs(ours.kernels.num_channel_indices.mean() - theirs.kernels[5].mean()) < 0.5
        assert abs(np.log2(ours.kernels.dilations).mean() - np.log2(theirs.kernels[3]).mean()) < 0.3


def test_non_finite_series_are_rejected() -> None:
    x = np.random.default_rng(11).normal(size=(3, 2, 30)).astype(np.float32)
    rocket, minirocket = Rocket(num_kernels=10, device="cpu").fit(x), MiniRocket(num_features=84, device="cpu").fit(x)
    x[1, 0, 5] = np.nan
    for transform in (rocket.transform, minirocket.transform, MiniRocket(device="cpu").fit):
        with pytest.raises(ValueError, match="NaN"):
            transform(x)


def test_benchmark_command_runs(tmp_path) -> None:  # noqa: ANN001
    import json

    from facedep.benchmarks import main

    out = tmp_path / "bench.json"
    args = ["rocket", "--series", "6", "--channels", "2", "--length", "30", "--kernels", "84", "--no-aeon",
            "--threads", str(torch.get_num_threads()), "--device", "cpu", "--json", str(out)]
    assert main(args) == 0
    results = json.loads(out.read_text())
    assert set(results["ours"]) == {"rocket", "minirocket", "minirocket_torch"} and results["aeon"] is None
    assert all(rate > 0 for rate in results["ours"].values())


# ---------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    x = np.random.default_rng(10).normal(size=(20, 6, 100)).astype(np.float32)
    cpu, gpu = Rocket(num_kernels=500, device="cpu").fit(x), Rocket(num_kernels=500, device="cuda").fit(x)
    a, b = cpu.transform(x), gpu.transform(x)
    assert np.abs(a[:, 1::2] - b[:, 1::2]).max() < 1e-3 and (np.abs(a[:, 0::2] - b[:, 0::2]) > 1e-4).mean() < 1e-3
    cpu, gpu = MiniRocket(device="cpu").fit(x), MiniRocket(device="cuda").fit(x)
    assert np.abs(cpu.parameters.biases - gpu.parameters.biases).max() < 1e-3
    gpu.set_parameters(cpu.parameters, 6, 100)
    assert (cpu.transform(x) != gpu.transform(x)).mean() < 1e-3
