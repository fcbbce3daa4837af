"""Classic baselines: summary features by hand, and every baseline learns the planted effect under the CV protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facedep.baselines.classic import make_classic_model, scores
from facedep.baselines.summary_features import summary_feature_names, summary_features
from facedep.experiment.compare import compare_models

ROOT = Path(__file__).resolve().parents[1]


def test_summary_features_match_hand_computed_values() -> None:
    x = np.array([[[1.0, 0.0], [2.0, 0.0], [4.0, 3.0]]], dtype=np.float32)  # 1 window, 3 frames, 2 channels
    features = dict(zip(summary_feature_names(["a", "b"]), summary_features(x)[0]))
    assert features["a_mean"] == pytest.approx(7 / 3)
    assert features["a_std"] == pytest.approx(np.std([1, 2, 4]))
    assert (features["a_min"], features["a_max"], features["a_median"]) == (1.0, 4.0, 2.0)
    assert features["a_slope"] == pytest.approx(1.5)  # least-squares slope of 1, 2, 4 over t = -1, 0, 1
    assert features["b_q75"] == pytest.approx(1.5)


def test_ridge_scores_are_probabilities() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16, 3)).astype(np.float32)
    y = (x[:, :, 1].mean(axis=1) > 0).astype(int)
    model = make_classic_model("rocket_ridge", num_kernels=200).fit(x, y)
    probs = scores(model, x, 2)
    assert probs.shape == (40, 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert ((probs[:, 1] > 0.5) == model.predict(x).astype(bool)).all()


def test_unknown_model_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="choose from"):
        make_classic_model("svm")


def test_every_baseline_learns_the_planted_effect(demo_manifest: Path, tmp_path: Path) -> None:
    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path), "--run.name", "t"]
    summaries = compare_models(str(ROOT / "configs" / "tests" / "tiny.yaml"), folds=3,
                               models=["rocket_lr", "rocket_ridge", "minirocket_ridge", "boosting"],
                               overrides=overrides, n_boot=50, num_kernels=500)
    for model, summary in summaries.items():
        assert summary["levels"]["subject"]["metrics"]["accuracy"]["mean"] >= 0.8, model
        report = json.loads((tmp_path / "t-compare" / model / "report.json").read_text())
        assert report["levels"]["subject"]["n"] == 18  # every subject tested once
    table = (tmp_path / "t-compare" / "table.md").read_text()
    assert all(name in table for name in summaries) and "±" in table


def test_classic_fold_fits_on_training_windows_only(demo_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline sees exactly the training windows in ``fit`` (test windows only in scoring)."""
    import facedep.baselines.fold as fold_module
    from datamodules.au_sequence import AUSequenceDataModule

    seen: dict[str, np.ndarray] = {}

    class Recorder:
        def fit(self, x: np.ndarray, y: np.ndarray) -> "Recorder":
            seen["fit"] = x
            return self

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            seen["score"] = x
            return np.full((len(x), 2), 0.5)

    monkeypatch.setattr(fold_module, "make_classic_model", lambda *a, **k: Recorder())
    args = ["--config", str(ROOT / "configs" / "tests" / "tiny.yaml"), "--data.init_args.manifest", str(demo_manifest),
            "--run.output_dir", str(tmp_path), "--data.init_args.fold", "1"]
    result = fold_module.run_classic_fold(args, "boosting")
    dm = AUSequenceDataModule(manifest=str(demo_manifest), window=32, stride=32, num_folds=3, fold=1, cache_dir=None)
    dm.setup("fit")
    np.testing.assert_allclose(seen["fit"], dm.datasets["train"].arrays()["x"], atol=1e-6)
    np.testing.assert_allclose(seen["score"], dm.datasets["test"].arrays()["x"], atol=1e-6)
    assert result["data"]["test"]["subject_ids"] == dm.data_report["test"]["subject_ids"]


def test_classic_fold_tunes_the_threshold_on_validation_when_the_config_does(demo_manifest: Path, tmp_path: Path) -> None:
    """The deep models' protocol: a threshold tuned on validation subjects, stored with the predictions, used in metrics."""
    from facedep.baselines.fold import run_classic_fold
    from report_helpers import assert_report_matches_metrics_json

    args = ["--config", str(ROOT / "configs" / "tests" / "tiny.yaml"), "--data.init_args.manifest", str(demo_manifest),
            "--run.output_dir", str(tmp_path), "--model.init_args.loss", "bce", "--model.init_args.tune_threshold", "true"]
    result = run_classic_fold(args, "boosting")
    assert 0.1 <= result["decision_threshold"] <= 0.9
    assert_report_matches_metrics_json(result, result["decision_threshold"])
    assert run_classic_fold(args[:-4], "boosting")["decision_threshold"] is None  # no tuning: argmax, no column
