"""Tests for ``HybridAttentionNet`` with timm's tiny test backbones (random weights, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_modules.nets import HybridAttentionNet

BACKBONES = ("test_resnet", "test_efficientnet")  # both stride 32: 64x64 input -> 2x2 grids


def make_net(**kwargs) -> HybridAttentionNet:
    """A small net at reference size 64; ``kwargs`` override the defaults."""
    defaults = dict(backbones=BACKBONES, img_size=64, d_model=32, nhead=2, dim_feedforward=64, dropout=0.0)
    return HybridAttentionNet(3, 2, **{**defaults, **kwargs})


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_image_output_and_token_count() -> None:
    net = make_net()
    x = torch.randn(3, 3, 64, 64)
    assert net(x).shape == (3, 2)
    tokens, grids = net.embed_images(x)
    assert grids == [(2, 2), (2, 2)]
    assert tokens.shape == (3, 1 + sum(h * w for h, w in grids), 32)


def test_mixed_strides_token_count() -> None:
    net = make_net(backbones=("test_resnet", "test_vit"))  # test_vit has stride 16 -> 4x4 grid
    tokens, grids = net.embed_images(torch.randn(2, 3, 64, 64))
    assert grids == [(2, 2), (4, 4)]
    assert tokens.shape[1] == 1 + 4 + 16
    assert [tuple(p.shape[-2:]) for p in net.pos_embeddings] == grids


def test_temporal_output_shape() -> None:
    net = make_net(temporal=True, max_frames=8)
    assert net(torch.randn(2, 5, 3, 64, 64)).shape == (2, 2)
    assert {k: tuple(v.shape) for k, v in net.eval().attention_maps(torch.randn(2, 5, 3, 64, 64)).items()} == {
        "test_resnet": (2, 5, 2, 2),
        "test_efficientnet": (2, 5, 2, 2),
    }
    with pytest.raises(ValueError, match="max_frames"):
        net(torch.randn(1, 9, 3, 64, 64))
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(2, 3, 64, 64))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="divisible"):
        make_net(d_model=30, nhead=4)
    with pytest.raises(ValueError, match="not in backbones"):
        make_net(weights={"resnet50": "x.pth"})
    with pytest.raises(ValueError, match="in_channels"):
        make_net()(torch.randn(1, 1, 64, 64))


def _backbone_grads(net: HybridAttentionNet) -> list[torch.Tensor | None]:
    net.zero_grad(set_to_none=True)
    net(torch.randn(4, 3, 64, 64)).sum().backward()
    return [p.grad for p in net.backbones.parameters()]


def test_frozen_backbones_get_no_grad_and_stay_in_eval() -> None:
    net = make_net(freeze_backbones=True).train()
    assert not any(m.training for m in net.backbones.modules())
    assert net.encoder.training and net.head.training
    stats = [b.clone() for b in net.backbones.buffers()]
    assert all(g is None for g in _backbone_grads(net))
    assert all(torch.equal(a, b) for a, b in zip(stats, net.backbones.buffers()))  # BN stats untouched
    assert net.cls_token.grad is not None and net.projections[0].weight.grad is not None


def test_unfrozen_backbones_get_grad_and_train() -> None:
    net = make_net(freeze_backbones=False).train()
    assert all(m.training for m in net.backbones.modules())
    grads = _backbone_grads(net)
    assert grads and all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_attention_maps_shapes_and_mass() -> None:
    net = make_net(backbones=("test_resnet", "test_vit")).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps = net.attention_maps(x)
        tokens, _ = net.embed_images(x)
        *first, last = net.encoder.layers
        for layer in first:
            tokens = layer(tokens)
        h = last.norm1(tokens)
        _, full = last.self_attn(h, h, h, need_weights=True, average_attn_weights=True)
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"test_resnet": (2, 2, 2), "test_vit": (2, 4, 4)}
    assert (full[:, 0].sum(-1) - 1).abs().max() < 1e-5
    total = sum(m.flatten(1).sum(1) for m in maps.values()) + full[:, 0, 0]  # + CLS self-attention
    assert torch.allclose(total, torch.ones(2), atol=1e-5)
    assert torch.allclose(maps["test_resnet"].flatten(1).sum(1), full[:, 0, 1:5].sum(1), atol=1e-6)
    assert all((m >= 0).all() for m in maps.values())


def test_channels_last_matches_contiguous() -> None:
    net = make_net().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
        out = net(x.to(memory_format=torch.channels_last))
        net = net.to(memory_format=torch.channels_last)
        out_cl_model = net(x.to(memory_format=torch.channels_last))
        maps = net.attention_maps(x.to(memory_format=torch.channels_last))
    assert torch.allclose(ref, out, atol=1e-5) and torch.allclose(ref, out_cl_model, atol=1e-5)
    assert maps["test_resnet"].shape == (2, 2, 2)


def test_other_input_size_interpolates_positions() -> None:
    net = make_net().eval()  # position tables are 2x2 (reference 64x64)
    x = torch.randn(2, 3, 96, 128)
    tokens, grids = net.embed_images(x)
    assert grids == [(3, 4), (3, 4)] and tokens.shape[1] == 1 + 12 + 12
    assert net(x).shape == (2, 2)
    assert net.attention_maps(x)["test_efficientnet"].shape == (2, 3, 4)


def test_bf16_autocast_cpu() -> None:
    net = make_net().eval()
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64))
        maps = net.attention_maps(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 2) and torch.isfinite(out.float()).all()
    assert maps["test_resnet"].shape == (2, 2, 2)
    net_t = make_net(temporal=True, max_frames=4).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_t = net_t(torch.randn(2, 3, 3, 64, 64))
    out_t.float().sum().backward()
    assert out_t.shape == (2, 2) and net_t.head[1].weight.grad is not None


def test_weights_from_local_file(tmp_path: Path) -> None:
    """A full (classifier) ``test_resnet`` state_dict, loaded by timm via ``pretrained_cfg_overlay``."""
    import timm

    source = timm.create_model("test_resnet", pretrained=False)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()  # clearly different from any fresh init
    path = tmp_path / "test_resnet.pth"
    torch.save(source.state_dict(), path)
    net = make_net(weights={"test_resnet": str(path)})
    saved = source.state_dict()
    loaded = net.backbones[0].state_dict()
    assert loaded and set(loaded) <= set(saved)  # classifier keys dropped by features_only
    assert all(torch.equal(v, saved[k]) for k, v in loaded.items())
    with pytest.raises(FileNotFoundError):
        make_net(weights={"test_resnet": str(tmp_path / "missing.pth")})


def _planted_square_data(n: int = 32, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise images; class 1 has a bright 8x8 square in the top-left corner."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=g) * 0.5
    y = torch.arange(n) % 2
    x[y == 1, :, :8, :8] += 3.0
    return x, y


@pytest.fixture()
def one_thread():
    """One intra-op thread: on a small, busy CPU, thread contention makes tiny steps ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_overfit(one_thread: None) -> None:
    x, y = _planted_square_data()
    net = make_net(img_size=32, freeze_backbones=False)  # 32x32 -> 1x1 grids: 3 tokens
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.9, f"train accuracy {acc:.2f} (last loss {loss.item():.3f})"


def test_earlier_feature_stage_gives_a_finer_token_grid() -> None:
    last = HybridAttentionNet(3, 2, backbones=("test_resnet",), img_size=64, d_model=16, nhead=2)
    finer = HybridAttentionNet(3, 2, backbones=("test_resnet",), img_size=64, d_model=16, nhead=2, feature_stage=-2)
    x = torch.randn(1, 3, 64, 64)
    (h1, w1), (h2, w2) = last.attention_maps(x)["test_resnet"].shape[1:], finer.attention_maps(x)["test_resnet"].shape[1:]
    assert (h2, w2) == (2 * h1, 2 * w1)
    assert finer(x).shape == (1, 2)


def test_image_classifier_channels_last_matches_contiguous() -> None:
    from functools import partial

    from lightning_modules import ImageClassifier
    from lightning_modules.nets import ImageCNN

    torch.manual_seed(0)
    net = partial(ImageCNN, backbone="test_resnet", dropout=0.0)
    plain = ImageClassifier(net=net, num_classes=3).eval()
    fast = ImageClassifier(net=net, num_classes=3, channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert next(p for p in fast.net.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-4, atol=1e-5)
    assert fast(x).shape == (2, 3)
