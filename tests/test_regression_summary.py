"""Pooled regression metrics: values against hand-computed ones, CIs around them, missing tables skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facedep.regression_summary import markdown_lines, pooled_from_runs, pooled_regression, regression_metrics


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
    frame = pd.DataFrame({"id": [0, 1], "name": ["a", "b"], "target": [1.0, 2.0], "prediction": [1.0, 3.0]})
    paths = []
    for k in range(2):
        path = tmp_path / f"s{k}.csv"
        frame.to_csv(path, index=False)
        paths.append({"predictions_test_subject": str(path)})
    pooled = pooled_from_runs(paths, n_boot=20)
    assert list(pooled) == ["subject"] and pooled["subject"]["mae"]["value"] == 0.5
    assert pooled_from_runs([paths[0], {}], n_boot=20) == {}  # a fold without the table: nothing pooled
    assert markdown_lines(pooled)[2].startswith("| subject | 4 | 0.500 [")
