"""Tests for the losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lightning_modules.losses import (
    BinaryFocalLoss,
    ClassificationLoss,
    FocalLoss,
)


def _data(b: int = 16, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, k, generator=g) * 2, torch.randint(0, k, (b,), generator=g)


# ---- FocalLoss ---------------------------------------------------------------------------------------------


def test_focal_gamma0_equals_cross_entropy() -> None:
    logits, y = _data()
    w = torch.tensor([0.5, 2.0, 1.0])
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, y), F.cross_entropy(logits, y))
    torch.testing.assert_close(FocalLoss(gamma=0.0, weight=w)(logits, y), F.cross_entropy(logits, y, weight=w))
    torch.testing.assert_close(
        FocalLoss(gamma=0.0, weight=w, label_smoothing=0.1)(logits, y),
        F.cross_entropy(logits, y, weight=w, label_smoothing=0.1),
    )
    torch.testing.assert_close(
        FocalLoss(gamma=0.0, reduction="none")(logits, y), F.cross_entropy(logits, y, reduction="none")
    )
    torch.testing.assert_close(
        FocalLoss(gamma=0.0, weight=w, reduction="sum")(logits, y),
        F.cross_entropy(logits, y, weight=w, reduction="sum"),
    )


def test_focal_hand_computed() -> None:
    # logits [0, 0] -> p_t = 0.5; loss = (1 - 0.5)^2 * ln 2
    loss = FocalLoss(gamma=2.0)(torch.zeros(1, 2), torch.tensor([1]))
    assert loss.item() == pytest.approx(0.25 * math.log(2))
    # weighted mean: two samples, p_t = 0.5 each, weights 1 and 3 -> same per-sample loss -> same mean
    w = torch.tensor([1.0, 3.0])
    loss_w = FocalLoss(gamma=2.0, weight=w)(torch.zeros(2, 2), torch.tensor([0, 1]))
    assert loss_w.item() == pytest.approx(0.25 * math.log(2))
    # unequal per-sample losses: sum(w_i l_i) / sum(w_i)
    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    per = FocalLoss(gamma=1.5, reduction="none")(logits, y)
    p = torch.softmax(logits, 1)[:, 0]
    torch.testing.assert_close(per, -((1 - p) ** 1.5) * torch.log(p))
    weighted = FocalLoss(gamma=1.5, weight=torch.tensor([2.0, 1.0]))(logits, y)
    assert weighted.item() == pytest.approx(per.mean().item())  # both targets class 0 -> weights cancel


def test_focal_downweights_easy_examples() -> None:
    logits, y = _data()
    assert FocalLoss(gamma=2.0)(logits, y) < F.cross_entropy(logits, y)


def test_focal_weight_buffer() -> None:
    loss = FocalLoss(weight=torch.tensor([1.0, 2.0]))
    assert "weight" in loss.state_dict()
    assert loss.to(torch.float64).weight.dtype == torch.float64
    assert "weight" not in FocalLoss().state_dict()
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1.0)


# ---- BinaryFocalLoss ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(16,), (16, 1)])
def test_binary_focal_gamma0_equals_bce(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(shape, generator=g) * 3
    y = (torch.rand(shape, generator=g) > 0.5).float()
    pw = torch.tensor(3.0)
    torch.testing.assert_close(
        BinaryFocalLoss(gamma=0.0)(logits, y), F.binary_cross_entropy_with_logits(logits, y)
    )
    torch.testing.assert_close(
        BinaryFocalLoss(gamma=0.0, pos_weight=pw)(logits, y),
        F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw),
    )


def test_binary_focal_hand_computed_and_stable() -> None:
    # logit 0: p = 0.5; positive: 3 * 0.5^2 * ln 2; negative: 0.5^2 * ln 2
    loss = BinaryFocalLoss(gamma=2.0, pos_weight=3.0, reduction="none")(torch.zeros(2), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(loss, torch.tensor([0.75, 0.25]) * math.log(2))
    big = BinaryFocalLoss(gamma=2.0)(torch.tensor([100.0, -100.0]), torch.tensor([0.0, 1.0]))
    assert torch.isfinite(big) and big.item() > 10
    with pytest.raises(ValueError, match=r"\(B,\) or \(B, 1\)"):
        BinaryFocalLoss()(torch.zeros(4, 2), torch.zeros(4))
    assert "pos_weight" in BinaryFocalLoss(pos_weight=2.0).state_dict()


# ---- ClassificationLoss ------------------------------------------------------------------------------------


def test_classification_loss_ce_matches_cross_entropy() -> None:
    logits, y = _data()
    loss = ClassificationLoss(3)
    torch.testing.assert_close(loss(logits, y), F.cross_entropy(logits, y))
    w = torch.tensor([0.5, 2.0, 1.0])
    loss.set_class_weights(w)
    torch.testing.assert_close(loss(logits, y), F.cross_entropy(logits, y, weight=w))
    smooth = ClassificationLoss(3, label_smoothing=0.2)
    smooth.set_class_weights(w)
    torch.testing.assert_close(smooth(logits, y), F.cross_entropy(logits, y, weight=w, label_smoothing=0.2))
    focal = ClassificationLoss(3, focal_gamma=2.0)
    focal.set_class_weights(w)
    torch.testing.assert_close(focal(logits, y), FocalLoss(gamma=2.0, weight=w)(logits, y))


def test_class_weights_buffer_in_state_dict_and_moves() -> None:
    loss = ClassificationLoss(2)
    torch.testing.assert_close(loss.class_weights, torch.ones(2))
    loss.set_class_weights(torch.tensor([0.25, 4.0], dtype=torch.float64))
    sd = loss.state_dict()
    assert "class_weights" in sd
    torch.testing.assert_close(sd["class_weights"], torch.tensor([0.25, 4.0]))
    restored = ClassificationLoss(2)
    restored.load_state_dict(sd)
    torch.testing.assert_close(restored.class_weights, torch.tensor([0.25, 4.0]))
    loss.to(torch.float64)
    assert loss.class_weights.dtype == torch.float64
    logits, y = torch.randn(4, 2, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    assert loss(logits, y).dtype == torch.float64
    assert loss(logits.float(), y).dtype == torch.float32  # weights follow the logits' dtype
    assert loss(logits.half(), y).dtype == torch.float32  # half logits computed in float32
    loss.set_class_weights(np.array([1.0, 2.0]))  # numpy accepted, keeps buffer dtype
    assert loss.class_weights.dtype == torch.float64


def test_set_class_weights_checks() -> None:
    loss = ClassificationLoss(3)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        loss.set_class_weights(torch.ones(2))
    with pytest.raises(ValueError, match="finite and >= 0"):
        loss.set_class_weights(torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="finite and >= 0"):
        loss.set_class_weights(torch.tensor([1.0, float("inf"), 1.0]))


@pytest.mark.parametrize("shape", [(8,), (8, 1)])
def test_classification_loss_bce(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(shape, generator=g)
    y = torch.tensor([0, 1, 1, 0, 0, 0, 1, 0])
    loss = ClassificationLoss(2, kind="bce")
    assert loss.num_outputs == 1
    loss.set_class_weights(torch.tensor([0.5, 2.0]))
    expected = F.binary_cross_entropy_with_logits(logits.reshape(8), y.float(), pos_weight=torch.tensor(4.0))
    torch.testing.assert_close(loss(logits, y), expected)
    focal = ClassificationLoss(2, kind="bce", focal_gamma=2.0)
    focal.set_class_weights(torch.tensor([0.5, 2.0]))
    torch.testing.assert_close(focal(logits, y), BinaryFocalLoss(2.0, pos_weight=4.0)(logits, y.float()))
    smooth = ClassificationLoss(2, kind="bce", label_smoothing=0.1)
    torch.testing.assert_close(
        smooth(logits, y), F.binary_cross_entropy_with_logits(logits.reshape(8), y.float() * 0.9 + 0.05)
    )


def test_classification_loss_errors() -> None:
    with pytest.raises(ValueError, match="binary tasks only"):
        ClassificationLoss(3, kind="bce")
    with pytest.raises(ValueError, match="kind must be"):
        ClassificationLoss(2, kind="mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="focal_gamma"):
        ClassificationLoss(2, focal_gamma=-0.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        ClassificationLoss(2, label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        ClassificationLoss(3)(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="integer class targets"):
        ClassificationLoss(2)(torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="num_outputs"):
        ClassificationLoss(2, kind="bce")(torch.zeros(4, 2), torch.zeros(4))
    bce = ClassificationLoss(2, kind="bce")
    bce.set_class_weights(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"class_weights\[0\] > 0"):
        bce(torch.zeros(4), torch.zeros(4))


def test_probabilities() -> None:
    ce = ClassificationLoss(3)
    logits = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    p = ce.probabilities(logits)
    assert p.shape == (2, 3)
    torch.testing.assert_close(p.sum(1), torch.ones(2))
    torch.testing.assert_close(p[0], torch.full((3,), 1 / 3))
    bce = ClassificationLoss(2, kind="bce")
    for lg in (torch.tensor([0.0, 2.0]), torch.tensor([[0.0], [2.0]])):
        pb = bce.probabilities(lg)
        s = torch.sigmoid(torch.tensor(2.0))
        torch.testing.assert_close(pb, torch.tensor([[0.5, 0.5], [1 - s, s]]))


def test_gradients_through_classification_loss() -> None:
    logits = torch.randn(6, 3, requires_grad=True)
    ClassificationLoss(3, focal_gamma=2.0)(logits, torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
