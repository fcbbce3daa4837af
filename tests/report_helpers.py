"""Shared check of the threshold tests: a run's metrics.json and the report built from its prediction tables agree."""

from __future__ import annotations

import pytest

from facedep.evaluation.predictions import read_level_predictions
from facedep.evaluation.levels import FoldResult
from facedep.evaluation.summary import summarize_folds


def assert_report_matches_metrics_json(result: dict, threshold: float) -> None:
    """The threshold is stored with the predictions, and the report computed from them gives the run's metrics."""
    assert result["decision_threshold"] == pytest.approx(threshold)
    levels = read_level_predictions(result["predictions"])
    for level, table in levels.items():
        assert table.fold_threshold() == pytest.approx(threshold, abs=1e-6), level
    summary = summarize_folds([FoldResult(0, levels)], result["class_names"], n_boot=20)
    for level, info in summary["levels"].items():
        for name in ("macro_f1", "accuracy", "balanced_accuracy"):
            assert info["metrics"][name]["per_fold"][0] == pytest.approx(result["test"][f"test/{level}/{name}"], abs=1e-6), (level, name)
        if "confusion_matrices" in result:
            assert info["confusion"] == result["confusion_matrices"][level], level
