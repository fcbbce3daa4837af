"""Tests for the balanced class weights (datamodules/label_stats.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datamodules.label_stats import class_weights_from_labels


def test_class_weights_from_labels_values() -> None:
    torch.testing.assert_close(class_weights_from_labels(np.array([0, 0, 0, 1]), 2), torch.tensor([2 / 3, 2.0]))
    w3 = class_weights_from_labels(torch.tensor([0, 1, 2, 2]), 3)
    torch.testing.assert_close(w3, torch.tensor([4 / 3, 4 / 3, 2 / 3]))
    torch.testing.assert_close(class_weights_from_labels([1, 0], 2), torch.ones(2))
    assert class_weights_from_labels(np.array([0.0, 1.0]), 2).dtype == torch.float32
    # same as sklearn's "balanced"
    sk = pytest.importorskip("sklearn.utils.class_weight")
    y = np.array([0] * 7 + [1] * 2 + [2] * 11)
    expected = sk.compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(class_weights_from_labels(y, 3).numpy(), expected, rtol=1e-6)


def test_class_weights_from_labels_missing_class_and_errors() -> None:
    with pytest.warns(UserWarning, match="class 2 has no samples"):
        w = class_weights_from_labels(np.array([0, 0, 1]), 3)
    torch.testing.assert_close(w, torch.tensor([0.5, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"labels \[3\] outside \[0, 3\)"):
        class_weights_from_labels(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="no labels"):
        class_weights_from_labels(np.array([], dtype=int), 2)
    with pytest.raises(ValueError, match="integer"):
        class_weights_from_labels(np.array([0.5, 1.0]), 2)
