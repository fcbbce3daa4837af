"""Regression CV report: mean ± std, pooled CCC and the mean baseline against hand-computed values on tiny
hand-written prediction tables; seeds count each subject once; the plots exist; W&B gets tables and images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facedep.evaluation.regression_markdown import regression_markdown
from facedep.evaluation.regression_plots import bland_altman, write_regression_plots
from facedep.evaluation.regression_report import (
    RunTable, fast_metrics, pooled_subject_metrics, read_run_table, regression_report,
)
from facedep.evaluation.regression_summary import pooled_regression, regression_metrics
from facedep.experiment.cv_tracking import regression_flat, summary_tables

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")

# fold 0: subjects a, b (training mean 15); fold 1: subjects c, d (training mean 12)
FOLDS = [
    {"names": ["a", "b"], "target": [10.0, 20.0], "prediction": [12.0, 18.0], "mean": 15.0},
    {"names": ["c", "d"], "target": [5.0, 15.0], "prediction": [6.0, 19.0], "mean": 12.0},
]


def _run(folder: Path, run: int, names: list[str], target: list[float], prediction: list[float], mean: float | None) -> dict:
    """A regression run's metrics.json content with its subject table (logged metrics computed from the table)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "predictions_test_subject.csv"
    pd.DataFrame({"id": range(len(names)), "name": names, "target": target, "prediction": prediction}).to_csv(path, index=False)
    t, p = np.array(target), np.array(prediction)
    m = fast_metrics(t, p)
    test = {f"test/subject/{k}": v for k, v in m.items()}
    test["test/subject/accuracy"] = float(np.mean((t >= 10) == (p >= 10)))
    if mean is not None:
        test.update({"test/subject/baseline_mae": float(np.abs(t - mean).mean()),
                     "test/subject/baseline_rmse": float(np.sqrt(((t - mean) ** 2).mean())), "test/subject/baseline_ccc": 0.0})
    return {"run_dir": str(folder), "class_names": ["score"], "test": test,
            "target": {"name": "score", "mean": mean, "std": 5.0, "low": 0.0, "high": 24.0, "threshold": 10.0},
            "predictions": {"predictions_test_subject": str(path)}}


def _folds(tmp_path: Path) -> list[dict]:
    return [_run(tmp_path / f"fold{k}", k, f["names"], f["target"], f["prediction"], f["mean"]) for k, f in enumerate(FOLDS)]


def test_fast_metrics_match_the_regressor_definitions() -> None:
    rng = np.random.default_rng(0)
    t, p = rng.uniform(0, 24, 30), rng.uniform(0, 24, 30)
    ours, theirs = fast_metrics(t, p), regression_metrics(t, p)
    for k in ("mae", "rmse", "ccc", "r"):
        assert ours[k] == pytest.approx(theirs[k], rel=1e-9), k
    assert np.isnan(fast_metrics(t, np.full(30, 3.0))["r"])


def test_mean_std_pooled_ccc_and_baseline_are_the_hand_computed_ones(tmp_path: Path) -> None:
    entry, tables = regression_report(_folds(tmp_path), [0, 1], "folds", n_boot=200)
    subject = entry["metrics"]["subject"]
    # fold MAEs 2 (errors 2, -2) and 2.5 (errors 1, 4)
    assert subject["mae"]["per_fold"] == [2.0, 2.5] and subject["mae"]["mean"] == 2.25
    assert subject["mae"]["std"] == pytest.approx(np.sqrt(0.125))
    assert subject["baseline_mae"]["mean"] == 5.0  # |10-15|, |20-15|; |5-12|, |15-12|
    assert subject["accuracy"]["per_fold"] == [1.0, 1.0] and "auroc" not in subject
    pooled = entry["pooled"]
    assert (pooled["n"], pooled["n_subjects"], pooled["runs"]) == (4, 4, 1)
    model = pooled["model"]
    assert model["mae"]["value"] == 2.25 and model["rmse"]["value"] == 2.5  # errors 2, -2, 1, 4
    # CCC by hand: means 13.75 / 12.5, var_p 27.1875, var_t 31.25, cov 26.875 -> 2 * 26.875 / (27.1875 + 31.25 + 1.25²)
    assert model["ccc"]["value"] == pytest.approx(53.75 / 60.0, abs=1e-6)
    assert model["r"]["value"] == pytest.approx(np.corrcoef([10, 20, 5, 15], [12, 18, 6, 19])[0, 1], abs=1e-6)
    # baseline predicts 15, 15, 12, 12: errors 5, 5, 7, 3
    assert pooled["baseline"]["mae"]["value"] == 5.0 and pooled["baseline"]["rmse"]["value"] == pytest.approx(np.sqrt(27), abs=1e-6)
    assert pooled["mae_minus_baseline"]["value"] == -2.75
    for e in (model["mae"], model["ccc"], pooled["baseline"]["mae"], pooled["mae_minus_baseline"]):
        assert e["ci_low"] <= e["value"] <= e["ci_high"]
    assert [t.run for t in tables] == [0, 1]
    text = "\n".join(regression_markdown(entry))
    model_row, baseline_row = [line for line in text.splitlines() if line.startswith(("| model", "| mean baseline"))][:2]
    assert model_row.startswith("| model | 2.250 ± 0.354 |") and baseline_row.startswith("| mean baseline | 5.000 ± 0.000 |")
    assert "| mean baseline | 5.000 [" in text and "-2.750 [" in text


def test_seeds_count_each_subject_once(tmp_path: Path) -> None:
    """Three seeds with the same predictions carry no more information than one: the seeds' CI is the single
    seed's CI, while pooling the 3 x 6 rows as if independent (the wrong pooling) gives a narrower one."""
    rng = np.random.default_rng(1)
    names = [f"s{i}" for i in range(6)]
    target, prediction = rng.uniform(0, 24, 6), rng.uniform(0, 24, 6)
    order = [5, 3, 1, 0, 2, 4]  # every seed writes its rows in its own order
    seeds = [RunTable(s, np.array(names)[order], target[order], prediction[order], 11.0) for s in range(3)]
    one = pooled_subject_metrics([RunTable(0, np.array(names), target, prediction, 11.0)], "seeds", n_boot=300)
    three = pooled_subject_metrics(seeds, "seeds", n_boot=300)
    assert three["n_subjects"] == 6 and three["runs"] == 3
    assert three["model"] == one["model"] and three["baseline"] == one["baseline"]
    wrong = pooled_regression([pd.DataFrame({"target": t.target, "prediction": t.prediction}) for t in seeds], n_boot=300)
    width = lambda e: e["ci_high"] - e["ci_low"]  # noqa: E731
    assert wrong["n"] == 18 and width(wrong["mae"]) < 0.8 * width(three["model"]["mae"])
    with pytest.raises(ValueError, match="more than one fold"):  # the seeds' tables are not disjoint folds
        pooled_subject_metrics(seeds, "folds", n_boot=10)


def test_seeds_average_the_metric_over_seeds_on_the_same_subjects() -> None:
    names, target = np.array(["a", "b"]), np.array([0.0, 10.0])
    seeds = [RunTable(0, names, target, np.array([1.0, 10.0]), 5.0), RunTable(1, names[::-1], target[::-1], np.array([13.0, 0.0]), 5.0)]
    pooled = pooled_subject_metrics(seeds, "seeds", n_boot=0)
    assert pooled["model"]["mae"]["value"] == pytest.approx((0.5 + 1.5) / 2)  # seed 0: 1, 0; seed 1: 0, 3
    assert pooled["model"]["mae"]["ci_low"] is None
    changed = [seeds[0], RunTable(1, names, np.array([0.0, 9.0]), np.array([0.0, 9.0]), 5.0)]
    with pytest.raises(ValueError, match="different targets"):
        pooled_subject_metrics(changed, "seeds", n_boot=0)
    with pytest.raises(ValueError, match="tested different subjects"):
        pooled_subject_metrics([seeds[0], RunTable(1, np.array(["a", "z"]), target, target, 5.0)], "seeds", n_boot=0)


def test_no_training_mean_no_baseline_and_says_why(tmp_path: Path) -> None:
    runs = [_run(tmp_path / "f0", 0, ["a", "b"], [1.0, 2.0], [1.0, 3.0], None)]
    entry, _ = regression_report(runs, [0], n_boot=20)
    assert "baseline" not in entry["pooled"] and "training mean" in entry["pooled"]["baseline_note"]
    assert "no mean baseline" in "\n".join(regression_markdown(entry))


def test_a_table_without_prediction_is_named(tmp_path: Path) -> None:
    from datamodules.io.au_table import DataFormatError

    path = tmp_path / "predictions_test_subject.csv"
    pd.DataFrame({"id": [0], "name": ["a"], "target": [1.0]}).to_csv(path, index=False)
    with pytest.raises(DataFormatError, match=r"predictions_test_subject.csv.*prediction"):
        read_run_table({"predictions": {"predictions_test_subject": str(path)}}, 0)
    assert regression_report([{"predictions": {}}], [0]) is None


def test_plots_are_written(tmp_path: Path) -> None:
    _, tables = regression_report(_folds(tmp_path), [0, 1], n_boot=0)
    for design in ("folds", "seeds"):
        runs = tables if design == "folds" else [tables[0], RunTable(1, tables[0].names, tables[0].target, tables[0].prediction + 1, 15.0)]
        paths = write_regression_plots(runs, tmp_path / design, design)
        assert sorted(paths) == ["regression_bland_altman", "regression_scatter"]
        for path in paths.values():
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    limits = bland_altman(np.array([10.0, 20.0, 5.0, 15.0]), np.array([12.0, 18.0, 6.0, 19.0]))
    diff = np.array([2.0, -2.0, 1.0, 4.0])
    assert limits["bias"] == 1.25 and limits["high"] == pytest.approx(1.25 + 1.96 * diff.std(ddof=1))


def test_cross_validate_writes_the_regression_report_and_logs_it(demo_manifest: Path, tmp_path: Path) -> None:
    """cross_validate with a regression fold runner: report.md / report.json / PNGs, and a W&B offline run."""
    from facedep.experiment.cross_validate import cross_validate

    def runner(args: list[str]) -> dict:
        fold = int(args[args.index("--data.init_args.fold") + 1])
        f = FOLDS[fold]
        return _run(tmp_path / "folds" / f"fold{fold}", fold, f["names"], f["target"], f["prediction"], f["mean"])

    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path), "--run.name", "reg",
                 "--tracking.wandb", "offline"]
    summary = cross_validate(TINY, 2, overrides, n_boot=50, runner=runner)
    cv = tmp_path / "reg"
    assert summary["regression"]["pooled"]["model"]["mae"]["value"] == 2.25
    assert summary["pooled_regression"]["subject"]["ccc"]["value"] == pytest.approx(53.75 / 60.0, abs=1e-6)
    report = json.loads((cv / "report.json").read_text())
    assert report["regression"]["pooled"]["baseline"]["mae"]["value"] == 5.0
    md = (cv / "report.md").read_text()
    assert "## Regression" in md and "| mean baseline | 5.000 ± 0.000 |" in md
    assert "(regression_scatter.png)" in md and "(regression_bland_altman.png)" in md
    assert (cv / "regression_scatter.png").stat().st_size > 0 and (cv / "regression_bland_altman.png").stat().st_size > 0
    tables = summary_tables(summary)
    assert set(tables["cv/regression_pooled"]["row"]) == {"model", "mean baseline", "model - baseline"}
    assert regression_flat(summary)["cv/subject/baseline_mae_mean"] == 5.0
    logged = list((cv / "wandb").glob("offline-run-*/files/media/images/*.png"))
    assert {p.name.split("_")[0] + "_" + p.name.split("_")[1] for p in logged} >= {"regression_scatter", "regression_bland"}


def test_cross_validate_over_seeds_never_pools_the_seeds_rows(demo_manifest: Path, tmp_path: Path) -> None:
    """--seeds on a fixed split: the regression entry counts each of the 4 test subjects once (mean over seeds),
    and no row-pooled table (pooled_regression) is made from the seeds' repeated rows."""
    from facedep.experiment.cross_validate import cross_validate

    table = pd.read_csv(demo_manifest)
    table["path"] = [str((demo_manifest.parent / p).resolve()) for p in table["path"]]
    subjects = sorted(table["subject_id"].unique())
    table["split"] = table["subject_id"].map({s: ("test" if i < 4 else "val" if i < 6 else "train") for i, s in enumerate(subjects)})
    manifest = tmp_path / "column.csv"
    table.to_csv(manifest, index=False)
    target = np.array([2.0, 8.0, 12.0, 20.0])

    def runner(args: list[str]) -> dict:
        seed = int(args[args.index("--seed_everything") + 1])
        order = np.roll(np.arange(4), seed)
        prediction = target + np.array([1.0, -1.0, 2.0, 0.0]) * (seed + 1)
        return _run(tmp_path / f"seed{seed}", seed, [subjects[i] for i in order], target[order].tolist(),
                    prediction[order].tolist(), 10.0)

    overrides = ["--data.init_args.manifest", str(manifest), "--data.init_args.split", "column",
                 "--run.output_dir", str(tmp_path), "--run.name", "seeds"]
    summary = cross_validate(TINY, 5, overrides, n_boot=40, runner=runner, seeds=[0, 1, 2])
    pooled = summary["regression"]["pooled"]
    assert (pooled["n"], pooled["n_subjects"], pooled["runs"]) == (4, 4, 3) and "pooled_regression" not in summary
    assert pooled["model"]["mae"]["value"] == pytest.approx(np.mean([1.0 * k for k in (1, 2, 3)]))  # mean |error| 1 x (seed + 1)
    assert pooled["baseline"]["mae"]["value"] == 5.5  # (|2-10| + |8-10| + |12-10| + |20-10|) / 4
    md = (tmp_path / "seeds" / "report.md").read_text()
    assert "mean over 3 seeds on the same subjects" in md and "(regression_bland_altman.png)" in md
