"""Resume (``--run.resume true``): refused without last.ckpt or with a config that changes the run,
before anything is written; a resumed run appends to metrics.csv. Read-only output folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from datamodules.output_folder import OutputFolderError, check_output_folder
from facedep.experiment.resume import ResumeError, check_resume, run_changes
from facedep.experiment.train import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained_run(demo_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of the tiny config, not tested: ``<tmp>/runs/tiny`` (copied by each test)."""
    out = tmp_path_factory.mktemp("trained") / "runs"
    assert main(_args(demo_manifest, out) + ["--trainer.max_epochs", "1", "--run.test", "false"]) == 0
    return out / "tiny"


def _args(manifest: Path, output_dir: Path) -> list[str]:
    return ["--config", str(ROOT / "configs" / "tests" / "tiny.yaml"), "--data.init_args.manifest", str(manifest),
            "--run.output_dir", str(output_dir), "--trainer.max_epochs", "1", "--run.test", "false"]


@pytest.fixture()
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run folder (for tests that must not resume it: the path changed)."""
    target = tmp_path / "runs" / "tiny"
    shutil.copytree(trained_run, target)
    return target


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_mistyped_run_name_is_refused_and_nothing_is_created(trained_run: Path, demo_manifest: Path, capsys) -> None:
    runs = trained_run.parent
    code = main(_args(demo_manifest, runs) + ["--run.name", "tinny", "--run.resume", "true"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (f"error: cannot resume: {runs / 'tinny' / 'checkpoints' / 'last.ckpt'} not found "
                   f"(is --run.name right? runs with a last.ckpt in {runs}: tiny)")
    assert sorted(p.name for p in runs.iterdir()) == ["tiny"]


def test_changed_lr_is_refused_before_anything_is_written(run_copy: Path, demo_manifest: Path, capsys) -> None:
    before = _snapshot(run_copy)
    code = main(_args(demo_manifest, run_copy.parent) + [
        "--run.resume", "true", "--trainer.max_epochs", "2", "--tracking.wandb", "offline",
        "--model.init_args.optimizer.init_args.lr", "0.02", "--data.init_args.window", "16",
    ])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert f"cannot resume {run_copy}: the config differs from {run_copy / 'config.yaml'}" in err
    assert "data.init_args.window: 32 -> 16; model.init_args.optimizer.init_args.lr: 0.01 -> 0.02 (" in err
    assert "trainer.max_epochs" not in err.split("(only")[0] and "tracking.wandb" not in err.split("(only")[0]
    assert _snapshot(run_copy) == before  # config.yaml, metrics.csv, checkpoints byte for byte; no wandb/


def test_resume_appends_to_metrics_csv_and_records_the_used_config(demo_manifest: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "tiny"
    assert main(_args(demo_manifest, run_dir.parent)) == 0
    first = pd.read_csv(run_dir / "metrics.csv")
    assert sorted(first["epoch"].dropna().unique().astype(int)) == [0]
    assert main(_args(demo_manifest, run_dir.parent) + ["--run.resume", "true", "--trainer.max_epochs", "2"]) == 0
    log = pd.read_csv(run_dir / "metrics.csv")
    assert sorted(log["epoch"].dropna().unique().astype(int)) == [0, 1]
    pd.testing.assert_frame_equal(log.iloc[: len(first)][first.columns], first)  # epoch 0's rows kept as they were
    assert log["step"].iloc[len(first):].min() > first["step"].max()  # the resumed steps follow on
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["trainer"]["max_epochs"] == 2 and config["run"]["resume"] is True
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


def test_resume_failing_on_a_corrupt_checkpoint_keeps_config_and_metrics(run_copy: Path, demo_manifest: Path) -> None:
    (run_copy / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    before = {name: (run_copy / name).read_bytes() for name in ("config.yaml", "metrics.csv")}
    with pytest.raises(Exception):  # noqa: B017 (whatever torch.load raises on garbage)
        main(_args(demo_manifest, run_copy.parent) + ["--run.resume", "true", "--trainer.max_epochs", "2"])
    assert {name: (run_copy / name).read_bytes() for name in before} == before


def test_resume_without_saved_config_is_refused(run_copy: Path) -> None:
    (run_copy / "config.yaml").unlink()
    with pytest.raises(ResumeError, match=f"{run_copy / 'config.yaml'} not found"):
        check_resume(run_copy, {})


def test_run_changes_ignores_resumable_keys_and_reports_absent_ones() -> None:
    saved = {"run": {"resume": False, "name": "a"}, "tracking": {"wandb": "disabled"}, "seed_everything": 0,
             "trainer": {"max_epochs": 1, "precision": "32"}, "model": {"init_args": {"lr": 0.1}}}
    new = {"run": {"resume": True, "name": "a"}, "tracking": {"wandb": "offline", "project": "p"}, "seed_everything": 1,
           "trainer": {"max_epochs": 9, "precision": "bf16-mixed"}, "model": {"init_args": {"lr": 0.1, "dropout": 0.5}}}
    assert run_changes(saved, new) == [
        ("model.init_args.dropout", run_changes.__globals__["_ABSENT"], 0.5),
        ("seed_everything", 0, 1),
        ("trainer.precision", "32", "bf16-mixed"),
    ]


def test_unwritable_run_folder_gives_one_line(demo_manifest: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    runs = tmp_path / "afile" / "runs"
    assert main(_args(demo_manifest, runs)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: cannot write to output folder {runs / 'tiny'} ({tmp_path / 'afile'} is a file, not a folder)"


def test_train_script_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    runs = tmp_path / "afile" / "runs"
    args = _args(tmp_path / "unread_manifest.csv", runs)  # refused before the data is read
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), *args],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == f"error: cannot write to output folder {runs / 'tiny'} ({tmp_path / 'afile'} is a file, not a folder)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputFolderError, match=f"cannot write to output folder {locked / 'run'} \\(permission denied in {locked}\\)"):
            check_output_folder(locked / "run")
    finally:
        locked.chmod(0o755)


def test_check_output_folder_creates_nothing(tmp_path: Path) -> None:
    assert check_output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []


def test_extract_landmarks_unwritable_out_gives_one_line(tmp_path: Path, capsys) -> None:
    from datamodules.preprocessing.extract import main as extract_main

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"")
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "out"
    assert extract_main([str(videos), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: cannot write to output folder {out} ({tmp_path / 'afile'} is a file, not a folder)"


def test_appending_csv_logger_keeps_rows_and_adds_a_new_column(tmp_path: Path) -> None:
    from facedep.experiment.csv_logs import AppendingCSVLogger

    (tmp_path / "metrics.csv").write_text("epoch,step,val/loss\n0,4,0.75\n")
    logger = AppendingCSVLogger(save_dir=str(tmp_path), name="", version="")
    logger.log_metrics({"epoch": 1, "val/loss": 0.5}, step=9)
    logger.log_metrics({"epoch": 1, "train/loss": 0.25}, step=9)
    logger.save()
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "epoch,step,train/loss,val/loss", "0,4,,0.75", "1,9,,0.5", "1,9,0.25,",
    ]


def test_private_run_resumes_and_still_refuses_a_changed_config(demo_manifest: Path, tmp_path: Path, capsys) -> None:
    """With ``run.privacy`` the saved config holds relative paths: resume compares like with like."""
    run_dir = tmp_path / "runs" / "tiny"
    args = _args(demo_manifest, run_dir.parent) + ["--run.privacy", "true"]
    assert main(args) == 0
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert not Path(saved["data"]["init_args"]["manifest"]).is_absolute()
    assert main(args + ["--run.resume", "true", "--trainer.max_epochs", "2"]) == 0
    assert sorted(pd.read_csv(run_dir / "metrics.csv")["epoch"].dropna().unique().astype(int)) == [0, 1]
    capsys.readouterr()
    code = main(args + ["--run.resume", "true", "--trainer.max_epochs", "3", "--data.init_args.window", "16"])
    assert code == 2 and "data.init_args.window: 32 -> 16" in capsys.readouterr().err
