"""Classic regression baselines under the deep regressor's protocol (``target: score``): fitted on the training
windows' float scores only, clipped to the range, the deep regressor's files; compare_models' regression table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facedep.baselines.regression import REGRESSION_MODELS, make_regression_model, predict_scores
from facedep.experiment.compare import compare_models, main

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")


@pytest.fixture(scope="module")
def score_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """9 synthetic subjects (one session each) with the demo's PHQ-8-like ``score`` column (planted effect)."""
    from datamodules.synthetic.openface_demo import make_openface_demo

    return make_openface_demo(tmp_path_factory.mktemp("scores"), num_subjects=9, sessions_per_subject=1,
                              frames=(80, 120), effect_size=3.0, seed=1)


def _overrides(manifest: Path, out: Path) -> list[str]:
    return ["--data.init_args.manifest", str(manifest), "--data.init_args.target", "score",
            "--run.output_dir", str(out), "--run.name", "reg"]


def test_regressors_learn_a_linear_target_and_clip() -> None:
    rng = np.random.default_rng(0)
    level = rng.uniform(0, 1, 80)  # planted: channel 0's offset (summary features), channel 1's frequency (ROCKET)
    t = np.arange(32) / 32
    x = rng.normal(0, 0.1, size=(80, 32, 2)).astype(np.float32)
    x[:, :, 0] += level[:, None]
    x[:, :, 1] += np.sin(2 * np.pi * (1 + 3 * level[:, None]) * t)
    y = 2 + 20 * level
    for name in REGRESSION_MODELS:
        model = make_regression_model(name, **({"num_kernels": 200} if "rocket" in name else {}))
        model.fit(x[:60], y[:60])
        pred = predict_scores(model, x[60:], 0.0, 24.0)
        baseline = np.abs(y[60:] - y[:60].mean()).mean()
        assert np.abs(pred - y[60:]).mean() < 0.8 * baseline, name
        assert pred.min() >= 0.0 and pred.max() <= 24.0
    assert predict_scores(model, x[:3], None, 9.0).max() <= 9.0


def test_regression_fold_fits_on_training_windows_only(score_manifest: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline sees exactly the training windows and their float scores in ``fit``; the fold writes the
    deep regressor's metrics.json keys and tables (with the baseline of the training mean)."""
    import facedep.baselines.fold as fold_module

    seen = {}
    real = fold_module.make_regression_model

    def spy(name: str, **kwargs: object):  # noqa: ANN202
        model = real(name, **kwargs)
        fit = model.fit

        def recording_fit(x: np.ndarray, y: np.ndarray):  # noqa: ANN202
            seen["x"], seen["y"] = x, y
            return fit(x, y)

        model.fit = recording_fit
        return model

    monkeypatch.setattr(fold_module, "make_regression_model", spy)
    args = ["--config", TINY, "--model", "lightning_modules.SequenceRegressor", *_overrides(score_manifest, tmp_path),
            "--data.init_args.fold", "0"]
    result = fold_module.run_regression_fold(args, "boosting")
    from facedep.experiment.cli import FacedepCLI

    dm = FacedepCLI(args=args + ["--tracking.wandb", "disabled", "--trainer.logger", "false"]).datamodule
    dm.setup("fit")
    train = dm.datasets["train"].arrays()
    assert seen["y"].dtype == np.float64 and np.array_equal(seen["x"], train["x"]) and np.allclose(seen["y"], train["y"])
    assert result["target"] == pytest.approx(dm.target_stats)
    for level in ("window", "video", "subject"):
        for metric in ("mae", "rmse", "ccc", "accuracy", "baseline_mae", "baseline_rmse"):
            assert f"test/{level}/{metric}" in result["test"], (level, metric)
    subject = pd.read_csv(result["predictions"]["predictions_test_subject"])
    assert list(subject.columns[:4]) == ["id", "name", "target", "prediction"]
    assert set(subject["name"]) == set(dm.data_report["test"]["subject_ids"])
    assert subject["prediction"].between(0, 24).all()
    baseline = float((subject["target"] - dm.target_stats["mean"]).abs().mean())
    assert result["test"]["test/subject/baseline_mae"] == pytest.approx(baseline)
    assert result["test"]["test/subject/mae"] == pytest.approx(float((subject["prediction"] - subject["target"]).abs().mean()))
    assert "subject" in pd.read_csv(result["predictions"]["predictions_test_video"]).columns
    assert json.loads((tmp_path / "reg" / "metrics.json").read_text())["target"]["mean"] == dm.target_stats["mean"]


def test_compare_models_regression_table_has_the_baseline_row(score_manifest: Path, tmp_path: Path) -> None:
    overrides = _overrides(score_manifest, tmp_path) + ["--model.init_args.net.init_args.hidden_size", "4"]
    summaries = compare_models(TINY, 3, ["boosting", "rocket_ridge", "lstm"], overrides, n_boot=30, num_kernels=100)
    root = tmp_path / "reg-compare"
    table = (root / "table.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| model | subject MAE | subject RMSE | subject CCC | pooled subject MAE [95% CI] | seconds |"
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| boosting", "| rocket_ridge", "| lstm", "| mean baseline"]
    numbers = json.loads((root / "table.json").read_text())
    for model, summary in summaries.items():
        report = json.loads((root / model / "report.json").read_text())
        assert report["regression"]["pooled"]["n_subjects"] == 9  # every subject tested once
        assert numbers[model]["subject/mae"]["mean"] == summary["regression"]["metrics"]["subject"]["mae"]["mean"]
        assert (root / model / "regression_scatter.png").stat().st_size > 0
    # the same folds for every model, classic or deep (SequenceRegressor): the same mean baseline
    baselines = {m: s["regression"]["metrics"]["subject"]["baseline_mae"]["mean"] for m, s in summaries.items()}
    assert baselines["boosting"] == pytest.approx(baselines["rocket_ridge"]) == pytest.approx(baselines["lstm"])
    lstm_run = json.loads((root / "lstm" / "fold0" / "metrics.json").read_text())
    assert "test/subject/ccc" in lstm_run["test"] and "SequenceRegressor" in (root / "lstm" / "fold0" / "config.yaml").read_text()
    assert numbers["mean baseline"]["subject/mae"]["mean"] == pytest.approx(baselines["boosting"])
    # ROCKET + ridge learns the planted score effect: it beats the mean on the pooled subjects
    assert summaries["rocket_ridge"]["regression"]["pooled"]["mae_minus_baseline"]["value"] < 0


def test_rocket_lr_on_a_score_target_is_refused(score_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"'rocket_lr' has no regression counterpart.*boosting, minirocket_ridge, rocket_ridge"):
        compare_models(TINY, 3, ["boosting", "rocket_lr"], _overrides(score_manifest, tmp_path), n_boot=10)
    assert not (tmp_path / "reg-compare").exists()  # refused before any model ran
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", TINY, "--models", "rocket_lr", *_overrides(score_manifest, tmp_path)])
    assert exit_info.value.code == 2 and "rocket_lr" in capsys.readouterr().err
