"""End to end: scripts/train.py's machinery on a tiny config, resume, config errors, bf16, W&B offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from facedep.experiment.train import run_training

ROOT = Path(__file__).resolve().parents[1]


def test_train_writes_run_folder_and_tests_best_checkpoint(tiny_args: list[str], tmp_path: Path) -> None:
    result = run_training(tiny_args)
    run_dir = tmp_path / "runs" / "tiny"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["best_checkpoint"].startswith(str(run_dir / "checkpoints" / "best-epoch"))
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    for level in ("window", "video", "subject"):
        assert 0.0 <= metrics["test"][f"test/{level}/macro_f1"] <= 1.0
        table = pd.read_csv(run_dir / f"predictions_test_{level}.csv")
        assert list(table.columns[-2:]) == ["prob_healthy", "prob_depressed"]
    subjects = pd.read_csv(run_dir / "predictions_test_subject.csv")
    assert len(subjects) == metrics["data"]["test"]["subjects"] == 6  # 18 subjects, 3 folds
    report = json.loads((run_dir / "data_report.json").read_text())
    assert sorted(subjects["name"]) == report["test"]["subject_ids"]
    assert set(report["test"]["subject_ids"]).isdisjoint(report["train"]["subject_ids"] + report["val"]["subject_ids"])
    config = (run_dir / "config.yaml").read_text()
    assert "hidden_size: 8" in config and "class_path: lightning_modules.nets.RecurrentNet" in config
    assert result["epochs"] == 2


def test_resume_continues_from_last_checkpoint(tiny_args: list[str], tmp_path: Path) -> None:
    run_training(tiny_args + ["--run.test", "false"])
    last = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1
    result = run_training(tiny_args + ["--run.resume", "true", "--trainer.max_epochs", "4", "--run.test", "false"])
    assert result["epochs"] == 4
    log = pd.read_csv(tmp_path / "runs" / "tiny" / "metrics.csv")
    assert sorted(log["epoch"].dropna().unique().astype(int).tolist()) == [0, 1, 2, 3]  # epochs 2, 3 appended to 0, 1


def test_unknown_key_fails_listing_valid_keys(tiny_args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        run_training(tiny_args + ["--data.init_args.windw", "16"])
    err = capsys.readouterr().err
    assert "unknown key 'data.init_args.windw' (did you mean 'window'?)" in err
    valid = err.split("valid keys of AUSequenceDataModule: ")[1].split("\n")[0].split(", ")
    assert {"manifest", "window", "classes", "num_folds", "cache_dir"} <= set(valid)  # own and inherited keys


def test_print_config_shows_resolved_values(tiny_args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_training(tiny_args + ["--data.init_args.window", "24", "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "window: 24" in out and "class_path: datamodules.AUSequenceDataModule" in out


def test_bf16_mixed_on_cpu_and_wandb_offline(tiny_args: list[str], tmp_path: Path) -> None:
    result = run_training(
        tiny_args + ["--trainer.precision", "bf16-mixed", "--tracking.wandb", "offline", "--trainer.max_epochs", "1"]
    )
    assert result["test"]["test/subject/accuracy"] >= 0.0
    offline_runs = list((tmp_path / "runs" / "tiny" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1


def test_loaded_checkpoint_reproduces_test_metrics(tiny_args: list[str], tmp_path: Path) -> None:
    from pytorch_lightning import Trainer

    from datamodules.au_sequence import AUSequenceDataModule
    from lightning_modules import SequenceClassifier

    result = run_training(tiny_args)
    model = SequenceClassifier.load_from_checkpoint(result["best_checkpoint"], weights_only=True)
    dm = AUSequenceDataModule(**{**_data_args(tiny_args), "cache_dir": None})
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False)
    metrics = trainer.test(model, datamodule=dm, verbose=False)[0]
    for key in ("test/subject/macro_f1", "test/window/auroc"):
        assert metrics[key] == pytest.approx(result["test"][key], abs=1e-6)


def _data_args(tiny_args: list[str]) -> dict:
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(OmegaConf.load(tiny_args[1]))["data"]["init_args"]
    config["manifest"] = tiny_args[tiny_args.index("--data.init_args.manifest") + 1]
    return config


def test_script_help_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--run.resume" in out.stdout and "--print_config" in out.stdout


def test_binary_focal_loss_with_pos_weight_trains(tiny_args: list[str]) -> None:
    from lightning_modules import SequenceClassifier

    result = run_training(tiny_args + ["--model.init_args.loss", "bce", "--model.init_args.focal_gamma", "2.0", "--trainer.max_epochs", "1"])
    model = SequenceClassifier.load_from_checkpoint(result["best_checkpoint"], weights_only=True)
    assert model.net.head.out_features == 1  # one logit for BCE
    weights = result["data"]["class_weights"]
    assert model.loss_fn.class_weights.tolist() == pytest.approx(weights)
    assert 0.0 <= result["test"]["test/subject/auroc"] <= 1.0
