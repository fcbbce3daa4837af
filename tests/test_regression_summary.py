"""Pooled regression metrics: values against hand-computed ones, CIs around them, missing tables skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facedep.evaluation.regression_summary import markdown_lines, pooled_from_runs, pooled_regression, regression_metrics


def test_metrics_match_hand_computed_values() -> None:
    m = regression_metrics(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 4.0]))
    assert m["mae"] == 1.0 and abs(m["rmse"] - np.sqrt(5 / 3)) < 1e-12
    assert abs(m["r"] - np.corrcoef([0, 1, 2], [1, 1, 4])[0, 1]) < 1e-12


def test_pooled_ci_brackets_the_value_and_narrows_with_more_rows() -> None:
    rng = np.random.default_rng(0)

    def table(n: int) -> pd.DataFrame:
        target = rng.uniform(0, 4, n)
        return pd.DataFrame({"target": target, "prediction": target + rng.normal(0, 0.5, n)})

    small, large = pooled_regression([table(10), table(10)], n_boot=300), pooled_regression([table(400)], n_boot=300)
    for entry in (small, large):
        assert entry["mae"]["ci_low"] <= entry["mae"]["value"] <= entry["mae"]["ci_high"]
    width = lambda e: e["mae"]["ci_high"] - e["mae"]["ci_low"]  # noqa: E731
    assert small["n"] == 20 and width(large) < width(small)
    assert abs(large["mae"]["value"] - 0.5 * np.sqrt(2 / np.pi)) < 0.05  # E|N(0, 0.5)|


def test_pooled_from_runs_needs_every_fold(tmp_path: Path) -> None:
    paths = []
    for k in range(2):
        frame = pd.DataFrame({"id": [0, 1], "name": [f"a{k}", f"b{k}"], "target": [1.0, 2.0], "prediction": [1.0, 3.0]})
        path = tmp_path / f"s{k}.csv"
        frame.to_csv(path, index=False)
        paths.append({"predictions_test_subject": str(path)})
    pooled = pooled_from_runs(paths, n_boot=20)
    assert list(pooled) == ["subject"] and pooled["subject"]["mae"]["value"] == 0.5
    assert pooled_from_runs([paths[0], {}], n_boot=20) == {}  # a fold without the table: nothing pooled
    assert markdown_lines(pooled)[2].startswith("| subject | 4 | 4 subjects | 0.500 [")


def _write(path: Path, names: list[str], target: list[float], prediction: list[float]) -> dict[str, str]:
    pd.DataFrame({"id": range(len(names)), "name": names, "target": target, "prediction": prediction}).to_csv(path, index=False)
    return str(path)


def test_video_level_ci_resamples_subjects_hand_checked(tmp_path: Path) -> None:
    """Subject a: 3 segments with error 1; subject b: 1 segment with error 0.

    Drawing subjects gives MAE 1 (a, a), 0 (b, b) or 3/4 (a, b), each pair with probability 1/4, so the 95%
    interval is [0, 1]. Drawing the 4 rows independently never reaches 0 at the 2.5th percentile
    (all four rows b: probability 1/256).
    """
    video = _write(tmp_path / "v.csv", ["a#0", "a#1", "a#2", "b#0"], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0])
    pooled = pooled_from_runs([{"predictions_test_video": video}], n_boot=400)["video"]
    assert (pooled["n"], pooled["n_units"], pooled["unit"]) == (4, 2, "subject")
    assert pooled["mae"] == {"value": 0.75, "ci_low": 0.0, "ci_high": 1.0}
    rows = pooled_regression([pd.read_csv(video)], n_boot=400)
    assert rows["unit"] == "row" and rows["mae"]["ci_low"] > 0.0


def test_identical_segments_give_the_subject_level_ci(tmp_path: Path) -> None:
    """Ten identical segments per subject carry no more information than one row per subject: same CI."""
    rng = np.random.default_rng(0)
    target, prediction = rng.uniform(0, 4, 12), rng.uniform(0, 4, 12)
    subjects = [f"s{i}" for i in range(12)]
    subject = _write(tmp_path / "s.csv", subjects, target.tolist(), prediction.tolist())
    video = _write(tmp_path / "v.csv", [f"{s}#{k}" for s in subjects for k in range(10)],
                   np.repeat(target, 10).tolist(), np.repeat(prediction, 10).tolist())
    pooled = pooled_from_runs([{"predictions_test_video": video, "predictions_test_subject": subject}], n_boot=300)
    assert pooled["video"]["n"] == 120 and pooled["subject"]["n"] == 12
    for metric in ("mae", "rmse", "r"):
        assert pooled["video"][metric] == pytest.approx(pooled["subject"][metric]), metric
    rows = pooled_regression([pd.read_csv(video)], n_boot=300)  # rows as if independent: far too narrow
    width = lambda e: e["mae"]["ci_high"] - e["mae"]["ci_low"]  # noqa: E731
    assert width(rows) < width(pooled["subject"]) / 2


def test_video_tables_without_subjects_get_no_ci_and_say_why(tmp_path: Path) -> None:
    video = _write(tmp_path / "v.csv", ["x.csv", "y.csv"], [0.0, 1.0], [1.0, 1.0])
    entry = pooled_from_runs([{"predictions_test_video": video}], n_boot=50)["video"]
    assert entry["mae"] == {"value": 0.5, "ci_low": None, "ci_high": None}
    assert "name no subject" in entry["ci_note"]
    assert "(no CI)" in "\n".join(markdown_lines({"video": entry}))
