"""Score regression: CCC loss, standardised target and clipping, buffers in checkpoints, binary and baseline
metrics against hand-computed values, checkpoint selection, a planted linear target learned, the HRM path unchanged."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader

from datamodules.window_dataset import WindowDataset, collate_windows
from facedep.inference.checkpoints import build_module, load_checkpoint
from lightning_modules.nets import RecurrentNet
from lightning_modules.regression_evaluation import (
    BASELINE_METRICS,
    BINARY_METRICS,
    METRICS,
    TargetScale,
    binary_metrics,
    evaluate_regression,
    regression_tables,
)
from lightning_modules.regression_losses import ccc_loss, regression_loss
from lightning_modules.sequence_regressor import SequenceRegressor, selection_score

PHQ8 = {"name": "score", "mean": 10.0, "std": 5.0, "low": 0.0, "high": 24.0, "threshold": 10.0}
WINDOW, CHANNELS = 5, 3


class FirstValue(nn.Module):
    """A "net" whose output is the first input value of each window: plants exact net outputs."""

    def __init__(self, in_channels: int = 1, num_classes: int = 1) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)  # an optimiser needs a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, :1]


class ScoreData(pl.LightningDataModule):
    """Videos whose score (uniform on [0, 24]) shifts channels 0 and 1 of every frame; 2 videos per subject.

    Subjects 0..n_train-1 train, the next n_eval validate, the next n_eval test. ``target_stats`` as the score
    DataModules give them (mean / population std of the training subjects' mean score); ``stats=False`` leaves it out.
    """

    def __init__(self, n_train: int = 16, n_eval: int = 6, frames: int = 20, seed: int = 0, stats: bool = True) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        subjects = n_train + 2 * n_eval
        self.scores = rng.uniform(0, 24, 2 * subjects).astype(np.float32)
        shift = np.array([1.0, -0.5, 0.0], dtype=np.float32)
        sequences = [(rng.normal(0, 0.3, (frames, CHANNELS)) + (s - 12) / 6 * shift).astype(np.float32) for s in self.scores]
        splits = {"train": range(n_train), "val": range(n_train, n_train + n_eval),
                  "test": range(n_train + n_eval, subjects)}
        self.datasets = {}
        for name, subject_range in splits.items():
            videos = [v for s in subject_range for v in (2 * s, 2 * s + 1)]
            ds = WindowDataset([sequences[v] for v in videos], [0] * len(videos), videos, [v // 2 for v in videos],
                               window=WINDOW, stride=WINDOW)
            ds.labels = self.scores[videos]  # float targets, as with target: score
            self.datasets[name] = ds
        train_subject_scores = self.scores[: 2 * n_train].reshape(n_train, 2).mean(axis=1)
        if stats:
            self.target_stats = {**PHQ8, "mean": float(train_subject_scores.mean()), "std": float(train_subject_scores.std())}

    def _loader(self, name: str) -> DataLoader:
        return DataLoader(self.datasets[name], batch_size=32, shuffle=name == "train", collate_fn=collate_windows)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


def trainer(epochs: int, **kwargs: object) -> pl.Trainer:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, **kwargs)


def gru(hidden: int = 8) -> functools.partial:
    return functools.partial(RecurrentNet, hidden_size=hidden, num_layers=1, cell="gru")


# ---- loss ------------------------------------------------------------------------------------
def test_ccc_loss_is_one_minus_ccc_by_hand_and_zero_when_perfect() -> None:
    pred = torch.tensor([1.0, 2.0, 4.0], requires_grad=True)
    target = torch.tensor([1.0, 3.0, 3.0])
    # means 7/3; var_p = 42/27, var_t = 24/27, cov = 24/27: CCC = 48 / 66
    loss = ccc_loss(pred, target)
    assert float(loss) == pytest.approx(1 - 48 / 66)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert float(ccc_loss(target, target)) == pytest.approx(0.0, abs=1e-7)
    assert float(ccc_loss(torch.full((3,), 2.0), torch.full((3,), 2.0))) == 0.0  # constant and equal
    assert float(ccc_loss(torch.tensor([1.0]), torch.tensor([3.0]))) == 1.0
    assert float(regression_loss("ccc", pred, target)) == pytest.approx(1 - 48 / 66)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        regression_loss("hinge", torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="loss must be one of"):
        SequenceRegressor(loss="hinge")
    with pytest.raises(ValueError, match="selection_metric"):
        SequenceRegressor(selection_metric="r2")
    with pytest.raises(ValueError, match="selection_level"):
        SequenceRegressor(selection_level="frame")
    with pytest.raises(ValueError, match="unknown keys"):
        TargetScale.from_stats({"mean": 1.0, "sd": 2.0})
    with pytest.raises(ValueError, match="low 24.0 > high 0.0"):
        TargetScale(low=24, high=0)


# ---- standardisation and clipping ----------------------------------------------------------------
def windows_starting_with(values: list[float]) -> torch.Tensor:
    x = torch.zeros(len(values), WINDOW, 1)
    x[:, 0, 0] = torch.tensor(values)
    return x


def test_predictions_are_destandardised_and_clipped() -> None:
    model = SequenceRegressor(net=lambda c, k: FirstValue(), in_channels=1)
    model.set_target_scale(TargetScale.from_stats(PHQ8))
    x = windows_starting_with([3.0, -3.0, 1.0, -0.4])  # net outputs z
    assert model(x).tolist() == pytest.approx([24.0, 0.0, 15.0, 8.0])  # 25 -> 24, -5 -> 0
    assert model.standardize(torch.tensor([20.0, 0.0])).tolist() == [2.0, -2.0]
    model.clip = False
    assert model(x).tolist() == pytest.approx([25.0, -5.0, 15.0, 8.0])
    model.clip, model.standardize_target = True, False  # raw outputs, still clipped to the range
    assert model(windows_starting_with([30.0, -1.0, 7.0])).tolist() == pytest.approx([24.0, 0.0, 7.0])
    assert model.standardize(torch.tensor([20.0])).tolist() == [20.0]


def test_scale_buffers_stay_float64_when_the_model_is_cast() -> None:
    model = SequenceRegressor(net=lambda c, k: FirstValue(), in_channels=1)
    model.set_target_scale(TargetScale(mean=12.0792236328125, std=7.4383645))
    model.to(torch.bfloat16)  # what precision: bf16-true does
    assert model.net.unused.weight.dtype == torch.bfloat16 and model.target_mean.dtype == torch.float64
    assert model.target_scale.mean == 12.0792236328125  # bf16 would hold 12.0625


def test_zero_std_standardises_by_one() -> None:
    model = SequenceRegressor(net=lambda c, k: FirstValue(), in_channels=1)
    model.set_target_scale(TargetScale(mean=5.0, std=0.0))
    assert model(windows_starting_with([1.0])).tolist() == [6.0]


def test_loss_is_on_the_standardised_target() -> None:
    model = SequenceRegressor(net=lambda c, k: FirstValue(), in_channels=1, loss="mse")
    model.set_target_scale(TargetScale.from_stats(PHQ8))
    batch = {"x": windows_starting_with([1.0, 0.0]), "y": torch.tensor([20.0, 10.0])}  # z targets 2 and 0
    z = model.net_output(batch["x"])
    assert float(model.loss_fn(z, model.standardize(batch["y"]))) == pytest.approx((1.0 + 0.0) / 2)


# ---- metrics ---------------------------------------------------------------------------------
def test_binary_and_baseline_metrics_equal_hand_computed_values() -> None:
    """Four subjects, one video each of two windows; threshold 10, training mean 8."""
    pred = [12.0, 14.0, 4.0, 6.0, 9.0, 9.0, 11.0, 13.0]
    y = [15.0, 15.0, 3.0, 3.0, 10.0, 10.0, 2.0, 2.0]
    video = [0, 0, 1, 1, 2, 2, 3, 3]
    scale = TargetScale(name="score", mean=8.0, std=4.0, low=0.0, high=24.0, threshold=10.0)
    levels, scores = evaluate_regression(pred, y, video, video, range(8), scale)
    s = scores["video"]
    # video predictions 13, 5, 9, 12 vs targets 15, 3, 10, 2: positive 1 0 0 1 vs 1 0 1 0
    assert levels["video"]["pred"].tolist() == [13.0, 5.0, 9.0, 12.0]
    assert (s["accuracy"], s["sensitivity"], s["specificity"], s["balanced_accuracy"]) == (0.5, 0.5, 0.5, 0.5)
    assert s["macro_f1"] == pytest.approx(0.5)  # F1 positive 2*1/(2+1+1), negative the same
    assert s["auroc"] == pytest.approx(0.75)  # positives 13, 9 over negatives 5, 12: 3 of 4 pairs
    assert s["mae"] == pytest.approx((2 + 2 + 1 + 10) / 4)
    # baseline: 8 for everyone: errors 7, 5, 2, 6
    assert s["baseline_mae"] == pytest.approx(20 / 4)
    assert s["baseline_rmse"] == pytest.approx(math.sqrt((49 + 25 + 4 + 36) / 4))
    assert s["baseline_ccc"] == 0.0
    truth, decided = np.array(y) >= 10, np.array(pred) >= 10
    w = scores["window"]
    assert w["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, decided))
    assert w["macro_f1"] == pytest.approx(f1_score(truth, decided, average="macro"))
    assert w["auroc"] == pytest.approx(roc_auc_score(truth, pred))
    assert set(scores["subject"]) == set(METRICS) | set(BINARY_METRICS) | set(BASELINE_METRICS)


def test_binary_metrics_with_one_class() -> None:
    m = binary_metrics([3.0, 12.0], [1.0, 2.0], threshold=10)  # no positive target
    assert math.isnan(m["auroc"]) and math.isnan(m["sensitivity"])
    assert m["specificity"] == 0.5 and m["balanced_accuracy"] == 0.5 and m["accuracy"] == 0.5
    assert m["macro_f1"] == pytest.approx(f1_score([0, 0], [0, 1], average="macro"))


def test_subject_level_is_the_mean_of_its_windows_and_tables_name_subjects() -> None:
    pred, y = [1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 0.0, 4.0]
    video, subject = [0, 0, 1, 2], [7, 7, 7, 8]
    levels, scores = evaluate_regression(pred, y, video, subject, range(4))
    assert levels["subject"]["pred"].tolist() == [2.0, 6.0]  # (1 + 2 + 3) / 3, not the mean of video means (2.25)
    assert levels["video"]["subject"].tolist() == [7, 7, 8]
    assert set(scores["video"]) == set(METRICS)  # no scale: no binary, no baseline metrics
    tables = regression_tables(levels, scores, {"video": {0: "a.csv", 1: "b.csv", 2: "c.csv"}, "subject": {7: "p7", 8: "p8"}}, "val")
    video_table = tables["predictions_val_video"]
    assert video_table.columns.tolist() == ["id", "name", "target", "prediction", "subject"]
    assert video_table["subject"].tolist() == ["p7", "p7", "p8"] and video_table["name"].tolist() == ["a.csv", "b.csv", "c.csv"]
    assert tables["predictions_val_subject"].columns.tolist() == ["id", "name", "target", "prediction"]
    assert tables["metrics_val"]["level"].tolist() == ["window", "video", "subject"]
    assert tables["metrics_val"]["n"].tolist() == [4, 3, 2]
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_regression([1.0], [1.0, 2.0], [0], [0], [0])


def test_selection_score_on_ccc_or_mae() -> None:
    assert selection_score({"mae": 3.0, "ccc": 0.2}, "mae") == -3.0
    assert selection_score({"mae": 3.0, "ccc": 0.2}, "ccc") == 0.2
    constant = evaluate_regression([5.0, 5.0], [5.0, 5.0], [0, 1], [0, 1], [0, 1])[1]["video"]
    assert math.isnan(constant["ccc"]) and selection_score(constant, "ccc") == -1.0  # never beats a real CCC


# ---- training, checkpoints -------------------------------------------------------------------
def test_planted_linear_target_is_learned_and_all_metrics_logged() -> None:
    pl.seed_everything(0, verbose=False)
    dm = ScoreData()
    model = SequenceRegressor(net=gru(16), in_channels=CHANNELS, class_names=["score"], loss="ccc",
                              selection_metric="ccc", selection_level="subject",
                              optimizer=functools.partial(torch.optim.AdamW, lr=2e-2))
    fit = trainer(8)
    fit.fit(model, datamodule=dm)
    assert model.target_scale == TargetScale.from_stats(dm.target_stats)
    assert float(fit.callback_metrics["val/selection_score"]) == pytest.approx(model.scores["val"]["subject"]["ccc"], rel=1e-5)
    fit.test(model, datamodule=dm, verbose=False)
    scores = model.scores["test"]["video"]
    assert scores["ccc"] > 0.8 and scores["mae"] < scores["baseline_mae"], scores  # seeds 0-2: CCC 0.98-0.99
    for level in ("window", "video", "subject"):
        for metric in (*METRICS, *BINARY_METRICS, *BASELINE_METRICS):
            assert f"test/{level}/{metric}" in fit.callback_metrics, (level, metric)
    predictions = model.predictions["test"]["window"]["pred"]
    assert predictions.min() >= 0 and predictions.max() <= 24


def test_selection_on_mae_at_video_level() -> None:
    pl.seed_everything(0, verbose=False)
    model = SequenceRegressor(net=gru(), in_channels=CHANNELS, class_names=["score"])
    fit = trainer(1, limit_train_batches=1)
    fit.fit(model, datamodule=ScoreData(n_train=4, n_eval=2, frames=10))
    assert float(fit.callback_metrics["val/selection_score"]) == pytest.approx(-model.scores["val"]["video"]["mae"], rel=1e-5)


def test_scale_buffers_survive_a_checkpoint_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pl.seed_everything(0, verbose=False)
    dm = ScoreData(n_train=4, n_eval=2, frames=10)
    model = SequenceRegressor(net=gru(), in_channels=CHANNELS, class_names=["score"])
    fit = trainer(1, limit_train_batches=1)
    fit.fit(model, datamodule=dm)
    path = tmp_path / "model.ckpt"
    fit.save_checkpoint(path)
    checkpoint = load_checkpoint(path)  # torch.load(weights_only=True)
    loaded = build_module(checkpoint, path, "lightning_modules.sequence_regressor.SequenceRegressor").eval()
    assert loaded.target_scale == model.target_scale == TargetScale.from_stats(dm.target_stats)
    x = torch.randn(6, WINDOW, CHANNELS) * 5
    torch.testing.assert_close(loaded(x), model.eval()(x))
    from facedep.inference.predict import main as predict_main

    assert predict_main([str(tmp_path), "--ckpt", str(path), "--out", str(tmp_path / "out")]) == 2  # refused, not a crash
    assert "regression checkpoint" in capsys.readouterr().err
    # a checkpoint from before the buffers loads as unscaled
    for key in ("target_mean", "target_std", "target_low", "target_high", "target_threshold"):
        del checkpoint["state_dict"][key]
    old = build_module(checkpoint, path, "lightning_modules.sequence_regressor.SequenceRegressor").eval()
    assert old.target_scale is None
    torch.testing.assert_close(old(x), old.net_output(x))


def test_without_target_stats_the_hrm_path_is_unchanged() -> None:
    """No target_stats (the HRM DataModule): raw targets, no clipping, only mae/rmse/ccc/r/r2."""
    pl.seed_everything(0, verbose=False)
    model = SequenceRegressor(net=gru(), in_channels=CHANNELS)
    fit = trainer(1, limit_train_batches=1)
    fit.fit(model, datamodule=ScoreData(n_train=4, n_eval=2, frames=10, stats=False))
    assert model.target_scale is None
    x = torch.randn(4, WINDOW, CHANNELS)
    torch.testing.assert_close(model(x), model.net_output(x))
    assert model.standardize(torch.tensor([30.0, -2.0])).tolist() == [30.0, -2.0]
    first = SequenceRegressor(net=lambda c, k: FirstValue(), in_channels=1)
    assert first(windows_starting_with([30.0, -2.0])).tolist() == [30.0, -2.0]  # no clipping
    assert set(model.scores["val"]["video"]) == set(METRICS)
    assert not any(k.endswith(("auroc", "baseline_mae")) for k in fit.callback_metrics)


def test_console_shows_the_mean_baseline_beside_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    from rich.console import Console

    from facedep.experiment import train

    monkeypatch.setattr(train, "console", Console(record=True, width=200, color_system="standard", force_terminal=True))
    frame = pd.DataFrame([{"level": "video", "n": 4, "mae": 3.0, "rmse": 4.0, "ccc": 0.5, "r": 0.6, "r2": 0.1,
                           "baseline_mae": 5.0, "baseline_rmse": 6.0, "baseline_ccc": 0.0},
                          {"level": "subject", "n": 2, "mae": 6.0, "rmse": 7.0, "ccc": -0.1, "r": 0.0, "r2": -1.0,
                           "baseline_mae": 5.0, "baseline_rmse": 6.0, "baseline_ccc": 0.0}])
    assert train.print_against_baseline(frame, "metrics_test")
    styled = train.console.export_text(clear=False, styles=True)
    text = train.console.export_text()
    assert "model vs mean baseline" in text and "baseline mae" in text
    first = text.split("model vs mean baseline")[1].split("metrics_test")[0]  # the second table's title ends it
    rows = {cells[0]: cells[1:] for cells in ([c for c in line.split() if c != "│"] for line in first.splitlines()) if cells}
    assert rows["video"] == ["3.000", "5.000", "4.000", "6.000", "0.500", "0.000"]
    assert rows["subject"] == ["6.000", "5.000", "7.000", "6.000", "-0.100", "0.000"]
    red = "\x1b[31m"  # a model that does not beat the baseline: its cells in red, the video row's not
    assert f"{red}6.000" in styled and f"{red}-0.100" in styled and f"{red}3.000" not in styled
    assert "r2" in text and "-1.000" in text  # the other metrics in a second table
    hrm = frame.drop(columns=["baseline_mae", "baseline_rmse", "baseline_ccc"])
    assert not train.print_against_baseline(hrm, "metrics_test")  # the HRM regressor (no target_stats): the plain table
    assert train.console.export_text() == ""


# ---- end to end: scripts/train.py with target: score ----------------------------------------------
SCORE_CONFIG = """
seed_everything: 0
trainer: {max_epochs: 2, accelerator: cpu, devices: 1, enable_progress_bar: false, enable_model_summary: false}
data:
  class_path: datamodules.AUSequenceDataModule
  init_args: {manifest: MANIFEST, target: score, num_folds: 4, window: 16, stride: 16, batch_size: 8, cache_dir: null}
model:
  class_path: lightning_modules.SequenceRegressor
  init_args:
    net: {class_path: lightning_modules.nets.RecurrentNet, init_args: {hidden_size: 4, cell: gru}}
    loss: ccc
    selection_metric: ccc
"""


def test_score_run_writes_target_scale_baseline_and_subject_columns(tmp_path: Path) -> None:
    from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS
    from datamodules.synthetic.openface_csv import make_openface_csv
    from facedep.experiment.train import run_training

    rng = np.random.default_rng(0)
    rows = []
    for i, score in enumerate([3.0, 12.0, 5.5, 18.0, 0.0, 21.0, 7.0, 15.0]):
        values = rng.uniform(0, 2, size=(48, len(ALL_AU_COLUMNS)))
        values[:, len(INTENSITY_COLUMNS):] = values[:, len(INTENSITY_COLUMNS):] > 1
        path = make_openface_csv(tmp_path / f"s{i}.csv", values)
        rows.append({"subject_id": f"s{i}", "path": str(path), "label": int(score >= 10), "score": score})
    manifest = tmp_path / "m.csv"
    import pandas as pd

    pd.DataFrame(rows).to_csv(manifest, index=False)
    config = tmp_path / "score.yaml"
    config.write_text(SCORE_CONFIG.replace("MANIFEST", str(manifest)))
    result = run_training(["--config", str(config), "--tracking.wandb", "disabled",
                           "--run.output_dir", str(tmp_path / "runs"), "--run.name", "phq"])
    run = tmp_path / "runs" / "phq"
    saved = __import__("json").loads((run / "metrics.json").read_text())
    report = __import__("json").loads((run / "data_report.json").read_text())
    assert saved["target"] == pytest.approx(report["target"]) and saved["target"]["threshold"] == 10.0
    assert result["class_names"] == ["score"]
    for level in ("window", "video", "subject"):
        for metric in (*METRICS, *BINARY_METRICS, *BASELINE_METRICS):
            assert f"test/{level}/{metric}" in saved["test"], (level, metric)
    videos = pd.read_csv(run / "predictions_test_video.csv")
    assert videos.columns.tolist() == ["id", "name", "target", "prediction", "subject"]
    assert set(videos["subject"]) <= {r["subject_id"] for r in rows}
    assert videos["prediction"].between(0, 24).all()
    subjects = pd.read_csv(run / "predictions_test_subject.csv")
    want = float((subjects["target"] - saved["target"]["mean"]).abs().mean())  # the mean baseline by hand
    assert saved["test"]["test/subject/baseline_mae"] == pytest.approx(want, rel=1e-5)
