"""Late fusion (facedep.fusion): the stacker on planted scores, the nesting (no outer test subject reaches an inner
run or the stacker), and whole late-fusion CVs (planted views through cross_validate; one tiny real training)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, roc_auc_score

from datamodules.splits import subject_kfold_split
from facedep.experiment.config_values import arg_value
from facedep.fusion import inner as inner_module
from facedep.fusion.late import LateFusionFold, late_fusion_cv, split_config
from facedep.fusion.runs import FusionError, stage_subjects
from facedep.fusion.stacking import MISSING, fit_stacker, view_features
from facedep.fusion.submanifest import read_raw_manifest

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")
TINY_REGRESSION = str(ROOT / "configs" / "tests" / "tiny_regression.yaml")
CLASSES = ["healthy", "depressed"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def complementary(n: int, seed: int) -> tuple[dict[str, pd.DataFrame], pd.Series]:
    """Two views' log-odds: view a is right (±2.5) on the first half of the subjects and noise on the other half,
    view b the reverse."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n)]
    y = np.tile([0, 1], n // 2)
    half = np.arange(n) < n // 2
    sign = np.where(y == 1, 2.5, -2.5)
    a = np.where(half, sign, rng.normal(0, 0.5, n))
    b = np.where(~half, sign, rng.normal(0, 0.5, n))
    frame = lambda v: pd.DataFrame({"log_odds": v}, index=ids)  # noqa: E731
    return {"a": frame(a), "b": frame(b)}, pd.Series(y, index=ids)


# ---- the stacker ---------------------------------------------------------------------------------------------------
def test_view_features_are_log_odds_log_probs_or_scores() -> None:
    binary = pd.DataFrame({"prob_hc": [0.8, 0.5], "prob_dep": [0.2, 0.5]}, index=["s1", "s2"])
    assert np.allclose(view_features(binary)["log_odds"], [np.log(0.2 / 0.8), 0.0])
    three = pd.DataFrame({"prob_lo": [0.2], "prob_mid": [0.3], "prob_hi": [0.5]}, index=["s1"])
    assert view_features(three).columns.tolist() == ["logp_lo", "logp_mid", "logp_hi"]
    assert np.allclose(view_features(three).to_numpy(), np.log([[0.2, 0.3, 0.5]]))
    assert view_features(pd.DataFrame({"target": [3.0], "prediction": [4.5]}, index=["s1"]))["score"].tolist() == [4.5]


def test_stacking_complementary_views_beats_both() -> None:
    train, y_train = complementary(60, seed=0)
    test, y_test = complementary(60, seed=1)
    stacker = fit_stacker(train, y_train, "classes", CLASSES)
    fused = stacker.predict(test, list(y_test.index))
    auroc = {v: roc_auc_score(y_test, test[v]["log_odds"]) for v in test}
    accuracy = {v: float(((test[v]["log_odds"] > 0).astype(int) == y_test).mean()) for v in test}
    assert roc_auc_score(y_test, fused[:, 1]) > max(auroc.values()) + 0.1
    assert float((fused.argmax(1) == y_test.to_numpy()).mean()) > max(accuracy.values()) + 0.15
    # symmetric views: equal, positive coefficients; each view half of the weight
    views = stacker.explain()["views"]
    coef = {f["view"]: f["coef"] for f in stacker.explain()["features"]}
    assert coef["a"] > 0 and coef["b"] > 0 and 0.75 < coef["a"] / coef["b"] < 1.33
    assert abs(views["a"]["share"] - 0.5) < 0.1 and views["a"]["missing_coef"] is None  # nobody missing: no indicator


def test_noise_view_gets_little_weight_and_score_stacking() -> None:
    train, y = complementary(60, seed=0)
    rng = np.random.default_rng(3)
    noise = pd.DataFrame({"log_odds": rng.normal(0, 1, 60)}, index=y.index)
    informative = pd.DataFrame({"log_odds": np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.0, 60)}, index=y.index)
    views = fit_stacker({"good": informative, "noise": noise}, y, "classes", CLASSES).explain()["views"]
    assert views["good"]["share"] > 0.8
    # score target: two noisy predictions of the same score -> ridge averages them, clipped to the range
    score = pd.Series(rng.uniform(0, 24, 80), index=[f"s{i}" for i in range(80)])
    a = pd.DataFrame({"score": score + rng.normal(0, 3, 80)}, index=score.index)
    b = pd.DataFrame({"score": score + rng.normal(0, 3, 80)}, index=score.index)
    half = score.index[:40]
    stacker = fit_stacker({"a": a.loc[half], "b": b.loc[half]}, score.loc[half], "score", ["score"], low=0, high=24)
    rest = list(score.index[40:])
    fused = stacker.predict({"a": a, "b": b}, rest)
    assert fused.min() >= 0 and fused.max() <= 24
    assert mean_absolute_error(score.loc[rest], fused) < min(mean_absolute_error(score.loc[rest], v.loc[rest, "score"]) for v in (a, b))
    explained = stacker.explain()
    assert explained["model"]["name"] == "RidgeCV" and all(f["coef"] > 0 for f in explained["features"])


def test_missing_view_is_imputed_with_the_training_mean_and_flagged() -> None:
    ids = ["s1", "s2", "s3", "s4", "s5", "s6"]
    y = pd.Series([0, 1, 0, 1, 0, 1], index=ids)
    a = pd.DataFrame({"log_odds": [-1.0, 1.0, -2.0, 2.0, -0.5, 0.5]}, index=ids)
    b = pd.DataFrame({"log_odds": [-1.0, 2.0, 0.0, 1.0]}, index=["s1", "s2", "s3", "s4"])  # s5, s6: no usable data
    stacker = fit_stacker({"a": a, "b": b}, y, "classes", CLASSES)
    design = stacker.design
    assert design.columns == [("a", "log_odds"), ("b", "log_odds"), ("b", MISSING)]
    assert stacker.missing_train == {"a": 0, "b": 2}
    b_mean = 0.5  # mean of b's four predictions: the imputed value
    b_imputed = np.array([-1.0, 2.0, 0.0, 1.0, b_mean, b_mean])
    assert np.allclose(design.mean, [0.0, b_mean, 2 / 6])
    assert np.allclose(design.std, [a["log_odds"].std(ddof=0), b_imputed.std(), np.std([0, 0, 0, 0, 1, 1])])
    # a test subject without view b: standardized b = 0 (the mean), indicator = 1 -> P by hand
    coef, intercept = stacker.model.coef_[0], stacker.model.intercept_[0]
    z = np.array([(1.5 - 0.0) / design.std[0], 0.0, (1 - 2 / 6) / design.std[2]])
    by_hand = sigmoid(intercept + coef @ z)
    got = stacker.predict({"a": pd.DataFrame({"log_odds": [1.5]}, index=["t1"]), "b": b.iloc[:0]}, ["t1"])
    assert np.isclose(got[0, 1], by_hand)
    assert stacker.missing_counts({"a": a, "b": b.iloc[:0]}, ["s1", "s2"]) == {"a": 0, "b": 2}
    assert stacker.explain()["views"]["b"]["missing_train"] == 2
    with pytest.raises(ValueError, match="predicted none"):
        fit_stacker({"a": a, "b": b.iloc[:0]}, y, "classes", CLASSES)


def test_multiclass_stacking_uses_log_probabilities() -> None:
    rng = np.random.default_rng(0)
    y = pd.Series(np.tile([0, 1, 2], 20), index=[f"s{i}" for i in range(60)])
    probs = np.full((60, 3), 0.2) + 0.6 * np.eye(3)[np.where(rng.random(60) < 0.8, y, (y + 1) % 3)]
    view = view_features(pd.DataFrame(probs, index=y.index, columns=["prob_lo", "prob_mid", "prob_hi"]))
    stacker = fit_stacker({"v": view}, y, "classes", ["lo", "mid", "hi"])
    fused = stacker.predict({"v": view}, list(y.index))
    assert fused.shape == (60, 3) and np.allclose(fused.sum(1), 1)
    assert len(stacker.explain()["features"][0]["coef"]) == 3  # one coefficient per class


def test_split_config() -> None:
    assert split_config(["--config=a.yaml", "--x", "1"]) == ("a.yaml", ["--x", "1"])
    assert split_config(["--x", "1"]) == (None, ["--x", "1"])


def test_reports_tolerate_runs_with_only_a_subject_level(tmp_path: Path) -> None:
    from facedep.evaluation.console import format_metrics_table
    from facedep.evaluation.levels import FoldResult, LevelPredictions
    from facedep.evaluation.report import write_report
    from facedep.evaluation.summary import summarize_folds
    from facedep.experiment.compare import write_table
    from facedep.experiment.cv_tracking import summary_tables

    folds = [FoldResult(k, {"subject": LevelPredictions([f"s{k}a", f"s{k}b", f"s{k}c", f"s{k}d"], [0, 1, 0, 1],
                                                        [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])}) for k in range(2)]
    summary = summarize_folds(folds, CLASSES, n_boot=20)
    assert list(summary["levels"]) == ["subject"]
    paths = write_report(summary, folds, CLASSES, tmp_path / "cv")
    text = paths["markdown"].read_text()
    assert "| metric | subject |" in text and "window" not in text and (tmp_path / "cv" / "roc_subject.png").is_file()
    assert format_metrics_table(summary).splitlines()[0].split() == ["metric", "subject", "subject", "pooled", "[95%", "CI]"]
    assert set(summary_tables(summary)) == {"cv/metrics", "cv/pooled"}
    table = write_table({"late_fusion": summary}, tmp_path / "compare")
    assert "| late_fusion | n/a |" in table  # no window level: n/a, the subject columns filled


# ---- planted views: cheap fold runners that write what a run writes ---------------------------------------------------
def planted_manifest(out: Path, n: int = 24) -> Path:
    """``n`` subjects, labels alternating, a PHQ-like score; the files are never read by the planted runners."""
    ids = [f"p{i:02d}" for i in range(n)]
    labels = np.tile([0, 1], n // 2)
    scores = np.where(labels == 1, 12, 4) + np.arange(n) % 5
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"subject_id": ids, "path": [f"openface/{s}.csv" for s in ids], "label": labels, "score": scores}).to_csv(
        out / "manifest.csv", index=False)
    return out / "manifest.csv"


class PlantedRunner:
    """A fold runner with a planted model: the view is right on its half of the subjects (group) and noise on the
    other half. Its predictions also move with the mean label of every subject in the manifest it is given, so an
    outer test subject's label leaking into an inner run would change the out-of-fold scores."""

    def __init__(self, group: int, score: bool = False, seed: int = 0, missing: tuple[str, ...] = ()) -> None:
        self.group, self.score, self.seed, self.missing = group, score, seed, set(missing)
        self.calls: list[dict] = []

    def __call__(self, args: list[str]) -> dict:
        manifest = Path(arg_value(args, "--data.init_args.manifest", ""))
        fold, folds = int(arg_value(args, "--data.init_args.fold", "0")), int(arg_value(args, "--data.init_args.num_folds", "2"))
        run_dir = Path(arg_value(args, "--run.output_dir", "runs")) / arg_value(args, "--run.name", "run")
        table = read_raw_manifest(manifest)
        self.calls.append({"manifest": str(manifest), "subjects": set(table["subject_id"])})
        per_subject = table.groupby("subject_id")["label"].first()
        seed = int(arg_value(args, "--data.init_args.seed", str(self.seed)))
        if arg_value(args, "--data.init_args.split", "kfold") == "column":  # a fixed split (seed runs)
            parts = {stage: sorted(table.loc[table["split"] == stage, "subject_id"]) for stage in ("train", "val", "test")}
        else:
            parts = subject_kfold_split(per_subject.index.to_numpy(), per_subject.to_numpy(), fold, folds, 0.25, seed)
        leak = float(table["label"].mean())
        test = [s for s in parts["test"] if s not in self.missing]
        rows = table.set_index("subject_id").loc[test]
        index = np.array([int(s[1:]) for s in test])
        rng = np.random.default_rng(index * 10 + self.group)
        own = (index // 2) % 2 == self.group
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.score:
            prediction = rows["score"].to_numpy(float) + np.where(own, 0.5, 6.0) * rng.normal(size=len(test)) + leak
            frame = pd.DataFrame({"id": range(len(test)), "name": test, "target": rows["score"].to_numpy(float), "prediction": prediction})
            predictions = {"predictions_test_subject": str(run_dir / "predictions_test_subject.csv")}
            extra = {"target": {"name": "score", "mean": 8.0, "std": 4.0, "low": 0.0, "high": 24.0, "threshold": 10.0}}
        else:
            signal = np.where(own, np.where(rows["label"] == 1, 2.0, -2.0), rng.normal(0, 0.7, len(test))) + leak
            p1 = sigmoid(signal)
            frame = pd.DataFrame({"id": range(len(test)), "name": test, "y_true": rows["label"].to_numpy(),
                                  "prob_healthy": 1 - p1, "prob_depressed": p1})
            predictions = {"subject": str(run_dir / "predictions_test_subject.csv")}
            extra = {}
        frame.to_csv(run_dir / "predictions_test_subject.csv", index=False)
        # like a DataModule: a subject without usable data is in no stage of subjects.json
        (run_dir / "subjects.json").write_text(json.dumps({k: [x for x in v if x not in self.missing] for k, v in parts.items()}))
        method = arg_value(args, "--data.init_args.split", "kfold")
        report = {"split": {"method": method, "seed": seed, **({"fold": fold, "num_folds": folds} if method == "kfold" else {})}}
        (run_dir / "data_report.json").write_text(json.dumps(report))
        metrics = {"run_dir": str(run_dir), "class_names": ["score"] if self.score else CLASSES, "predictions": predictions,
                   "test": {}, "data": report, **extra}
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics


def planted_views(manifest: Path, score: bool = False) -> dict[str, list[str]]:
    config = TINY_REGRESSION if score else TINY
    base = ["--config", config, "--data.init_args.manifest", str(manifest), "--tracking.wandb", "disabled"]
    return {"left": [*base, "--data.init_args.channels", "[AU04_r]"], "right": [*base, "--data.init_args.channels", "[AU12_r]"]}


@pytest.fixture(scope="module")
def planted_cv(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, PlantedRunner], Path, Path]:
    """A late-fusion CV of two planted views (3 outer folds, 2 inner folds); view 'right' never predicts p05, p10."""
    tmp_path = tmp_path_factory.mktemp("planted")
    manifest = planted_manifest(tmp_path / "data")
    runners = {"left": PlantedRunner(0), "right": PlantedRunner(1, missing=("p05", "p10"))}
    summary = late_fusion_cv(planted_views(manifest), folds=3, root=tmp_path / "runs", inner_folds=2, n_boot=50, runners=runners)
    return summary, runners, tmp_path / "runs" / "late_fusion", manifest


def test_planted_late_fusion_cv_reports_subject_level(planted_cv) -> None:
    summary, _, cv_dir, _ = planted_cv
    assert list(summary["levels"]) == ["subject"]
    assert summary["levels"]["subject"]["n"] == 24  # every subject tested once, p05/p10 from view 'left' alone
    text = (cv_dir / "report.md").read_text()
    assert "## Subject level, pooled over folds" in text and "## Late fusion" in text and "### View weights" in text
    fused = summary["levels"]["subject"]["pooled"]["metrics"]["auroc"]["value"]
    views = {v: json.loads((cv_dir / "views" / v / "report.json").read_text()) for v in ("left", "right")}
    assert all(fused > v["levels"]["subject"]["pooled"]["metrics"]["auroc"]["value"] for v in views.values())
    entry = json.loads((cv_dir / "report.json").read_text())["late_fusion"]
    assert set(entry["comparison"]) == {"left", "right", "late fusion"}
    record = json.loads((cv_dir / "fold0" / "stacker.json").read_text())
    assert set(record["stacker"]["views"]) == {"left", "right"} and record["inner_folds"] == 2
    missing = {f: json.loads((cv_dir / f"fold{f}" / "stacker.json").read_text())["missing"] for f in range(3)}
    # p05 and p10 (no 'right' prediction): each a training subject in two outer folds, a test subject in one
    assert sum(m["train"]["right"] for m in missing.values()) == 4 and sum(m["test"]["right"] for m in missing.values()) == 2
    assert all(m["train"]["left"] == 0 for m in missing.values())
    table = pd.read_csv(cv_dir / "fold0" / "predictions_test_subject.csv")
    assert table.columns.tolist() == ["id", "name", "y_true", "prob_healthy", "prob_depressed"]


def test_inner_runs_never_see_outer_test_subjects(planted_cv) -> None:
    _, runners, cv_dir, manifest = planted_cv
    everyone = set(read_raw_manifest(manifest)["subject_id"])
    for fold in range(3):
        outer = stage_subjects(cv_dir / "views" / "left" / f"fold{fold}")
        test = set(outer["test"])
        for view in ("left", "right"):
            inner_dir = cv_dir / f"fold{fold}" / "inner" / view
            sub = set(read_raw_manifest(inner_dir / "manifest.csv")["subject_id"])
            assert sub == everyone - test and not sub & test
            for j in range(2):
                seen = {s for ids in stage_subjects(inner_dir / f"fold{j}").values() for s in ids}
                assert seen and not seen & test
        training = set(pd.read_csv(cv_dir / f"fold{fold}" / "stacker_train.csv", dtype={"subject": str})["subject"])
        assert training == everyone - test  # the stacker's rows: out-of-fold scores of the outer training subjects
    inner_calls = [c for r in runners.values() for c in r.calls if c["manifest"].startswith(f"{cv_dir}/fold")]
    assert len(inner_calls) == 2 * 3 * 2 and all(len(c["subjects"]) == 16 for c in inner_calls)


def test_stacker_does_not_change_when_outer_test_labels_are_poisoned(planted_cv, tmp_path: Path) -> None:
    _, runners, cv_dir, manifest = planted_cv
    test = set(stage_subjects(cv_dir / "views" / "left" / "fold0")["test"])
    poisoned = read_raw_manifest(manifest)
    poisoned.loc[poisoned["subject_id"].isin(test), "label"] = 1  # every outer test subject now 'depressed'
    poisoned_manifest = tmp_path / "poisoned" / "manifest.csv"
    poisoned_manifest.parent.mkdir()
    poisoned.to_csv(poisoned_manifest, index=False)
    view_dirs = {}
    for view in ("left", "right"):  # the outer runs' test tables with the poisoned labels
        view_dirs[view] = tmp_path / "poisoned" / view
        shutil.copytree(cv_dir / "views" / view / "fold0", view_dirs[view] / "fold0")
        table = pd.read_csv(view_dirs[view] / "fold0" / "predictions_test_subject.csv")
        table["y_true"] = 1
        table.to_csv(view_dirs[view] / "fold0" / "predictions_test_subject.csv", index=False)
    fold = LateFusionFold(planted_views(poisoned_manifest), view_dirs, inner_folds=2, runners=runners)
    fold(["--data.init_args.fold", "0", "--data.init_args.num_folds", "3", "--run.name", "poisoned_fold0",
          "--run.output_dir", str(tmp_path / "poisoned")])
    clean = json.loads((cv_dir / "fold0" / "stacker.json").read_text())["stacker"]
    again = json.loads((tmp_path / "poisoned" / "poisoned_fold0" / "stacker.json").read_text())["stacker"]
    assert again["features"] == clean["features"] and again["intercept"] == clean["intercept"]
    before = pd.read_csv(cv_dir / "fold0" / "predictions_test_subject.csv")
    after = pd.read_csv(tmp_path / "poisoned" / "poisoned_fold0" / "predictions_test_subject.csv")
    assert np.allclose(before["prob_depressed"], after["prob_depressed"]) and (after["y_true"] == 1).all()


def test_leaky_submanifest_and_mismatched_folds_are_refused(planted_cv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, runners, cv_dir, manifest = planted_cv
    view_dirs = {v: cv_dir / "views" / v for v in ("left", "right")}
    args = ["--data.init_args.fold", "0", "--data.init_args.num_folds", "3", "--run.output_dir", str(tmp_path / "x")]
    real = inner_module.write_submanifest
    monkeypatch.setattr(inner_module, "write_submanifest",
                        lambda m, subjects, out: real(m, read_raw_manifest(m)["subject_id"], out))  # every subject
    with pytest.raises(FusionError, match="sub-manifest"):
        LateFusionFold(planted_views(manifest), view_dirs, inner_folds=2, runners=runners)([*args, "--run.name", "leaky"])
    monkeypatch.undo()
    other = PlantedRunner(1, seed=7)  # another data seed: other folds
    other(["--data.init_args.manifest", str(manifest), "--data.init_args.fold", "0", "--data.init_args.num_folds", "3",
           "--run.output_dir", str(tmp_path / "seed7"), "--run.name", "fold0"])
    with pytest.raises(FusionError, match="differ"):
        LateFusionFold(planted_views(manifest), {**view_dirs, "right": tmp_path / "seed7"}, inner_folds=2,
                       runners=runners)([*args, "--run.name", "mismatch"])


def test_planted_score_late_fusion_writes_a_regression_report(tmp_path: Path) -> None:
    manifest = planted_manifest(tmp_path / "data")
    runners = {"left": PlantedRunner(0, score=True), "right": PlantedRunner(1, score=True)}
    summary = late_fusion_cv(planted_views(manifest, score=True), folds=2, root=tmp_path / "runs", inner_folds=2, n_boot=50,
                             runners=runners)
    cv_dir = tmp_path / "runs" / "late_fusion"
    pooled = summary["regression"]["pooled"]["model"]["mae"]["value"]
    views = [json.loads((cv_dir / "views" / v / "report.json").read_text())["regression"]["pooled"]["model"]["mae"]["value"]
             for v in ("left", "right")]
    assert pooled < min(views)
    table = pd.read_csv(cv_dir / "fold1" / "predictions_test_subject.csv")
    assert table.columns.tolist() == ["id", "name", "target", "prediction"] and table["prediction"].between(0, 24).all()
    text = (cv_dir / "report.md").read_text()
    assert "## Regression" in text and "### subject level" in text and "pooled MAE" in text
    record = json.loads((cv_dir / "fold0" / "stacker.json").read_text())
    assert record["kind"] == "score" and record["stacker"]["model"]["name"] == "RidgeCV"


def test_planted_late_fusion_over_seeds_of_a_fixed_split(tmp_path: Path) -> None:
    manifest = planted_manifest(tmp_path / "data")
    table = pd.read_csv(manifest)
    table["split"] = np.where(np.arange(len(table)) < 8, "test", np.where(np.arange(len(table)) < 11, "val", "train"))
    table.to_csv(manifest, index=False)
    runners = {"left": PlantedRunner(0), "right": PlantedRunner(1)}
    views = {v: [*args, "--data.init_args.split", "column"] for v, args in planted_views(manifest).items()}
    summary = late_fusion_cv(views, folds=0, root=tmp_path / "runs", inner_folds=2, n_boot=20, runners=runners, seeds=[0, 1])
    cv_dir = tmp_path / "runs" / "late_fusion"
    assert summary["design"] == "seeds" and summary["levels"]["subject"]["n"] == 8
    for seed in (0, 1):
        record = json.loads((cv_dir / f"seed{seed}" / "stacker.json").read_text())
        assert record["run"] == f"seed{seed}" and record["sizes"]["stacker_train_subjects"] == 16
        inner = cv_dir / f"seed{seed}" / "inner" / "left" / "fold0"
        assert json.loads((inner / "data_report.json").read_text())["split"] == {"method": "kfold", "seed": seed, "fold": 0, "num_folds": 2}
    assert "seed 0" in (cv_dir / "report.md").read_text()


# ---- real training: two AU views of the tiny synthetic data ----------------------------------------------------------
@pytest.mark.slow
def test_tiny_real_late_fusion_cv(tmp_path: Path) -> None:
    from datamodules.synthetic.openface_demo import make_openface_demo

    manifest = make_openface_demo(tmp_path / "data", num_subjects=16, sessions_per_subject=1, frames=(64, 80), effect_size=3.0, seed=1)
    base = ["--config", TINY, "--data.init_args.manifest", str(manifest), "--trainer.max_epochs", "1",
            "--data.init_args.val_fraction", "0.25"]
    views = {"brow": [*base, "--data.init_args.channels", "[AU04_r]"], "smile": [*base, "--data.init_args.channels", "[AU12_r]"]}
    summary = late_fusion_cv(views, folds=2, root=tmp_path / "runs", inner_folds=2, n_boot=50)
    cv_dir = tmp_path / "runs" / "late_fusion"
    assert list(summary["levels"]) == ["subject"] and summary["levels"]["subject"]["n"] == 16
    text = (cv_dir / "report.md").read_text()
    assert "| metric | subject |" in text and "## Late fusion" in text
    for fold in range(2):
        test = set(stage_subjects(cv_dir / "views" / "brow" / f"fold{fold}")["test"])
        for view in views:
            for j in range(2):
                seen = {s for ids in stage_subjects(cv_dir / f"fold{fold}" / "inner" / view / f"fold{j}").values() for s in ids}
                assert seen and not seen & test
        assert (cv_dir / f"fold{fold}" / "stacker.json").is_file()
