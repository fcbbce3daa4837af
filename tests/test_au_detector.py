"""AUDetector: masked multi-label losses, per-AU thresholds and metrics, training on a planted effect."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from torch.utils.data import DataLoader, Dataset

from lightning_modules import AUDetector
from lightning_modules.multilabel import MultiLabelLoss, masked_asymmetric_loss
from lightning_modules.multilabel_metrics import best_thresholds, multilabel_scores

NAN = float("nan")


class _Frames(Dataset):
    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors["x"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class TinyAUData(pl.LightningDataModule):
    """32x32 noise images; AU k present <=> a bright 8x8 square somewhere in quadrant k (the batch contract)."""

    def __init__(
        self,
        sizes: tuple[int, int, int] = (384, 128, 128),
        rates: tuple[float, ...] = (0.5, 0.3, 0.2, 0.4),
        nan_fraction: float = 0.1,
        intensity: bool = False,
        atypicality: bool = False,
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.sizes, self.rates, self.nan_fraction = sizes, rates, nan_fraction
        self.intensity, self.atypicality, self.batch_size, self.seed = intensity, atypicality, batch_size, seed
        self.class_names = [f"AU{k + 1}" for k in range(len(rates))]
        self.data: dict[str, dict[str, torch.Tensor]] = {}

    num_channels = 3

    @property
    def num_classes(self) -> int:
        return len(self.rates)

    def _make(self, n: int, start: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        present = (torch.rand(n, len(self.rates), generator=g) < torch.tensor(self.rates)).float()
        x = 0.3 * torch.randn(n, 3, 32, 32, generator=g)
        level = 1 + 4 * torch.rand(n, len(self.rates), generator=g)  # intensity 1-5 when present
        for i, k in torch.nonzero(present).tolist():
            top, left = (16 * q + int(torch.randint(0, 9, (1,), generator=g)) for q in divmod(k, 2))
            x[i, :, top : top + 8, left : left + 8] += 0.5 + 0.3 * level[i, k]
        aus = present.masked_fill(torch.rand(present.shape, generator=g) < self.nan_fraction, NAN)
        batch = {"x": x, "aus": aus, "index": torch.arange(start, start + n), "video": torch.arange(start, start + n) // 16}
        batch["subject"] = batch["video"] // 2
        if self.intensity:
            batch["intensity"] = (present * level).masked_fill(torch.isnan(aus), NAN)
        if self.atypicality:
            batch["atypicality"] = present.sum(1).masked_fill(torch.arange(n) % 5 == 0, NAN)
        return batch

    def setup(self, stage: str | None = None) -> None:
        if not self.data:
            g, start = torch.Generator().manual_seed(self.seed), 0
            for name, n in zip(("train", "val", "test"), self.sizes):
                self.data[name], start = self._make(n, start, g), start + n

    def pos_weight(self) -> torch.Tensor:
        aus = self.data["train"]["aus"]
        p = torch.nansum(aus, 0) / (~torch.isnan(aus)).sum(0)
        return (1 - p) / p

    def sample_names(self) -> dict[str, dict[int, str]]:
        return {"video": {v: f"video{v}.mp4" for v in range(64)}}

    def _loader(self, name: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(_Frames(self.data[name]), batch_size=self.batch_size, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")


def _trainer(epochs: int, **kwargs) -> pl.Trainer:
    defaults = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                    enable_checkpointing=False)
    return pl.Trainer(max_epochs=epochs, **{**defaults, **kwargs})


def _model(**kwargs) -> AUDetector:
    defaults = dict(backbone="test_resnet", num_classes=4, class_names=["AU1", "AU2", "AU3", "AU4"],
                    optimizer=partial(torch.optim.AdamW, lr=3e-3))
    return AUDetector(**{**defaults, **kwargs})


# ---- losses --------------------------------------------------------------------------------
def test_masked_bce_equals_hand_computed_value() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]])
    target = torch.tensor([[1.0, NAN, 0.0], [0.0, 1.0, NAN]])
    w = torch.tensor([2.0, 3.0, 0.5])
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    terms = [-2.0 * math.log(s(0.5)), -math.log(1 - s(2.0)), -math.log(1 - s(0.0)), -3.0 * math.log(s(1.5))]
    expected = sum(terms) / 4
    assert float(masked_asymmetric_loss(logits, target, pos_weight=w)) == pytest.approx(expected, rel=1e-6)
    loss = MultiLabelLoss(3, "bce")
    loss.set_pos_weight(w)
    assert float(loss(logits, target)) == pytest.approx(expected, rel=1e-6)
    assert float(masked_asymmetric_loss(logits, torch.full_like(target, NAN))) == 0.0


@pytest.mark.parametrize("kind", ["focal", "asymmetric"])
def test_focal_and_asymmetric_reduce_to_bce_for_gamma_0(kind: str) -> None:
    torch.manual_seed(0)
    logits, target = 3 * torch.randn(16, 5), (torch.rand(16, 5) < 0.3).float()
    target[torch.rand(16, 5) < 0.2] = NAN
    w = torch.rand(5) * 3
    known = ~torch.isnan(target)
    bce = F.binary_cross_entropy_with_logits(logits, torch.nan_to_num(target), pos_weight=w, reduction="none")[known].mean()
    loss = MultiLabelLoss(5, kind, gamma=0.0, gamma_neg=0.0, gamma_pos=0.0, clip=0.0)
    loss.set_pos_weight(w)
    assert float(loss(logits, target)) == pytest.approx(float(bce), rel=1e-5)
    focused = MultiLabelLoss(5, kind)  # default gammas > 0: easy examples down-weighted
    assert float(focused(logits, target)) < float(MultiLabelLoss(5, "bce")(logits, target))


# ---- thresholds and metrics ----------------------------------------------------------------
def test_threshold_tuning_finds_the_planted_threshold_per_au() -> None:
    torch.manual_seed(0)
    probs = torch.rand(2000, 3)
    planted = torch.tensor([0.2, 0.5, 0.8])
    labels = (probs >= planted).float()
    labels[torch.rand(labels.shape) < 0.1] = NAN
    assert torch.allclose(best_thresholds(probs, labels), planted, atol=0.011)
    assert best_thresholds(probs, torch.full_like(labels, NAN)).tolist() == pytest.approx([0.5] * 3)  # no labels: 0.5


def test_per_au_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random((300, 4))
    labels = (rng.random((300, 4)) < probs * 0.8 + 0.1).astype(float)
    labels[:, 3] = 0.0  # one class only: AUROC undefined
    labels[rng.random(labels.shape) < 0.15] = np.nan
    thresholds = np.array([0.3, 0.5, 0.6, 0.5])
    scores = multilabel_scores(torch.tensor(probs), torch.tensor(labels), torch.tensor(thresholds))
    for k in range(4):
        known = ~np.isnan(labels[:, k])
        y, pred = labels[known, k], probs[known, k] >= thresholds[k]
        assert float(scores["f1"][k]) == pytest.approx(f1_score(y, pred, zero_division=0), abs=1e-9)
        assert float(scores["accuracy"][k]) == pytest.approx(accuracy_score(y, pred), abs=1e-9)
        if k < 3:
            assert float(scores["auroc"][k]) == pytest.approx(roc_auc_score(y, probs[known, k]), abs=1e-6)
    assert math.isnan(float(scores["auroc"][3]))


# ---- the LightningModule -------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[AUDetector, TinyAUData, dict[str, float], Path]:
    """test_resnet trained a few epochs on the planted squares, with tuned thresholds and auto pos_weight."""
    pl.seed_everything(0)
    data, model = TinyAUData(), _model(tune_thresholds=True, loss="asymmetric", gamma_neg=2.0, gamma_pos=0.0)
    trainer = _trainer(8)
    trainer.fit(model, datamodule=data)
    metrics = trainer.test(model, datamodule=data, verbose=False)[0]
    path = tmp_path_factory.mktemp("au") / "model.ckpt"
    trainer.save_checkpoint(path)
    return model, data, metrics, path


def test_pos_weight_auto_comes_from_training_frequencies(trained) -> None:
    model, data, _, _ = trained
    aus = data.data["train"]["aus"].numpy()
    p = np.nanmean(aus, axis=0)
    assert np.allclose(model.pos_weight.numpy(), (1 - p) / p, rtol=1e-5)
    assert not np.allclose(model.pos_weight.numpy(), 1.0)


def test_learns_planted_effect_and_reports_test_metrics(trained) -> None:
    model, _, metrics, _ = trained
    assert metrics["test/f1_mean"] > 0.8, metrics
    names = model.class_names
    for metric in ("f1", "accuracy", "auroc"):
        assert f"test/{metric}_mean" in metrics and all(f"test/{metric}/{n}" in metrics for n in names)
    assert all(f"test/threshold/{n}" in metrics for n in names)
    assert not torch.allclose(model.thresholds, torch.full((4,), 0.5))  # tuned on validation
    assert np.isclose(np.mean([metrics[f"test/f1/{n}"] for n in names]), metrics["test/f1_mean"])


def test_checkpoint_round_trip_keeps_thresholds_and_pos_weight(trained) -> None:
    model, data, metrics, path = trained
    loaded = AUDetector.load_from_checkpoint(path, weights_only=True)
    assert torch.equal(loaded.thresholds, model.thresholds) and torch.equal(loaded.pos_weight, model.pos_weight)
    again = _trainer(1).test(loaded, datamodule=data, verbose=False)[0]
    assert again["test/f1_mean"] == pytest.approx(metrics["test/f1_mean"], abs=1e-6)


def test_predict_and_result_tables(trained) -> None:
    model, data, _, _ = trained
    out = _trainer(1).predict(model, datamodule=data)
    probs = torch.cat([o["probs"] for o in out])
    assert probs.shape == (128, 4) and ((probs >= 0) & (probs <= 1)).all()
    table = model.au_presence_table(probs)
    assert list(table.columns[:2]) == ["AU1_p", "AU1_c"] and len(table) == 128
    tables = model.result_tables("test", data.sample_names())
    frames, per_au = tables["predictions_test_frame"], tables["metrics_test_per_au"]
    assert len(frames) == 128 and frames["video_name"].iloc[0] == "video" + str(frames["video"].iloc[0]) + ".mp4"
    assert per_au["au"].tolist() == ["AU1", "AU2", "AU3", "AU4", "mean"]


def test_intensity_and_atypicality_heads() -> None:
    pl.seed_everything(0)
    data = TinyAUData(sizes=(64, 32, 32), intensity=True, atypicality=True)
    model = _model(intensity_head=True, intensity_loss="huber", atypicality_head=True, pos_weight="none")
    trainer = _trainer(1, limit_train_batches=2)
    trainer.fit(model, datamodule=data)
    metrics = trainer.test(model, datamodule=data, verbose=False)[0]
    expected = {"test/intensity_mae_mean", "test/intensity_r/AU1", "test/atypicality_mae", "test/atypicality_rmse", "test/atypicality_r"}
    assert expected <= set(metrics)
    assert torch.equal(model.pos_weight, torch.ones(4))
    out = model.predict_step({k: v[:3] for k, v in data.data["test"].items()}, 0)
    assert out["intensity"].shape == (3, 4) and out["atypicality"].shape == (3,)
    assert list(model.result_tables("test")["predictions_test_frame"].columns[-2:]) == ["atypicality_true", "atypicality"]


def test_vit_backbone_channels_last_and_bad_arguments() -> None:
    model = AUDetector("test_vit", num_classes=2, pos_weight=[1.0, 2.0])
    assert model(torch.randn(2, 3, 160, 160))["logits"].shape == (2, 2)
    assert model.pos_weight.tolist() == [1.0, 2.0]
    assert _model(channels_last=True)(torch.randn(2, 3, 32, 32))["logits"].shape == (2, 4)
    with pytest.raises(ValueError, match="class_names"):
        AUDetector("test_resnet", num_classes=3, class_names=["a"])
    data = TinyAUData(sizes=(32, 32, 32))
    data.setup()
    with pytest.raises(ValueError, match="pos_weight"):  # 'auto' without a DataModule
        _trainer(1).fit(_model(), train_dataloaders=data.train_dataloader())


def test_train_script_writes_au_metrics_and_tables(tmp_path: Path) -> None:
    """``scripts/train.py`` on an AU detector: per-AU test metrics, frame predictions, per-AU table."""
    import json

    import pandas as pd

    from facedep.experiment.train import run_training

    config = tmp_path / "au.yaml"
    config.write_text(
        "seed_everything: 0\nrun: {name: au}\ntracking: {wandb: disabled}\n"
        "trainer: {max_epochs: 2, accelerator: cpu, devices: 1, log_every_n_steps: 1,\n"
        "          enable_progress_bar: false, enable_model_summary: false}\n"
        f"data: {{class_path: {TinyAUData.__module__}.TinyAUData, init_args: {{sizes: [96, 32, 32]}}}}\n"
        "model: {class_path: lightning_modules.AUDetector, init_args: {backbone: test_resnet, tune_thresholds: true}}\n"
    )
    result = run_training(["--config", str(config), "--run.output_dir", str(tmp_path / "runs")])
    assert result["monitor"] == "val/selection_score" and Path(result["best_checkpoint"]).exists()
    assert result["class_names"] == ["AU1", "AU2", "AU3", "AU4"]
    assert {"test/f1_mean", "test/auroc/AU4", "test/threshold/AU1"} <= set(result["test"])
    saved = json.loads((tmp_path / "runs" / "au" / "metrics.json").read_text())
    frames = pd.read_csv(saved["predictions"]["predictions_test_frame"])
    per_au = pd.read_csv(saved["predictions"]["metrics_test_per_au"])
    assert len(frames) == 32 and {"AU1_true", "AU1_p", "AU1_c", "video_name"} <= set(frames.columns)
    assert per_au["f1"].iloc[-1] == pytest.approx(result["test"]["test/f1_mean"])
