"""Decision thresholds: chosen on validation by macro-F1, stored in the checkpoint, used on test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from facedep.experiment.train import run_training
from report_helpers import assert_report_matches_metrics_json
from lightning_modules.thresholds import CANDIDATES, best_threshold, macro_f1_per_threshold, shift_to_threshold


def test_macro_f1_grid_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    p, y = rng.uniform(size=50), rng.integers(0, 2, 50)
    ours = macro_f1_per_threshold(torch.tensor(p), torch.tensor(y), CANDIDATES.double()).numpy()
    expected = [f1_score(y, p >= t, average="macro", zero_division=0) for t in CANDIDATES.double().numpy()]
    np.testing.assert_allclose(ours, expected, atol=1e-9)
    assert ours.max() == pytest.approx(max(expected))
    assert f1_score(y, p >= best_threshold(torch.tensor(p), torch.tensor(y)), average="macro") == pytest.approx(max(expected))


def test_shift_decides_at_threshold_and_keeps_auroc() -> None:
    probs1 = torch.tensor([0.05, 0.2, 0.31, 0.5, 0.9])
    shifted = shift_to_threshold(torch.stack([1 - probs1, probs1], 1), 0.3)
    assert (shifted.argmax(1) == (probs1 >= 0.3).long()).all()
    y = [0, 0, 1, 0, 1]
    assert roc_auc_score(y, shifted[:, 1]) == pytest.approx(roc_auc_score(y, probs1))


def test_tuned_threshold_lands_in_checkpoint_and_metrics(tiny_args: list[str]) -> None:
    result = run_training(tiny_args + ["--model.init_args.loss", "bce", "--model.init_args.tune_threshold", "true"])
    threshold = result["test"]["test/threshold"]
    assert 0.1 <= threshold <= 0.9
    state = torch.load(result["best_checkpoint"], weights_only=True)["state_dict"]
    assert float(state["decision_threshold"]) == pytest.approx(threshold)
    assert_report_matches_metrics_json(result, threshold)


def test_threshold_tuning_refuses_multiclass() -> None:
    from lightning_modules import SequenceClassifier

    with pytest.raises(ValueError, match="binary"):
        SequenceClassifier(num_classes=3, tune_threshold=True)
