"""SequenceRegressor: metrics against numpy/scipy/sklearn, levels, a CLI run on HRM demo data, the planted effect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from scipy.stats import pearsonr
from sklearn.metrics import r2_score

from datamodules.hrm_sequences import HRMSequenceDataModule, build_hrm_manifest
from datamodules.synthetic.au_faces import make_au_face_demo
from lightning_modules.nets import RecurrentNet
from lightning_modules.sequence_regressor import SequenceRegressor, regression_metrics, three_levels

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "au" / "hrm_atypicality_gru.yaml"


def hrm_manifest(root: Path, subjects: int, frames: int, seed: int = 0) -> Path:
    make_au_face_demo(root, subjects=subjects, frames_per_subject=frames, size=32, seed=seed)
    build_hrm_manifest(root, root / "sequences.csv")
    return root / "sequences.csv"


def test_metrics_match_numpy_scipy_sklearn() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(2.0, 1.0, 50)
    pred = target + rng.normal(0.3, 0.5, 50)
    got = regression_metrics(torch.tensor(pred, dtype=torch.float32), torch.tensor(target, dtype=torch.float32))
    assert got["mae"] == pytest.approx(np.abs(pred - target).mean(), rel=1e-5)
    assert got["rmse"] == pytest.approx(np.sqrt(((pred - target) ** 2).mean()), rel=1e-5)
    assert got["r"] == pytest.approx(pearsonr(pred, target)[0], rel=1e-5)
    assert got["r2"] == pytest.approx(r2_score(target, pred), rel=1e-5)
    constant = regression_metrics(torch.ones(3), torch.ones(3))
    assert constant["mae"] == 0 and np.isnan(constant["r"]) and np.isnan(constant["r2"])


def test_three_levels_are_means_over_windows() -> None:
    pred, y = torch.tensor([1.0, 2.0, 3.0, 4.0, 6.0]), torch.tensor([0.0, 1.0, 1.0, 2.0, 2.0])
    video, subject = torch.tensor([5, 5, 7, 9, 9]), torch.tensor([0, 0, 0, 1, 1])
    levels = three_levels(pred, y, video, subject, torch.arange(5))
    frame = pd.DataFrame({"pred": pred, "y": y, "video": video, "subject": subject})
    for level, key in (("video", "video"), ("subject", "subject")):
        want = frame.groupby(key)[["pred", "y"]].mean()
        assert levels[level]["ids"].tolist() == want.index.tolist()
        assert np.allclose(levels[level]["pred"], want["pred"]) and np.allclose(levels[level]["y"], want["y"])
    assert levels["subject"]["pred"].tolist() == [2.0, 5.0]  # subject 0: (1 + 2 + 3) / 3, not the mean of video means


def test_model_checks_and_default_net() -> None:
    model = SequenceRegressor(in_channels=22)
    assert isinstance(model.net, RecurrentNet) and model.net.rnn.hidden_size == 128 and model.net.rnn.num_layers == 2
    assert isinstance(model.net.rnn, torch.nn.GRU) and model(torch.zeros(3, 15, 22)).shape == (3,)
    with pytest.raises(ValueError, match="one target"):
        SequenceRegressor(num_classes=2)
    x, y = torch.zeros(4), torch.tensor([0.0, 0.5, 2.0, 4.0])
    assert float(SequenceRegressor(loss="huber", huber_delta=1.0).loss_fn(x, y)) == pytest.approx((0.125 + 1.5 + 3.5) / 4)
    assert float(SequenceRegressor(loss="l1").loss_fn(x, y)) == pytest.approx(1.625)


def test_cli_run_writes_metrics_and_tables(tmp_path: Path) -> None:
    from facedep.experiment.train import run_training

    manifest = hrm_manifest(tmp_path / "hrm", subjects=12, frames=40)
    result = run_training([
        "--config", str(CONFIG), "--data.init_args.manifest", str(manifest), "--data.init_args.window", "8",
        "--trainer.max_epochs", "3", "--trainer.accelerator", "cpu", "--tracking.wandb", "disabled",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--model.init_args.net.init_args.hidden_size", "8", "--run.output_dir", str(tmp_path / "runs"), "--run.name", "hrm",
    ])
    run = tmp_path / "runs" / "hrm"
    saved = json.loads((run / "metrics.json").read_text())
    for level in ("window", "video", "subject"):
        assert np.isfinite(saved["test"][f"test/{level}/mae"])
        table = pd.read_csv(run / f"predictions_test_{level}.csv")
        subject = ["subject"] if level != "subject" else []  # the subject's name, for the cluster bootstrap
        assert table.columns.tolist() == ["id", "name", "target", "prediction", *subject] and len(table) > 0
    assert saved["class_names"] == ["Abnormal-avg"] and result["best_val_score"] is not None
    assert saved["target"] is None  # no target_stats from the HRM DataModule: no scale
    videos = pd.read_csv(run / "predictions_test_video.csv")
    assert videos["name"].str.contains("#").all()  # <group>/<subject>#<segment>
    metrics = pd.read_csv(run / "metrics_test.csv")
    assert metrics["level"].tolist() == ["window", "video", "subject"]
    assert metrics.loc[1, "mae"] == pytest.approx(saved["test"]["test/video/mae"], rel=1e-5)
    report = json.loads((run / "data_report.json").read_text())
    assert {"windows", "segments_skipped_short", "frames"} <= set(report["test"])


def test_learning_beats_the_mean_predictor(tmp_path: Path) -> None:
    """Atypicality is planted as a function of segment AU statistics: a small GRU must beat the training mean."""
    pl.seed_everything(0, verbose=False)
    manifest = hrm_manifest(tmp_path, subjects=24, frames=80)
    dm = HRMSequenceDataModule(str(manifest), window=10, num_folds=3, val_folds=0, batch_size=32)
    net = lambda c, k: RecurrentNet(c, k, hidden_size=32, cell="gru")  # noqa: E731
    model = SequenceRegressor(net=net, in_channels=22, optimizer=lambda p: torch.optim.AdamW(p, lr=5e-3))
    trainer = pl.Trainer(max_epochs=10, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    videos = model.predictions["test"]["video"]
    baseline = float((videos["y"] - float(dm.datasets["train"].targets.mean())).abs().mean())
    mae = model.scores["test"]["video"]["mae"]
    assert mae < 0.85 * baseline, (mae, baseline)  # seed 0: 0.56 vs 0.88; seeds 0-3, folds 0-1: ratio 0.51-0.75
    assert model.scores["test"]["video"]["r"] > 0.5


def test_cross_validation_summarises_regression_folds(tmp_path: Path) -> None:
    """cross_validate takes the regressor's own tables: the summary is the logged test metrics per fold."""
    from facedep.experiment.cross_validate import cross_validate

    manifest = hrm_manifest(tmp_path / "hrm", subjects=9, frames=30)
    summary = cross_validate(str(CONFIG), 3, [
        "--data.init_args.manifest", str(manifest), "--data.init_args.window", "5", "--trainer.max_epochs", "1",
        "--trainer.accelerator", "cpu", "--tracking.wandb", "disabled", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--model.init_args.net.init_args.hidden_size", "4",
        "--run.output_dir", str(tmp_path / "runs"), "--run.name", "cv",
    ], n_boot=10)
    assert summary["levels"] == {} and summary["metric_names"] == []
    assert summary["trainer_metrics"]["test/video/mae"]["n_valid"] == 3
    report = (tmp_path / "runs" / "cv" / "report.md").read_text()
    assert "test/video/mae" in report and "macro_f1" not in report
    # pooled over the 3 folds' test subjects, recomputed here from the fold tables
    import pandas as pd

    tables = [pd.read_csv(tmp_path / "runs" / "cv" / f"fold{k}" / "predictions_test_subject.csv") for k in range(3)]
    pooled = pd.concat(tables)
    pooled_mae = float((pooled["prediction"] - pooled["target"]).abs().mean())
    entry = summary["pooled_regression"]["subject"]
    assert entry["n"] == len(pooled) == 9
    assert abs(entry["mae"]["value"] - pooled_mae) < 1e-5
    assert entry["mae"]["ci_low"] <= entry["mae"]["value"] <= entry["mae"]["ci_high"]
    assert "Pooled over folds" in report


def test_predict_step_returns_window_predictions_with_ids() -> None:
    import pytorch_lightning as pl

    from lightning_modules.sequence_regressor import SequenceRegressor

    model = SequenceRegressor(in_channels=3)
    x = torch.randn(5, 15, 3)
    batch = {"x": x, "y": torch.zeros(5), "video": torch.arange(5), "subject": torch.zeros(5, dtype=torch.long),
             "index": torch.arange(5)}
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (out,) = trainer.predict(model, torch.utils.data.DataLoader([batch], batch_size=None))
    assert out["prediction"].shape == (5,) and torch.equal(out["index"], torch.arange(5))
    torch.testing.assert_close(out["prediction"], model.eval()(x))
