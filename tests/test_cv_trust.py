"""Results a researcher can trust (issue #13): fixed splits are run over seeds, not k-fold; each subject is
pooled once; the tuned threshold decides everywhere; identity leakage reaches every report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facedep.experiment.compare import compare_models, write_table
from facedep.experiment.cross_validate import DesignError, cross_validate, main
from facedep.evaluation.console import format_metrics_table
from facedep.evaluation.levels import FoldResult, LevelPredictions
from facedep.evaluation.predictions import read_level_predictions, write_level_predictions
from facedep.evaluation.report import write_report
from facedep.evaluation.summary import summarize_folds

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")
CLASSES = ["healthy", "depressed"]


@pytest.fixture()
def column_manifest(demo_manifest: Path, tmp_path: Path) -> Path:
    """The demo manifest with a fixed ``split`` column: 4 test and 4 validation subjects (2 per class), 10 training."""
    table = pd.read_csv(demo_manifest)
    table["path"] = [str((demo_manifest.parent / p).resolve()) for p in table["path"]]
    labels = table.groupby("subject_id")["label"].first()
    split = {}
    for label in (0, 1):
        subjects = sorted(labels[labels == label].index)
        split.update({s: "test" for s in subjects[:2]} | {s: "val" for s in subjects[2:4]} | {s: "train" for s in subjects[4:]})
    table["split"] = table["subject_id"].map(split)
    path = tmp_path / "column_manifest.csv"
    table.to_csv(path, index=False)
    return path


def _never(args: list[str]) -> dict:
    raise AssertionError(f"a run was started: {args}")


# ------------------------------------------------------------------------------ k-fold on a fixed split


def test_kfold_on_a_column_split_is_refused_before_any_training(column_manifest: Path, tmp_path: Path) -> None:
    overrides = ["--data.init_args.manifest", str(column_manifest), "--run.output_dir", str(tmp_path / "runs")]
    with pytest.raises(DesignError, match=r"split = 'column'.*--seeds 0 1 2 3 4"):
        cross_validate(TINY, 3, overrides + ["--data.init_args.split", "column"], runner=_never)
    config = tmp_path / "column.yaml"  # the split set in the YAML, not on the command line
    config.write_text(Path(TINY).read_text().replace("    num_folds: 3\n", "    num_folds: 3\n    split: column\n"))
    with pytest.raises(DesignError, match="--seeds"):
        cross_validate(str(config), 3, overrides, runner=_never)
    with pytest.raises(DesignError, match="--seeds"):
        compare_models(str(config), 3, ["boosting"], overrides)
    assert not (tmp_path / "runs").exists()


def test_refusal_on_the_command_line_exits_with_the_advice(column_manifest: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", TINY, "--folds", "3", "--data.init_args.manifest", str(column_manifest),
              "--data.init_args.split=column", "--run.output_dir", str(tmp_path)])
    assert exit_info.value.code == 2 and "--seeds 0 1 2 3 4" in capsys.readouterr().err


def test_seeds_on_a_kfold_split_are_refused(demo_manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(DesignError, match="--folds"):
        cross_validate(TINY, 3, ["--data.init_args.manifest", str(demo_manifest)], runner=_never, seeds=[0, 1])


def test_seeds_on_a_column_split_pool_each_test_subject_once(column_manifest: Path, tmp_path: Path) -> None:
    overrides = ["--data.init_args.manifest", str(column_manifest), "--data.init_args.split", "column",
                 "--run.output_dir", str(tmp_path / "runs"), "--run.name", "fixed", "--trainer.max_epochs", "1"]
    summary = cross_validate(TINY, 5, overrides, n_boot=50, seeds=[0, 1])
    subject = summary["levels"]["subject"]
    assert summary["design"] == "seeds" and summary["folds"] == [0, 1]
    assert subject["n"] == 4 and subject["pooled"]["n"] == 4 and subject["pooled"]["n_unique_ids"] == 4
    assert subject["counts"]["pooled"] == {"healthy": 2, "depressed": 2}  # one seed's test set, not 2 x
    assert np.sum(subject["confusion"]) == pytest.approx(4)  # mean over seeds: each subject once
    per_seed = subject["metrics"]["accuracy"]["per_fold"]
    assert len(per_seed) == 2 and subject["pooled"]["metrics"]["accuracy"]["value"] == pytest.approx(np.mean(per_seed))
    cv_dir = tmp_path / "runs" / "fixed"
    for seed in (0, 1):
        tested = pd.read_csv(cv_dir / f"seed{seed}" / "predictions_test_subject.csv")
        assert len(tested) == 4
        assert f"seed_everything: {seed}" in (cv_dir / f"seed{seed}" / "config.yaml").read_text()
    assert json.loads((cv_dir / "report.json").read_text())["design"] == "seeds"
    md = (cv_dir / "report.md").read_text()
    assert "2 seeds of one fixed split" in md and "each subject counts once" in md and "n = 4 subjects" in md


def test_compare_models_over_seeds(column_manifest: Path, tmp_path: Path) -> None:
    overrides = ["--data.init_args.manifest", str(column_manifest), "--data.init_args.split", "column",
                 "--run.output_dir", str(tmp_path), "--run.name", "t"]
    summaries = compare_models(TINY, 5, ["boosting"], overrides, n_boot=20, seeds=[0, 1])
    assert summaries["boosting"]["levels"]["subject"]["pooled"]["n"] == 4
    table = (tmp_path / "t-compare" / "table.md").read_text()
    assert table.startswith("Subject-level evaluation, 2 seeds of one fixed split (mean ± std over seeds)")
    assert (tmp_path / "t-compare" / "boosting" / "seed1" / "metrics.json").exists()


# ------------------------------------------------------------------------------ pooled tables


def test_a_subject_in_two_folds_test_sets_is_an_error() -> None:
    a = LevelPredictions(["s1", "s2"], [0, 1], [[0.8, 0.2], [0.3, 0.7]])
    b = LevelPredictions(["s1", "s3"], [0, 1], [[0.6, 0.4], [0.1, 0.9]])
    with pytest.raises(ValueError, match=r"s1 \(folds 0, 1\).*--seeds"):
        summarize_folds([FoldResult(0, {"subject": a}), FoldResult(1, {"subject": b})], CLASSES, n_boot=20)


def test_seed_pooling_hand_checked() -> None:
    """Seed 0 gets both subjects right, seed 1 only s2 (rows in another order): pooled accuracy 3/4, n = 2."""
    seed0 = LevelPredictions(["s1", "s2"], [0, 1], [[0.8, 0.2], [0.3, 0.7]])
    seed1 = LevelPredictions(["s2", "s1"], [1, 0], [[0.2, 0.8], [0.4, 0.6]])
    s = summarize_folds([FoldResult(0, {"subject": seed0}), FoldResult(1, {"subject": seed1})], CLASSES, n_boot=200,
                        design="seeds")
    pooled = s["levels"]["subject"]["pooled"]
    assert pooled["n"] == 2 and pooled["seeds"] == 2
    assert pooled["metrics"]["accuracy"]["value"] == 0.75
    assert s["levels"]["subject"]["confusion"] == [[0.5, 0.5], [0.0, 1.0]]
    # Each resample draws one healthy and one depressed subject (stratified), the same ones for both seeds.
    assert (pooled["metrics"]["accuracy"]["ci_low"], pooled["metrics"]["accuracy"]["ci_high"]) == (0.75, 0.75)
    other = LevelPredictions(["s1", "s9"], [0, 1], [[0.8, 0.2], [0.3, 0.7]])
    with pytest.raises(ValueError, match=r"seeds 0 and 1 tested different subjects.*s2"):
        summarize_folds([FoldResult(0, {"subject": seed0}), FoldResult(1, {"subject": other})], CLASSES, design="seeds")


# ------------------------------------------------------------------------------ thresholds


def test_the_stored_threshold_decides_in_the_report(tmp_path: Path) -> None:
    """P(depressed) 0.3 (healthy) and 0.4 (depressed) with threshold 0.35: macro-F1 1.0 (argmax: 0.333)."""
    levels = {"subject": {"ids": [0, 1], "y": [0, 1], "probs": np.array([[0.7, 0.3], [0.6, 0.4]])}}
    paths = write_level_predictions(levels, {"subject": {0: "s1", 1: "s2"}}, CLASSES, "test", tmp_path, threshold=0.35)
    assert pd.read_csv(paths["subject"])["threshold"].tolist() == [0.35, 0.35]
    folds = [FoldResult(0, read_level_predictions(paths))]
    s = summarize_folds(folds, CLASSES, n_boot=100)
    subject = s["levels"]["subject"]
    assert subject["metrics"]["macro_f1"]["per_fold"] == [1.0]
    assert subject["confusion"] == [[1, 0], [0, 1]]
    assert subject["pooled"]["metrics"]["macro_f1"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert s["decision"] == {"rule": "threshold", "thresholds": [0.35]}
    argmax = summarize_folds([FoldResult(0, {"subject": LevelPredictions(["s1", "s2"], [0, 1], [[0.7, 0.3], [0.6, 0.4]])})],
                             CLASSES, n_boot=20)
    assert argmax["levels"]["subject"]["metrics"]["macro_f1"]["per_fold"] == [pytest.approx(1 / 3)]
    md = write_report(s, folds, CLASSES, tmp_path / "report")["markdown"].read_text()
    assert "threshold tuned on validation" in md and "0.350" in md


def test_pooled_folds_keep_their_own_thresholds(tmp_path: Path) -> None:
    """Fold 0 decides at 0.35, fold 1 at 0.75: P = 0.4 is depressed in fold 0, healthy in fold 1."""
    f0 = LevelPredictions(["a", "b"], [0, 1], [[0.7, 0.3], [0.6, 0.4]], threshold=0.35)
    f1 = LevelPredictions(["c", "d"], [0, 1], [[0.6, 0.4], [0.2, 0.8]], threshold=0.75)
    s = summarize_folds([FoldResult(0, {"subject": f0}), FoldResult(1, {"subject": f1})], CLASSES, n_boot=50)
    assert s["levels"]["subject"]["pooled"]["metrics"]["accuracy"]["value"] == 1.0
    assert s["levels"]["subject"]["confusion"] == [[2, 0], [0, 2]]
    bad = pd.DataFrame({"id": [0, 1], "name": ["a", "b"], "y_true": [0, 1], "prob_h": [0.5, 0.5], "prob_d": [0.5, 0.5],
                        "threshold": [0.3, 0.4]})  # two thresholds in one fold's table
    bad.to_csv(tmp_path / "predictions_x.csv", index=False)
    with pytest.raises(ValueError, match=r"predictions_x.csv: column 'threshold' must hold one value"):
        read_level_predictions({"subject": tmp_path / "predictions_x.csv"})


# ------------------------------------------------------------------------------ identity leakage


def _frame_runner(out: Path):  # noqa: ANN202 (a runner for cross_validate)
    """A fake fold runner for frame-level data (AU severity CSV without a group column)."""
    rng = np.random.default_rng(0)

    def run(args: list[str]) -> dict:
        fold = int(args[args.index("--data.init_args.fold") + 1])
        run_dir = out / f"fold{fold}"
        run_dir.mkdir(parents=True)
        y = np.array([0, 1, 0, 1])
        probs = np.clip(np.eye(2)[y] * 0.5 + rng.uniform(0, 0.5, (4, 2)), 0.01, None)
        levels = {lv: {"ids": np.arange(4), "y": y, "probs": probs / probs.sum(1, keepdims=True)} for lv in ("window", "subject")}
        names = {"subject": {i: f"frame{fold}_{i}" for i in range(4)}}
        written = write_level_predictions(levels, names, CLASSES, "test", run_dir)
        return {"run_dir": str(run_dir), "class_names": CLASSES, "test": {}, "predictions": {k: str(v) for k, v in written.items()},
                "data": {"identity_leakage": True}}

    return run


def test_identity_leakage_reaches_report_and_table(demo_manifest: Path, tmp_path: Path) -> None:
    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path), "--run.name", "sev"]
    summary = cross_validate(TINY, 2, overrides, n_boot=20, runner=_frame_runner(tmp_path / "folds"))
    report = json.loads((tmp_path / "sev" / "report.json").read_text())
    assert report["identity_leakage"] is True and report["unit"] == "frame" and report["bootstrap"]["unit"] == "frame"
    md = (tmp_path / "sev" / "report.md").read_text()
    assert "Identity leakage" in md and "Frame level (no subject ids)" in md
    assert "subject level" not in md.lower()
    assert "frame pooled" in format_metrics_table(summary)
    table = write_table({"mlp": summary}, tmp_path / "cmp")
    assert table.startswith("Frame-level (no subject ids) evaluation, 2 folds") and "Identity leakage" in table
    assert "subject" not in table.split("\n")[0].lower().replace("no subject ids", "")
    numbers = json.loads((tmp_path / "cmp" / "table.json").read_text())["mlp"]
    assert numbers["identity_leakage"] is True and numbers["unit"] == "frame"


def test_no_leakage_no_warning() -> None:
    p = LevelPredictions(["s1", "s2"], [0, 1], [[0.8, 0.2], [0.3, 0.7]])
    s = summarize_folds([FoldResult(0, {"subject": p}, data={"identity_leakage": False})], CLASSES, n_boot=20)
    assert s["identity_leakage"] is False and s["unit"] == "subject"
