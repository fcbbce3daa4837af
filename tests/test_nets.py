"""Tests for the plain sequence nets and the MLP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from lightning_modules.nets import MLP, InceptionTime, RecurrentNet, TransformerEncoderNet
from lightning_modules.nets.inception_time import InceptionModule


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny nets: one intra-op thread is fastest and robust to a busy CI machine."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def planted_problem(n: int = 64, t: int = 32, c: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1 has +1.0 mean in channel 2."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, t, c, generator=g)
    x[:, :, 2] += y[:, None].float()
    return x, y


SEQ_CONFIGS = [
    (RecurrentNet, {}),
    (RecurrentNet, {"cell": "gru", "num_layers": 2, "bidirectional": True, "dropout": 0.2}),
    (RecurrentNet, {"pooling": "mean", "bidirectional": True}),
    (InceptionTime, {}),
    (InceptionTime, {"num_filters": 8, "depth": 3, "kernel_sizes": (4, 8), "bottleneck": 0, "residual": False}),
    (TransformerEncoderNet, {}),
    (TransformerEncoderNet, {"d_model": 32, "nhead": 2, "num_layers": 1, "pooling": "mean", "max_len": 64}),
]


@pytest.mark.parametrize(("cls", "kwargs"), SEQ_CONFIGS)
@pytest.mark.parametrize("num_classes", [1, 2, 5])
@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_sequence_output_shape(cls: type[nn.Module], kwargs: dict, num_classes: int) -> None:
    torch.manual_seed(0)
    net = cls(17, num_classes, **kwargs).eval()
    for t in (1, 7, 40):
        assert net(torch.randn(3, t, 17)).shape == (3, num_classes)


@pytest.mark.parametrize(("cls", "kwargs"), SEQ_CONFIGS)
@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_gradients_flow(cls: type[nn.Module], kwargs: dict) -> None:
    torch.manual_seed(0)
    net = cls(5, 3, **kwargs).train()
    net(torch.randn(4, 16, 5)).sum().backward()
    missing = [name for name, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize(("cls", "kwargs"), SEQ_CONFIGS)
def test_sequence_rejects_bad_input(cls: type[nn.Module], kwargs: dict) -> None:
    net = cls(17, 2, **kwargs)
    with pytest.raises(ValueError, match="batch, time, channels"):
        net(torch.randn(3, 17))
    with pytest.raises(ValueError, match="in_channels=17"):
        net(torch.randn(3, 10, 16))


def test_default_parameter_counts() -> None:
    counts = {cls.__name__: n_params(cls(17, 2)) for cls in (RecurrentNet, InceptionTime, TransformerEncoderNet, MLP)}
    # LSTM: 4 * (17*64 + 64*64 + 2*64) + head 64*2+2
    assert counts["RecurrentNet"] == 4 * (17 * 64 + 64 * 64 + 2 * 64) + 130
    assert 300_000 < counts["InceptionTime"] < 600_000  # paper / tsai: ~0.46M
    assert 50_000 < counts["TransformerEncoderNet"] < 300_000
    assert counts["MLP"] == 17 * 128 + 128 + 128 * 64 + 64 + 64 * 2 + 2


def test_recurrent_bidirectional_last_uses_both_directions() -> None:
    net = RecurrentNet(4, 2, hidden_size=8, bidirectional=True, num_layers=2)
    assert net.head.in_features == 16
    with pytest.raises(ValueError, match="cell"):
        RecurrentNet(4, 2, cell="rnn")  # type: ignore[arg-type]


def test_inception_time_structure() -> None:
    net = InceptionTime(17, 2)  # depth 6
    modules = list(net.block.inception)
    assert len(modules) == 6 and all(isinstance(m, InceptionModule) for m in modules)
    assert len(net.block.shortcut) == 2  # after modules 3 and 6
    # first shortcut maps 17 -> 128 channels (conv 1x1 + BN); second is BN only (128 -> 128)
    first, second = net.block.shortcut
    assert isinstance(first, nn.Sequential) and isinstance(first[0], nn.Conv1d)
    assert first[0].in_channels == 17 and first[0].out_channels == 128
    assert isinstance(second, nn.BatchNorm1d)
    m0 = modules[0]
    assert isinstance(m0.bottleneck, nn.Conv1d) and m0.bottleneck.out_channels == 32
    assert [c.kernel_size[0] for c in m0.convs] == [9, 19, 39]
    assert net.head.in_features == 128
    assert len(InceptionTime(17, 2, residual=False).block.shortcut) == 0
    assert isinstance(InceptionTime(1, 2).block.inception[0].bottleneck, nn.Identity)  # univariate: none


def test_inception_time_residual_changes_output() -> None:
    torch.manual_seed(0)
    net = InceptionTime(3, 2, num_filters=4, depth=3).eval()
    x = torch.randn(2, 20, 3)
    out = net(x)
    net.block.residual = False
    assert not torch.allclose(out, net(x))


def test_transformer_too_long_raises() -> None:
    net = TransformerEncoderNet(4, 2, d_model=16, nhead=2, max_len=10)
    assert net(torch.randn(2, 10, 4)).shape == (2, 2)
    with pytest.raises(ValueError, match="exceeds max_len=10"):
        net(torch.randn(2, 11, 4))
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderNet(4, 2, d_model=10, nhead=4)


def test_mlp_shapes_and_errors() -> None:
    assert MLP(17, 3)(torch.randn(5, 17)).shape == (5, 3)
    assert MLP(17, 2, hidden_sizes=())(torch.randn(5, 17)).shape == (5, 2)
    with pytest.raises(ValueError, match=r"\(batch, channels\)"):
        MLP(17, 2)(torch.randn(5, 4, 17))
    with pytest.raises(ValueError, match="in_channels=17"):
        MLP(17, 2)(torch.randn(5, 16))


def _fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 100, lr: float = 1e-2) -> float:
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (RecurrentNet, {"hidden_size": 16}),
        (RecurrentNet, {"hidden_size": 16, "cell": "gru", "bidirectional": True, "pooling": "mean"}),
        (InceptionTime, {"num_filters": 8, "depth": 3, "bottleneck": 8}),
        (TransformerEncoderNet, {"d_model": 16, "nhead": 2, "num_layers": 1, "dim_feedforward": 32, "max_len": 32}),
    ],
)
def test_sequence_net_overfits_planted_problem(cls: type[nn.Module], kwargs: dict) -> None:
    torch.manual_seed(0)
    x, y = planted_problem()
    assert _fit(cls(4, 2, **kwargs), x, y) > 0.95


def test_mlp_overfits_planted_problem() -> None:
    torch.manual_seed(0)
    x, y = planted_problem()
    x = x.flatten(1)  # frame-level features: (64, 128)
    assert _fit(MLP(x.shape[1], 2, hidden_sizes=(32,)), x, y) > 0.95
