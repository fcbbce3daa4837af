"""Issue #16 demo and published setups: the score-graded synthetic AUs, the PHQ-8 configs, a tiny regression
run, and (slow) `make demo-severity`'s 5-fold cross-validation learning the planted severity."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy.stats import spearmanr

from datamodules.io.au_table import INTENSITY_AUS
from datamodules.io.openface import read_openface_csv
from datamodules.synthetic.au_simulation import EFFECT_SHIFTS, make_subject_profile
from datamodules.synthetic.cli import main as make_demo_data
from datamodules.synthetic.openface_demo import make_openface_demo
from datamodules.synthetic.subjects import severity_multiplier
from facedep.experiment.cross_validate import DesignError, check_design, cross_validate, resolved_data_args
from facedep.experiment.train import run_training
from lightning_modules.regression_evaluation import concordance

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "au" / "demo_severity.yaml"
DEMO_ORDINAL = ROOT / "configs" / "au" / "demo_severity_ordinal.yaml"
TINY = ROOT / "configs" / "tests" / "tiny_regression.yaml"
PUBLISHED = [ROOT / "configs" / "au" / "daic_woz_phq8.yaml", ROOT / "configs" / "au" / "edaic_phq8.yaml",
             ROOT / "configs" / "landmarks" / "daic_phq8.yaml"]
FOUR_BANDS = [["healthy", 0, 4], ["mild", 5, 9], ["moderate", 10, 14], ["severe", 15, 24]]


# ------------------------------------------------------------------------------ the score-graded generator


def test_severity_multiplier_is_monotonic_in_the_score() -> None:
    scores = np.arange(25)
    banded = np.array([severity_multiplier(int(s >= 10), int(s)) for s in scores])
    linear = np.array([severity_multiplier(int(s >= 10), int(s), "linear") for s in scores])
    assert (np.diff(banded) > 0).all() and (np.diff(linear) > 0).all()
    assert banded[10] - banded[9] == pytest.approx(0.4)  # the banded jump at the cut-off
    np.testing.assert_allclose(np.diff(linear), 1.4 / 24)  # linear: the same step everywhere
    assert linear[0] == 0.0 and linear[24] == pytest.approx(banded[24])
    with pytest.raises(ValueError, match="severity mode 'steps'"):
        severity_multiplier(0, 3, "steps")


def test_linear_mode_shifts_the_baseline_by_the_score() -> None:
    """Same random draws, so the two profiles differ by exactly the planted shift times the multiplier gap."""
    banded = make_subject_profile("s", 0, 9, 2.0, np.random.default_rng(5))
    linear = make_subject_profile("s", 0, 9, 2.0, np.random.default_rng(5), severity="linear")
    expected = np.array([EFFECT_SHIFTS.get(au, 0.0) for au in INTENSITY_AUS]) * 2.0 * (1.4 * 9 / 24 - 0.2)
    np.testing.assert_allclose(linear.baseline - banded.baseline, expected, atol=1e-12)


def test_linear_mode_grades_the_effect_within_the_healthy_range(tmp_path: Path) -> None:
    """Healthy subjects (scores 0-9) show more of the depressed pattern the higher their score."""
    manifest = make_openface_demo(tmp_path, num_subjects=30, frames=(150, 200), effect_size=3.0, seed=2, severity="linear")
    table = pd.read_csv(manifest)
    at = {au: i for i, au in enumerate(INTENSITY_AUS)}
    means = np.array([np.nanmean(read_openface_csv(tmp_path / p).values[:, :len(INTENSITY_AUS)], axis=0) for p in table["path"]])
    pattern = sum(means[:, at[au]] * np.sign(shift) for au, shift in EFFECT_SHIFTS.items())
    healthy = table["label"].to_numpy() == 0
    assert spearmanr(pattern[healthy], table["score"][healthy])[0] > 0.35
    assert spearmanr(pattern, table["score"])[0] > 0.8


def test_cli_severity_is_for_aus_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        make_demo_data(["--out", str(tmp_path), "--modality", "landmarks", "--severity", "linear"])
    assert "--severity applies to --modality aus only" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown severity mode"):
        make_openface_demo(tmp_path, num_subjects=2, severity="steps")
    assert not (tmp_path / "manifest.csv").exists()


# ------------------------------------------------------------------------------ configs parse (no data needed)


@pytest.mark.parametrize("config", PUBLISHED, ids=[p.relative_to(ROOT / "configs").as_posix() for p in PUBLISHED])
def test_published_setups_are_score_regressions_on_the_official_partition(config: Path) -> None:
    data = resolved_data_args(str(config), [])
    assert (data["target"], data["split"], data["score_range"], data["score_threshold"]) == ("score", "column", [0, 24], 10)
    with pytest.raises(DesignError, match=r"--seeds 0 1 2 3 4"):  # k-fold on the fixed split is refused
        check_design(str(config), [], None)
    assert check_design(str(config), [], [0, 1, 2, 3, 4])["split"] == "column"
    text = config.read_text()
    assert "privacy: true" in text and "scripts/make_manifest.py" in text and "--seeds 0 1 2 3 4" in text


@pytest.mark.parametrize("config", [DEMO, DEMO_ORDINAL, TINY], ids=["demo_severity", "demo_severity_ordinal", "tiny_regression"])
def test_demo_configs_are_k_fold(config: Path) -> None:
    data = check_design(str(config), [], None)
    assert data.get("split", "kfold") == "kfold"


def test_ordinal_demo_uses_four_ordered_bands() -> None:
    data = resolved_data_args(str(DEMO_ORDINAL), [])
    assert data["target"] == "label" and data["score_bands"] == FOUR_BANDS
    assert data["classes"] == [band[0] for band in FOUR_BANDS]


# ------------------------------------------------------------------------------ a tiny regression run


@pytest.fixture(scope="module")
def severity_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 subjects whose planted effect grows with the score (strong, short sessions)."""
    out = tmp_path_factory.mktemp("severity")
    return make_openface_demo(out, num_subjects=12, frames=(120, 160), effect_size=3.0, seed=3, severity="linear")


def test_tiny_regression_run_writes_score_metrics(severity_manifest: Path, tmp_path: Path) -> None:
    run_training(["--config", str(TINY), "--data.init_args.manifest", str(severity_manifest),
                  "--run.output_dir", str(tmp_path / "runs")])
    run_dir = tmp_path / "runs" / "tiny_regression"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    subjects = pd.read_csv(run_dir / "predictions_test_subject.csv", dtype={"name": str})
    manifest = pd.read_csv(severity_manifest, dtype={"subject_id": str})
    assert len(subjects) == metrics["data"]["test"]["subjects"] == 4  # 12 subjects, 3 folds
    scores = manifest.groupby("subject_id")["score"].mean()
    np.testing.assert_allclose(subjects["target"], scores[subjects["name"]].to_numpy())
    assert subjects["prediction"].between(0, 24).all()  # clipped to score_range
    errors = (subjects["prediction"] - subjects["target"]).abs()
    assert test["test/subject/mae"] == pytest.approx(errors.mean(), rel=1e-4)
    assert np.isfinite(test["test/subject/ccc"]) and -1.0 <= test["test/subject/ccc"] <= 1.0
    train_subjects = json.loads((run_dir / "data_report.json").read_text())["train"]["subject_ids"]
    train_mean = scores[[str(s) for s in train_subjects]].mean()  # the AVEC baseline: the training subjects' mean
    assert test["test/subject/baseline_mae"] == pytest.approx((subjects["target"] - train_mean).abs().mean(), rel=1e-4)
    assert metrics["target"]["mean"] == pytest.approx(train_mean)
    assert (metrics["target"]["low"], metrics["target"]["high"], metrics["target"]["threshold"]) == (0, 24, 10)


# ------------------------------------------------------------------------------ the published setups, on stand-ins


def official_partition(manifest: Path) -> Path:
    """The demo manifest with absolute paths and a fixed split column: 2 test and 2 dev subjects per label."""
    table = pd.read_csv(manifest)
    table["path"] = [str(manifest.parent / p) for p in table["path"]]
    rank = table.sort_values(["label", "subject_id"]).groupby("label").cumcount().reindex(table.index).to_numpy()
    table["split"] = np.where(rank < 2, "test", np.where(rank < 4, "val", "train"))
    out = manifest.with_name("official.csv")
    table.to_csv(out, index=False)
    return out


@pytest.fixture(scope="module")
def stand_ins(severity_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Fixed-split synthetic stand-ins for DAIC-WOZ / E-DAIC: AU CSVs and landmark CSVs (OpenFace layout)."""
    from datamodules.synthetic.landmarks import make_landmark_demo

    landmarks = make_landmark_demo(tmp_path_factory.mktemp("landmarks"), num_subjects=12, frames=(120, 160),
                                   effect_size=3.0, seed=3)
    return {"aus": official_partition(severity_manifest), "landmarks": official_partition(landmarks)}


SMALL = {"aus": ["--data.init_args.window", "32", "--data.init_args.stride", "32"],
         "landmarks": ["--data.init_args.frames_per_sample", "16", "--data.init_args.stride", "32",
                       "--data.init_args.image_cache", "false"]}


@pytest.mark.parametrize("config", PUBLISHED, ids=[p.relative_to(ROOT / "configs").as_posix() for p in PUBLISHED])
def test_published_setups_train_once_per_seed(config: Path, stand_ins: dict[str, Path], tmp_path: Path) -> None:
    """Each published config (its loss, selection metric and net) trains on the fixed split with ``--seeds``."""
    kind = "landmarks" if "landmarks" in config.parts else "aus"
    overrides = ["--data.init_args.manifest", str(stand_ins[kind]), "--data.init_args.file_format", "auto",
                 "--data.init_args.num_workers", "0", "--data.init_args.cache_dir", "null", *SMALL[kind],
                 "--trainer.max_epochs", "1", "--trainer.precision", "32-true", "--trainer.accelerator", "cpu",
                 "--trainer.enable_progress_bar", "false", "--run.output_dir", str(tmp_path), "--tracking.wandb", "disabled"]
    summary = cross_validate(str(config), 5, overrides, n_boot=20, seeds=[0])
    cv_dir = tmp_path / yaml_value(config, "run", "name")
    assert summary["runs"] == ["seed0"]  # privacy: true -> run folders relative to the CV folder
    metrics = json.loads((cv_dir / "seed0" / "metrics.json").read_text())
    assert metrics["data"]["test"]["subjects"] == 4 and metrics["target"]["threshold"] == 10
    for key in ("mae", "rmse", "ccc", "baseline_mae", "baseline_ccc"):
        assert np.isfinite(metrics["test"][f"test/subject/{key}"])
    selection = "ccc" if "edaic" in config.name else "mae"
    assert metrics["monitor"] == "val/selection_score" and yaml_value(config, "model", "init_args", "selection_metric") == selection


def yaml_value(config: Path, *keys: str) -> object:
    """The value at ``keys`` of a YAML config."""
    value = yaml.safe_load(config.read_text())
    for key in keys:
        value = value[key]
    return value


# ------------------------------------------------------------------------------ `make demo-severity` (slow)


def makefile_data_args() -> list[str]:
    """``SEVERITY_DATA_ARGS`` of the Makefile: the demo data exactly as ``make demo-severity`` makes it."""
    match = re.search(r"^SEVERITY_DATA_ARGS\s*:?=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile has no SEVERITY_DATA_ARGS"
    return shlex.split(match.group(1))


def pooled_subjects(run_dirs: list[str]) -> pd.DataFrame:
    """Every fold's test subjects (disjoint across folds), one row each."""
    tables = [pd.read_csv(Path(d) / "predictions_test_subject.csv", dtype={"name": str}) for d in run_dirs]
    pooled = pd.concat(tables, ignore_index=True)
    assert pooled["name"].is_unique
    return pooled


@pytest.mark.slow
def test_demo_severity_cross_validation_learns_the_score(tmp_path: Path) -> None:
    """The regression demo's 5-fold CV: subject CCC >= 0.6 (per fold on average, and pooled) and a clearly
    lower MAE than the training-mean baseline in every fold."""
    assert make_demo_data(["--out", str(tmp_path / "data"), *makefile_data_args()]) == 0
    overrides = ["--data.init_args.manifest", str(tmp_path / "data" / "manifest.csv"), "--run.output_dir",
                 str(tmp_path / "runs"), "--tracking.wandb", "disabled", "--data.init_args.cache_dir", str(tmp_path / "cache"),
                 "--trainer.enable_progress_bar", "false"]
    summary = cross_validate(str(DEMO), 5, overrides, n_boot=100)
    folds = [json.loads((Path(d) / "metrics.json").read_text())["test"] for d in summary["runs"]]
    assert np.mean([f["test/subject/ccc"] for f in folds]) >= 0.6
    for fold in folds:
        assert fold["test/subject/mae"] < 0.75 * fold["test/subject/baseline_mae"]
    pooled = pooled_subjects(summary["runs"])
    assert len(pooled) == len(pd.read_csv(tmp_path / "data" / "labels.csv"))  # every subject tested once
    pred, target = (torch.tensor(pooled[c].to_numpy(dtype=float)) for c in ("prediction", "target"))
    assert float(concordance(pred, target)) >= 0.6
