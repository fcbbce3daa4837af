"""AU-sequence explanations: permutation importance finds the planted AUs on test subjects only, integrated
gradients are complete, and cross-validation reports importance over folds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from datamodules.synthetic.au_simulation import EFFECT_SHIFTS
from datamodules.window_dataset import WindowDataset
from facedep.explanations.channel_importance import channel_importance, permutation_importance, ranked
from facedep.explanations.summary import importance_over_folds
from facedep.explanations.temporal_attribution import integrated_gradients, model_integrated_gradients, temporal_attribution
from facedep.explanations.model_outputs import attributed_output
from lightning_modules import SequenceClassifier, SequenceRegressor

ROOT = Path(__file__).resolve().parents[1]
PLANTED = {f"{au}_r" for au in EFFECT_SHIFTS}  # AU01, AU04, AU15, AU06, AU12: the group's baseline shifts


class OnlyChannelTwo(nn.Module):
    """A net that reads channel 2 only: logits ``[0, 4 * mean_t x[:, t, 2]]``."""

    def __init__(self, in_channels: int, num_outputs: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        signal = self.scale * x[:, :, 2].mean(dim=1)
        return torch.stack([torch.zeros_like(signal), signal], dim=1)


def _channel_two_data(subjects: int = 12) -> WindowDataset:
    """Subjects whose label is the sign of channel 2 (two videos each); the other channels are noise."""
    rng = np.random.default_rng(0)
    sequences, labels, videos, owners = [], [], [], []
    for s in range(subjects):
        label = s % 2
        for v in range(2):
            seq = rng.normal(size=(40, 4)).astype(np.float32)
            seq[:, 2] += 1.5 if label else -1.5
            sequences.append(seq)
            labels.append(label)
            videos.append(2 * s + v)
            owners.append(s)
    return WindowDataset(sequences, labels, videos, owners, window=10, stride=5)


def test_permutation_importance_of_a_model_that_reads_one_channel() -> None:
    model = SequenceClassifier(net=OnlyChannelTwo, in_channels=4)
    result = channel_importance(model, _channel_two_data().arrays(), ["a", "b", "c", "d"], repeats=3)
    table = result.table.set_index("channel")
    assert list(result.table.columns[:4]) == ["channel", "importance_mean", "importance_std", "baseline"]
    assert table.loc[["a", "b", "d"], "importance_mean"].eq(0.0).all()  # exactly: their values never reach the output
    assert table.loc[["a", "b", "d"], "log_loss_increase_mean"].eq(0.0).all()
    assert table.loc["c", "importance_mean"] > 0.2 and table.loc["c", "baseline"] == 1.0
    assert ranked(result.table)["channel"].iloc[0] == "c"
    assert "permutation importance" in result.method and "test subjects" in result.method
    assert result.subjects == list(range(12))


def test_permutation_importance_of_a_regressor_is_an_mae_increase() -> None:
    data = _channel_two_data()
    model = SequenceRegressor(net=lambda c, k: nn.Sequential(nn.Flatten(), nn.Linear(10 * c, k)), in_channels=4)
    with torch.no_grad():
        model.net[1].weight.zero_()
        model.net[1].weight.view(10, 4)[:, 2] = 0.5  # prediction = 5 x mean of channel 2 (no target scale)
        model.net[1].bias.zero_()
    arrays = data.arrays()
    arrays["y"] = (5 * arrays["x"][:, :, 2].mean(axis=1)).astype(np.float32)  # a perfect model: MAE 0
    table = channel_importance(model, arrays, ["a", "b", "c", "d"], repeats=2).table.set_index("channel")
    assert table["baseline"].max() < 1e-5 and table.loc["c", "importance_mean"] > 1.0
    assert table.loc[["a", "b", "d"], "importance_mean"].abs().max() < 1e-5
    assert "log_loss_increase_mean" not in table


def test_permutation_importance_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match="windows must be"):
        permutation_importance(lambda x: x, lambda s: 0.0, torch.zeros(3, 4, 2), ["a"])


@pytest.mark.parametrize("net", ["gru", "linear"])
def test_integrated_gradients_are_complete(net: str) -> None:
    torch.manual_seed(0)
    if net == "gru":
        from lightning_modules.nets import RecurrentNet

        model = SequenceClassifier(net=lambda c, k: RecurrentNet(c, k, hidden_size=8, cell="gru"), in_channels=5)
    else:
        model = SequenceRegressor(net=lambda c, k: nn.Sequential(nn.Flatten(), nn.Linear(12 * c, k)), in_channels=5)
    x = torch.randn(6, 12, 5)
    ig = model_integrated_gradients(model, x)
    with torch.no_grad():
        model.eval()
        gap = attributed_output(model, x) - attributed_output(model, torch.zeros_like(x))
    total = ig.sum(dim=(1, 2))
    assert torch.allclose(total, gap, atol=2e-2 * max(1.0, float(gap.abs().max()))), (total, gap)


def test_integrated_gradients_of_a_quadratic_is_exact_with_the_midpoint_rule() -> None:
    x = torch.randn(3, 4, 2)
    ig = integrated_gradients(lambda v: (v ** 2).sum(dim=(1, 2)), x)
    assert torch.allclose(ig, x ** 2, atol=1e-5)


def test_temporal_attribution_averages_the_windows_covering_each_frame() -> None:
    data = _channel_two_data(subjects=2)
    model = SequenceClassifier(net=OnlyChannelTwo, in_channels=4)
    result = temporal_attribution(model, data, ["a", "b", "c", "d"], sequence=1)
    assert result.values.shape == (40, 4) and result.video == 1
    assert result.coverage.min() >= 1 and result.coverage.max() == 2  # window 10, stride 5: one or two windows
    assert np.all(result.values[:, [0, 1, 3]] == 0.0) and np.abs(result.values[:, 2]).sum() > 0
    assert list(result.frame().columns) == ["frame", "windows", "a", "b", "c", "d"]


@pytest.fixture()
def explained_run(tiny_args: list[str]) -> dict:
    from facedep.experiment.train import run_training

    return run_training(tiny_args + ["--run.explain", "true", "--trainer.max_epochs", "8", "--run.name", "explained"])


def test_training_with_explain_finds_the_planted_aus_on_test_subjects_only(explained_run: dict) -> None:
    paths = explained_run["explanations"]
    run_dir = Path(explained_run["run_dir"])
    for key in ("channel_importance", "channel_importance_png", "temporal_attribution", "temporal_attribution_png"):
        assert Path(paths[key]).is_file() and Path(paths[key]).parent == run_dir / "explanations", key
    assert json.loads((run_dir / "metrics.json").read_text())["explanations"]["channel_importance"]
    table = ranked(pd.read_csv(paths["channel_importance"]))
    top = table["channel"].head(3).tolist()
    assert set(top) <= PLANTED, table
    unplanted = [c for c in table["channel"] if c not in PLANTED and c not in ("AU14_r", "AU17_r", "AU25_r")]
    rank = {c: i for i, c in enumerate(table["channel"])}
    assert min(rank[c] for c in unplanted) > max(rank[c] for c in top)
    assert rank["AU45_r"] > rank[top[0]]  # blinks: no planted effect
    seen = json.loads((run_dir / "explanations" / "explanations.json").read_text())["channel_importance"]["test_subjects"]
    assert seen == json.loads((run_dir / "subjects.json").read_text())["test"]
    frames = pd.read_csv(paths["temporal_attribution"])
    assert list(frames.columns[2:]) == pd.read_csv(paths["channel_importance"])["channel"].tolist()  # input order
    assert frames["windows"].min() >= 1


def test_explain_skips_an_unsupported_model_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from facedep.experiment.train import _explain
    from facedep.explanations.run import Unsupported, explain_run

    with pytest.raises(Unsupported, match="not an AU-sequence model"):
        explain_run(nn.Linear(2, 2), object(), tmp_path)
    result: dict = {}
    _explain(SequenceClassifier(in_channels=3), object(), tmp_path, result, None)  # a DataModule without channels
    assert "explanations" not in result and "explanations skipped" in capsys.readouterr().out
    assert not (tmp_path / "explanations").exists()


def test_importance_over_folds(tmp_path: Path) -> None:
    metrics = []
    for fold, values in enumerate(([0.3, 0.0, 0.1], [0.1, 0.0, 0.1])):
        path = tmp_path / f"f{fold}.csv"
        pd.DataFrame({"channel": ["a", "b", "c"], "importance_mean": values, "importance_std": 0.0,
                      "baseline": 1.0}).to_csv(path, index=False)
        metrics.append({"explanations": {"channel_importance": str(path)}})
    table = importance_over_folds(metrics, [3, 4])
    assert table["channel"].tolist() == ["a", "c", "b"]
    assert table.loc[0, "mean"] == pytest.approx(0.2) and table.loc[0, "std"] == pytest.approx(np.std([0.3, 0.1], ddof=1))
    assert table.loc[0, "fold3"] == 0.3 and table.loc[0, "fold4"] == 0.1


def test_cross_validation_reports_au_importance(demo_manifest: Path, tmp_path: Path) -> None:
    from facedep.experiment.cross_validate import cross_validate

    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--run.name", "cv"]
    summary = cross_validate(str(ROOT / "configs" / "tests" / "tiny.yaml"), folds=2, overrides=overrides, n_boot=20)
    cv_dir = tmp_path / "runs" / "cv"
    assert (cv_dir / "au_importance.png").is_file()
    report = (cv_dir / "report.md").read_text()
    assert "## Explanations" in report and "au_importance.png" in report and "test subjects only" in report
    saved = json.loads((cv_dir / "report.json").read_text())["explanations"]
    assert len(saved["channels"]) == 17 and {"fold0", "fold1"} <= set(saved["channels"][0])
    assert summary["explanations"]["image"] == "au_importance.png"
