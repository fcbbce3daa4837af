"""Frame-level AU severity CSV: manifest -> AUFrameDataModule -> MLP learns a planted 4-class effect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.au_frames import AUFrameDataModule
from datamodules.io.au_table import ALL_AU_COLUMNS
from datamodules.make_manifest import main as make_manifest
from facedep.experiment.train import run_training

ROOT = Path(__file__).resolve().parents[1]


def _severity_csv(path: Path, subjects: int = 40, frames: int = 30, seed: int = 0) -> Path:
    """Label = severity 0-3 per subject; AU04 and AU15 intensities rise with severity."""
    rng = np.random.default_rng(seed)
    severity = np.repeat(np.arange(subjects) % 4, frames)
    values = rng.uniform(0, 1, size=(len(severity), len(ALL_AU_COLUMNS)))
    for au in ("AU04_r", "AU15_r"):
        values[:, ALL_AU_COLUMNS.index(au)] += 0.8 * severity
    table = pd.DataFrame(values, columns=list(ALL_AU_COLUMNS))
    table["label"] = severity
    table["person"] = np.repeat([f"p{i}" for i in range(subjects)], frames)
    table.to_csv(path, index=False)
    return path


def _manifest(tmp_path: Path, group: bool) -> Path:
    csv = _severity_csv(tmp_path / "AU_features.csv")
    out = tmp_path / ("grouped.parquet" if group else "frames.parquet")
    assert make_manifest(["--format", "au-severity-csv", str(csv), "--out", str(out)] + (["--group-column", "person"] if group else [])) == 0
    return out


def test_grouped_frames_are_split_by_subject_and_learned(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, group=True)
    config = tmp_path / "severity.yaml"
    config.write_text((ROOT / "configs" / "au" / "severity_mlp.yaml").read_text())
    result = run_training([
        "--config", str(config), "--data.init_args.manifest", str(manifest), "--data.init_args.cache_dir", "null",
        "--data.init_args.num_folds", "4", "--data.init_args.batch_size", "64", "--trainer.max_epochs", "15",
        "--trainer.precision", "32-true", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--tracking.wandb", "disabled", "--run.output_dir", str(tmp_path / "runs"),
    ])
    report = result["data"]
    assert report["identity_leakage"] is False
    assert report["test"]["subjects"] == 10 and report["test"]["frames"] == 300
    assert result["test"]["test/subject/macro_f1"] >= 0.7  # 4 classes, planted AU04/AU15 slope
    assert len(json.loads(Path(result["run_dir"], "metrics.json").read_text())["confusion_matrices"]["subject"]) == 4


def test_frame_level_split_warns_about_identity_leakage(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, group=False)
    dm = AUFrameDataModule(str(manifest), classes=[0, 1, 2, 3], num_folds=4, cache_dir=None)
    with pytest.warns(UserWarning, match="LEAKS IDENTITY"):
        dm.setup("fit")
    assert dm.data_report["identity_leakage"] is True
    assert sum(dm.data_report[s]["frames"] for s in ("train", "val", "test")) == 1200


def test_row_past_the_end_names_the_file(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, group=True)
    frames = pd.read_parquet(manifest)
    frames.loc[5, "row"] = 99999
    frames.to_parquet(manifest)
    with pytest.raises(ValueError, match=r"row 99999 is past the end of .*AU_features.csv"):
        AUFrameDataModule(str(manifest), classes=[0, 1, 2, 3], num_folds=4, cache_dir=None).setup("fit")
