"""Ordinal severity classes: CORAL/CORN losses and probabilities, ordinal metrics, class-order check, CV summary."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.metrics import cohen_kappa_score, recall_score
from torch.utils.data import DataLoader, Dataset

from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.make_manifest import main as make_manifest
from facedep.evaluation.classification_metrics import compute_metrics, mae_classes, qwk
from facedep.evaluation.console import format_metrics_table
from facedep.evaluation.levels import FoldResult, LevelPredictions
from facedep.evaluation.report_markdown import render_markdown
from facedep.evaluation.summary import summarize_folds
from lightning_modules import SequenceClassifier
from lightning_modules.losses import ClassificationLoss
from lightning_modules.metrics import classification_metrics
from lightning_modules.nets import MLP
from lightning_modules.ordinal import coral_greater, coral_loss, corn_greater, corn_loss

ROOT = Path(__file__).resolve().parents[1]
SEVERITY = ["healthy", "mild", "moderate", "severe"]


def _planted(n: int, k: int = 4, channels: int = 3, seed: int = 0, per_subject: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Class ``y`` in 0..k-1 (the same for each run of ``per_subject`` rows); channel 0 is ``y`` plus noise
    (a latent severity), the others are noise."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.arange(n) // per_subject) % k
    x = torch.randn(n, channels, generator=g)
    x[:, 0] = y.float() + 0.3 * torch.randn(n, generator=g)
    return x, y


# ---- probabilities --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["coral", "corn"])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_probabilities_sum_to_one_and_are_rank_consistent(kind: str, k: int) -> None:
    outputs = 6 * torch.randn(500, k - 1, generator=torch.Generator().manual_seed(k))
    loss = ClassificationLoss(k, kind=kind)
    assert loss.num_outputs == k - 1 and loss.ordinal
    probs = loss.probabilities(outputs)
    assert probs.shape == (500, k) and (probs >= 0).all()
    assert torch.allclose(probs.sum(1), torch.ones(500), atol=1e-6)
    greater = (coral_greater if kind == "coral" else corn_greater)(outputs)
    assert (greater[:, 1:] <= greater[:, :-1] + 1e-7).all()  # P(y > k) never rises with k, whatever the outputs
    # the class probabilities are exactly those differences (the clamp only guards rounding)
    bounded = torch.cat([torch.ones(500, 1), greater, torch.zeros(500, 1)], dim=1)
    assert torch.allclose(probs, bounded[:, :-1] - bounded[:, 1:], atol=1e-6)
    # a "class > k" decision at 0.5 is the same as counting the tasks above 0.5 (no contradictions)
    decided = (greater > 0.5).sum(1)
    assert (decided == (greater > 0.5).cumprod(1).sum(1)).all()


def test_probabilities_by_hand() -> None:
    # CORAL: f = [2, 2 - softplus(0)] -> P(y>0) = sigmoid(2), P(y>1) = sigmoid(2 - log 2)
    p = ClassificationLoss(3, kind="coral").probabilities(torch.tensor([[2.0, 0.0]]))[0]
    s1, s2 = 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(-(2 - math.log(2))))
    assert p.tolist() == pytest.approx([1 - s1, s1 - s2, s2], abs=1e-6)
    # CORN: P(y>0) = sigmoid(0) = 0.5, P(y>1) = 0.5 * sigmoid(log 3) = 0.375
    p = ClassificationLoss(3, kind="corn").probabilities(torch.tensor([[0.0, math.log(3)]]))[0]
    assert p.tolist() == pytest.approx([0.5, 0.125, 0.375], abs=1e-6)


# ---- losses ---------------------------------------------------------------------------------------
def test_loss_values_by_hand() -> None:
    a, b = 0.7, -0.4
    expected = -math.log(torch.sigmoid(torch.tensor(a)).item()) - math.log(1 - torch.sigmoid(torch.tensor(a - math.log1p(math.exp(b)))).item())
    assert coral_loss(torch.tensor([[a, b]]), torch.tensor([1])).item() == pytest.approx(expected, rel=1e-5)
    z = torch.tensor([[0.3, 1.5], [-0.2, 0.9]])
    bce = lambda v, t: F.binary_cross_entropy_with_logits(torch.tensor(v), torch.tensor(t)).item()  # noqa: E731
    pairs = [bce(0.3, 0.0), bce(-0.2, 1.0), bce(0.9, 1.0)]  # sample 0 (y=0) is not in task 1's subset
    assert corn_loss(z, torch.tensor([0, 2])).item() == pytest.approx(sum(pairs) / 3, rel=1e-5)
    w = torch.tensor([2.0, 0.5])
    weighted = (2.0 * pairs[0] + 0.5 * (pairs[1] + pairs[2])) / (2.0 + 1.0)
    assert corn_loss(z, torch.tensor([0, 2]), w).item() == pytest.approx(weighted, rel=1e-5)


@pytest.mark.parametrize("kind", ["coral", "corn"])
def test_class_weights_weigh_each_sample_by_its_true_class(kind: str) -> None:
    z, y = torch.randn(6, 2, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 2, 1, 0])
    loss = ClassificationLoss(3, kind=kind)
    plain = loss(z, y)
    loss.set_class_weights(torch.tensor([1.0, 2.0, 5.0]))
    direct = (coral_loss if kind == "coral" else corn_loss)(z, y, torch.tensor([1.0, 2.0, 5.0])[y])
    assert loss(z, y).item() == pytest.approx(direct.item()) and not math.isclose(loss(z, y).item(), plain.item())


def test_ordinal_kinds_refuse_what_they_cannot_do() -> None:
    with pytest.raises(ValueError, match="no focal"):
        ClassificationLoss(4, kind="coral", focal_gamma=2.0)
    with pytest.raises(ValueError, match="no focal or label-smoothed"):
        ClassificationLoss(4, kind="corn", label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"\(B, 3\) = \(B, num_classes - 1\)"):
        ClassificationLoss(4, kind="coral")(torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="integer class targets"):
        ClassificationLoss(4, kind="corn")(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("kind", ["coral", "corn"])
def test_loss_decreases_and_a_linear_model_learns_the_order(kind: str) -> None:
    x, y = _planted(400)
    torch.manual_seed(0)
    net, loss_fn = torch.nn.Linear(3, 3), ClassificationLoss(4, kind=kind)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    first = loss_fn(net(x), y).item()
    for _ in range(200):
        optimizer.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
    probs = loss_fn.probabilities(net(x)).detach().numpy()
    assert qwk(y.numpy(), probs) > 0.9 and mae_classes(y.numpy(), probs) < 0.3


# ---- a tiny SequenceClassifier ---------------------------------------------------------------------
class _Windows(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, offset: int) -> None:
        self.x, self.y, self.offset = x, y, offset

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        sample = self.offset + i  # one window per video, two videos per subject
        return {"x": self.x[i], "y": self.y[i], "video": torch.tensor(sample), "subject": torch.tensor(sample // 2),
                "index": torch.tensor(sample)}


class _OrdinalData(pl.LightningDataModule):
    """In-memory windows of the planted problem; ``classes`` / ``class_names`` as a real DataModule has them."""

    def __init__(self, class_names: list[str] = SEVERITY) -> None:
        super().__init__()
        self.classes, self.class_names, self.class_weights = [0, 1, 2, 3], list(class_names), None
        x, y = _planted(480, seed=1, per_subject=2)  # windows 2s and 2s+1 (subject s's two videos) share a class
        self.parts = {"train": (x[:320], y[:320], 0), "val": (x[320:400], y[320:400], 320), "test": (x[400:], y[400:], 400)}

    def _loader(self, name: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(_Windows(*self.parts[name]), batch_size=64, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


def _trainer(epochs: int) -> pl.Trainer:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)


def test_sequence_classifier_with_coral_learns_the_planted_order() -> None:
    pl.seed_everything(0, verbose=False)
    model = SequenceClassifier(net=lambda c, k: MLP(c, k, hidden_sizes=(16,), dropout=0.0), in_channels=3, num_classes=4,
                               class_names=SEVERITY, loss="coral", class_weights="none",
                               optimizer=lambda p: torch.optim.Adam(p, lr=0.02))
    assert model.ordinal and model.num_outputs == 3 and model.net.layers[-1].out_features == 3
    trainer, data = _trainer(25), _OrdinalData()
    trainer.fit(model, datamodule=data)
    assert "train/window/qwk" in trainer.callback_metrics and "val/subject/recall_severe" in trainer.callback_metrics
    trainer.test(model, datamodule=data, verbose=False)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert logged["test/subject/qwk"] > 0.7 and logged["test/window/qwk"] > 0.7
    assert logged["test/subject/mae_classes"] < 0.5
    assert {f"test/video/recall_{c}" for c in SEVERITY} <= set(logged)
    subject = model.predictions["test"]["subject"]
    assert subject["probs"].shape == (40, 4) and torch.allclose(subject["probs"].sum(1), torch.ones(40), atol=1e-5)
    y, probs = subject["y"].numpy(), subject["probs"].numpy()
    assert logged["test/subject/qwk"] == pytest.approx(cohen_kappa_score(y, probs.argmax(1), weights="quadratic"), abs=1e-5)


# ---- class order -----------------------------------------------------------------------------------
def test_wrong_class_order_is_refused_before_training() -> None:
    model = SequenceClassifier(net=lambda c, k: MLP(c, k, hidden_sizes=()), in_channels=3, num_classes=4, loss="corn")
    trainer = _trainer(1)
    with pytest.raises(DataFormatError, match=r"class_names.*\['severe', 'mild', 'healthy', 'moderate'\].*not in severity order"):
        trainer.fit(model, datamodule=_OrdinalData(["severe", "mild", "healthy", "moderate"]))
    assert trainer.global_step == 0
    nominal = SequenceClassifier(net=lambda c, k: MLP(c, k, hidden_sizes=()), in_channels=3, num_classes=4, loss="ce")
    _trainer(1).fit(nominal, datamodule=_OrdinalData(["severe", "mild", "healthy", "moderate"]))  # nominal: no order


def _severity_manifest(tmp_path: Path, subjects: int = 24, frames: int = 20) -> Path:
    """Frame-level AU CSV with subjects (``person``): AU04 and AU15 rise with the severity 0-3."""
    rng = np.random.default_rng(0)
    severity = np.repeat(np.arange(subjects) % 4, frames)
    values = rng.uniform(0, 1, size=(len(severity), len(ALL_AU_COLUMNS)))
    for au in ("AU04_r", "AU15_r"):
        values[:, ALL_AU_COLUMNS.index(au)] += 1.0 * severity
    table = pd.DataFrame(values, columns=list(ALL_AU_COLUMNS))
    table["label"], table["person"] = severity, np.repeat([f"p{i}" for i in range(subjects)], frames)
    table.to_csv(tmp_path / "AU_features.csv", index=False)
    out = tmp_path / "severity.parquet"
    assert make_manifest(["--format", "au-severity-csv", str(tmp_path / "AU_features.csv"), "--out", str(out),
                          "--group-column", "person"]) == 0
    return out


def _config_args(tmp_path: Path, manifest: Path) -> list[str]:
    return ["--config", str(ROOT / "configs" / "au" / "severity_ordinal.yaml"), "--data.init_args.manifest", str(manifest),
            "--data.init_args.cache_dir", "null", "--data.init_args.num_folds", "3", "--data.init_args.batch_size", "64",
            "--trainer.max_epochs", "4", "--trainer.precision", "32-true", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--tracking.wandb", "disabled", "--run.output_dir", str(tmp_path / "runs")]


def test_ordinal_config_runs_and_a_shuffled_one_is_refused(tmp_path: Path) -> None:
    from facedep.experiment.cross_validate import cross_validate
    from facedep.experiment.train import run_training

    manifest = _severity_manifest(tmp_path)
    with pytest.raises(DataFormatError, match=r"\(data.init_args.class_names\): ordinal classes \['severe', 'mild', 'healthy', 'moderate'\]"):
        run_training(_config_args(tmp_path, manifest) + ["--data.init_args.class_names", "[severe, mild, healthy, moderate]",
                                                          "--run.name", "shuffled"])
    assert not list((tmp_path / "runs").rglob("*.ckpt"))
    args = _config_args(tmp_path, manifest)
    summary = cross_validate(args[1], 2, args[2:] + ["--data.init_args.num_folds", "2", "--run.name", "cv"], n_boot=50)
    metrics = json.loads(next((tmp_path / "runs" / "cv").rglob("metrics.json")).read_text())
    assert metrics["ordinal"] is True and "test/subject/qwk" in metrics["test"]
    assert summary["ordinal"] is True and "qwk" in summary["metric_names"]
    assert {"ci_low", "ci_high"} <= set(summary["levels"]["subject"]["pooled"]["metrics"]["qwk"])


# ---- metrics ---------------------------------------------------------------------------------------
def test_qwk_and_mae_against_sklearn_and_hand_values() -> None:
    y = np.array([0, 1, 2, 3, 3, 2])
    decided = np.array([0, 2, 2, 3, 1, 2])
    probs = np.eye(4)[decided] * 0.7 + 0.075
    m = compute_metrics(y, probs, 4, SEVERITY, ordinal=True)
    assert m["qwk"] == pytest.approx(cohen_kappa_score(y, decided, weights="quadratic"))
    assert m["qwk"] == pytest.approx(qwk(y, probs))
    assert m["mae_classes"] == pytest.approx((0 + 1 + 0 + 0 + 2 + 0) / 6) == mae_classes(y, probs)
    assert [m[f"recall_{c}"] for c in SEVERITY] == pytest.approx([1.0, 0.0, 1.0, 0.5])
    # hand QWK: O = confusion, E = outer(rows, cols) / 6, W = (i - j)^2
    cm = np.zeros((4, 4))
    np.add.at(cm, (y, decided), 1)
    w = (np.arange(4)[:, None] - np.arange(4)[None, :]) ** 2
    assert m["qwk"] == pytest.approx(1 - (w * cm).sum() / (w * np.outer(cm.sum(1), cm.sum(0)) / 6).sum())
    single = compute_metrics(np.array([2, 2]), np.eye(4)[[2, 2]], 4, SEVERITY, ordinal=True)
    assert math.isnan(single["qwk"]) and math.isnan(single["recall_healthy"]) and single["mae_classes"] == 0.0
    assert "qwk" not in compute_metrics(y, probs, 4, SEVERITY)  # nominal: unchanged


def test_torchmetrics_and_numpy_values_agree() -> None:
    rng = np.random.default_rng(0)
    names = ["a", "b", "c", "d", "e"]
    for trial in range(40):
        k = int(rng.integers(2, 6))
        y = rng.integers(0, k, size=int(rng.integers(1, 30)))
        if trial % 6 == 0:
            y[:] = y[0]  # one class only: QWK undefined in both
        probs = rng.dirichlet(np.ones(k), size=len(y))
        collection = classification_metrics(k, prefix="test/subject/", ordinal=True, class_names=names[:k])
        collection.update(torch.tensor(probs, dtype=torch.float32), torch.tensor(y))
        torch_values = {key.split("/")[-1]: float(v) for key, v in collection.compute().items()}
        numpy_values = compute_metrics(y, probs, k, names[:k], ordinal=True)
        for key in ["qwk", "mae_classes", *(f"recall_{c}" for c in names[:k])]:
            assert torch_values[key] == pytest.approx(numpy_values[key], abs=1e-6, nan_ok=True), (trial, key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = recall_score(y, probs.argmax(1), labels=list(range(k)), average=None, zero_division=np.nan)
        assert [numpy_values[f"recall_{c}"] for c in names[:k]] == pytest.approx(reference.tolist(), nan_ok=True)


def _fold(fold: int, n: int, seed: int, metrics: dict[str, float] | None = None) -> FoldResult:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    probs = np.eye(4)[np.clip(y + rng.integers(-1, 2, n), 0, 3)] * 0.6 + 0.1
    return FoldResult(fold, {"subject": LevelPredictions([f"f{fold}s{i}" for i in range(n)], y, probs)}, metrics=metrics)


def test_ordinal_cv_summary_has_qwk_with_a_confidence_interval() -> None:
    folds = [_fold(0, 12, 0, {"test/subject/qwk": 0.5}), _fold(1, 12, 1, {"test/subject/qwk": 0.6})]
    summary = summarize_folds(folds, SEVERITY, n_boot=200)  # ordinal read from the logged qwk
    assert summary["ordinal"] is True
    assert summary["metric_names"][-6:] == ["qwk", "mae_classes", *(f"recall_{c}" for c in SEVERITY)]
    pooled = summary["levels"]["subject"]["pooled"]["metrics"]
    y = np.concatenate([f.predictions["subject"].y_true for f in folds])
    decided = np.concatenate([f.predictions["subject"].probs.argmax(1) for f in folds])
    assert pooled["qwk"]["value"] == pytest.approx(cohen_kappa_score(y, decided, weights="quadratic"))
    assert pooled["qwk"]["ci_low"] <= pooled["qwk"]["value"] <= pooled["qwk"]["ci_high"]
    assert pooled["mae_classes"]["ci_low"] <= pooled["mae_classes"]["value"] <= pooled["mae_classes"]["ci_high"]
    per_fold = summary["levels"]["subject"]["metrics"]["qwk"]["per_fold"]
    assert per_fold == pytest.approx([compute_metrics(f.predictions["subject"].y_true, f.predictions["subject"].probs, 4,
                                                      ordinal=True)["qwk"] for f in folds])
    table, report = format_metrics_table(summary), render_markdown(summary)
    assert "qwk" in table and "recall_severe" in table and "| qwk |" in report and "quadratic-weighted" in report
    nominal = summarize_folds([_fold(0, 12, 0), _fold(1, 12, 1)], SEVERITY, n_boot=20)
    assert nominal["ordinal"] is False and "qwk" not in nominal["metric_names"]
    assert "qwk" in summarize_folds([_fold(0, 12, 0)], SEVERITY, n_boot=20, ordinal=True)["metric_names"]


def test_classic_baseline_on_an_ordinal_config_reports_ordinal_metrics(tiny_args: list[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import facedep.baselines.fold as fold_module
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from facedep.baselines.classic import summary_features

    # a fast stand-in for the boosting baseline: logistic regression on the same summary features
    monkeypatch.setattr(fold_module, "make_classic_model",
                        lambda *a, **k: make_pipeline(FunctionTransformer(summary_features), LogisticRegression()))
    result = fold_module.run_classic_fold(tiny_args + ["--model.init_args.loss", "coral"], "boosting")
    assert result["ordinal"] is True
    assert {"test/subject/qwk", "test/subject/mae_classes", "test/subject/recall_depressed"} <= set(result["test"])
    assert json.loads(Path(result["run_dir"], "metrics.json").read_text())["ordinal"] is True
    assert "test/subject/qwk" not in fold_module.run_classic_fold(tiny_args + ["--run.name", "nominal"], "boosting")["test"]
    with pytest.raises(DataFormatError, match=r"class_names\): ordinal classes \['depressed', 'healthy'\]"):
        fold_module.run_classic_fold(tiny_args + ["--model.init_args.loss", "corn", "--data.init_args.class_names",
                                                  "[depressed, healthy]", "--run.name", "shuffled"], "boosting")
