"""Tests of classification metrics, bootstrap CIs and the cross-validation report (no Lightning)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from facedep.evaluation.bootstrap import bootstrap_ci
from facedep.evaluation.classification_metrics import (
    FAST_METRICS,
    METRIC_NAMES,
    accuracy,
    compute_metrics,
    confusion,
    macro_f1,
)
from facedep.evaluation.console import format_metrics_table
from facedep.evaluation.levels import FoldResult, LevelPredictions
from facedep.evaluation.report import write_report
from facedep.evaluation.summary import summarize_folds

CLASSES = ["healthy", "depressed"]
Y_TINY = np.array([0, 0, 1, 1])
P_TINY = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])  # predictions [0, 1, 1, 1]


def _noisy_probs(y: np.ndarray, k: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities leaning towards the true class, rows summing to 1."""
    logits = 2.0 * np.eye(k)[y] + rng.normal(0, noise, (len(y), k))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _make_folds(k: int = 2, n_folds: int = 3, seed: int = 0, subjects_per_fold: int = 10) -> list[FoldResult]:
    """Synthetic CV: per fold, subjects with 2 videos each and 3 windows per video."""
    rng = np.random.default_rng(seed)
    folds = []
    for f in range(n_folds):
        y_subj = np.arange(subjects_per_fold) % k
        subj_ids = [f"f{f}_s{i}" for i in range(subjects_per_fold)]
        y_vid = np.repeat(y_subj, 2)
        y_win = np.repeat(y_vid, 3)
        preds = {
            "window": LevelPredictions([str(i) for i in range(len(y_win))], y_win, _noisy_probs(y_win, k, 1.5, rng)),
            "video": LevelPredictions([f"{s}/v{j}.csv" for s in subj_ids for j in range(2)], y_vid,
                                      _noisy_probs(y_vid, k, 1.2, rng)),
            "subject": LevelPredictions(subj_ids, y_subj, _noisy_probs(y_subj, k, 1.0, rng)),
        }
        folds.append(FoldResult(f, preds, metrics={"test/subject/macro_f1": float(rng.uniform(0.5, 0.9))}))
    return folds


# ------------------------------------------------------------------------------------------ metrics


def test_metrics_hand_computed() -> None:
    m = compute_metrics(Y_TINY, P_TINY, 2, class_names=CLASSES)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["f1_healthy"] == pytest.approx(2 / 3)
    assert m["f1_depressed"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)  # 0.7333
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["macro_precision"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert m["macro_recall"] == pytest.approx(0.75)
    assert m["auroc"] == pytest.approx(1.0)
    assert set(METRIC_NAMES) <= set(m)


def test_threshold_and_confusion() -> None:
    m = compute_metrics(Y_TINY, P_TINY, 2, threshold=0.65)  # predictions [0, 0, 1, 1]
    assert m["accuracy"] == 1.0
    assert confusion(Y_TINY, np.array([0, 1, 1, 1]), 2).tolist() == [[1, 1], [0, 2]]
    with pytest.raises(ValueError):
        compute_metrics(np.array([0, 1, 2]), np.eye(3), 3, threshold=0.5)


def test_auroc_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 50)
    p = _noisy_probs(y, 2, 2.0, rng)
    assert compute_metrics(y, p, 2)["auroc"] == pytest.approx(roc_auc_score(y, p[:, 1]))
    y3 = rng.integers(0, 3, 60)
    p3 = _noisy_probs(y3, 3, 2.0, rng)
    expected = roc_auc_score(y3, p3, multi_class="ovr", average="macro")
    assert compute_metrics(y3, p3, 3)["auroc"] == pytest.approx(expected)


def test_single_class_auroc_is_nan() -> None:
    y = np.array([1, 1, 1])
    p = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = compute_metrics(y, p, 2)
    assert np.isnan(m["auroc"])
    assert np.isnan(FAST_METRICS["auroc"](y, p))
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_fast_metrics_match_sklearn_versions() -> None:
    rng = np.random.default_rng(4)
    for k in (2, 3):
        y = rng.integers(0, k, 40)
        p = _noisy_probs(y, k, 2.5, rng)
        ref = compute_metrics(y, p, k)
        for name, fn in FAST_METRICS.items():
            assert fn(y, p) == pytest.approx(ref[name]), (k, name)
        assert macro_f1(y, p) == pytest.approx(f1_score(y, p.argmax(1), average="macro"))


# ------------------------------------------------------------------------------------------ bootstrap


def test_bootstrap_contains_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 60)
    p = _noisy_probs(y, 2, 2.0, rng)
    est, lo, hi = bootstrap_ci(y, p, macro_f1, seed=1)
    assert est == pytest.approx(macro_f1(y, p))
    assert lo <= est <= hi and lo < hi
    assert bootstrap_ci(y, p, macro_f1, seed=1) == (est, lo, hi)
    assert bootstrap_ci(y, p, macro_f1, seed=2) != (est, lo, hi)


def test_bootstrap_narrows_with_more_samples() -> None:
    rng = np.random.default_rng(6)
    widths = []
    for n in (30, 600):
        y = np.arange(n) % 2
        p = _noisy_probs(y, 2, 2.0, rng)
        _, lo, hi = bootstrap_ci(y, p, accuracy, n_boot=500)
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_bootstrap_perfect_predictions_and_nan_resamples() -> None:
    y = np.array([0, 1] * 10)
    p = np.eye(2)[y]
    for fn in FAST_METRICS.values():
        assert bootstrap_ci(y, p, fn, n_boot=200) == (1.0, 1.0, 1.0)
    # Unstratified resamples of a tiny set sometimes hold one class: NaN AUROCs are skipped.
    est, lo, hi = bootstrap_ci(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9]]),
                               FAST_METRICS["auroc"], n_boot=200, stratified=False)
    assert (est, lo, hi) == (1.0, 1.0, 1.0)


def test_bootstrap_speed() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 60)
    p = _noisy_probs(y, 2, 2.0, rng)
    start = time.perf_counter()
    for fn in FAST_METRICS.values():
        bootstrap_ci(y, p, fn, n_boot=1000)
    assert time.perf_counter() - start < 2.0


# ------------------------------------------------------------------------------------------ report


def test_summarize_folds_mean_std() -> None:
    folds = _make_folds()
    s = summarize_folds(folds, CLASSES, n_boot=200)
    assert s["folds"] == [0, 1, 2]
    assert s["metric_names"][0] == "macro_f1"
    for level in ("window", "video", "subject"):
        per_fold = [compute_metrics(f.predictions[level].y_true, f.predictions[level].probs, 2)["macro_f1"]
                    for f in folds]
        entry = s["levels"][level]["metrics"]["macro_f1"]
        assert entry["per_fold"] == pytest.approx(per_fold)
        assert entry["mean"] == pytest.approx(np.mean(per_fold))
        assert entry["std"] == pytest.approx(np.std(per_fold, ddof=1))
    subj = s["levels"]["subject"]
    assert subj["counts"]["pooled"] == {"healthy": 15, "depressed": 15}
    assert subj["counts"]["per_fold"][0] == {"healthy": 5, "depressed": 5}
    assert s["levels"]["window"]["n"] == 180
    assert np.sum(subj["confusion"]) == 30
    pooled = subj["pooled"]
    assert pooled["n"] == 30
    for name in ("macro_f1", "accuracy", "balanced_accuracy", "auroc"):
        e = pooled["metrics"][name]
        assert e["ci_low"] <= e["value"] <= e["ci_high"]
    assert "ci_low" not in pooled["metrics"]["macro_precision"]
    assert s["trainer_metrics"]["test/subject/macro_f1"]["mean"] == pytest.approx(
        np.mean([f.metrics["test/subject/macro_f1"] for f in folds]))
    json.dumps(s, allow_nan=False)  # strictly JSON-able


def test_summarize_single_fold_and_nan() -> None:
    p = LevelPredictions(["a", "b"], [1, 1], [[0.3, 0.7], [0.6, 0.4]])
    s = summarize_folds([FoldResult(0, {"subject": p})], CLASSES, n_boot=50)
    m = s["levels"]["subject"]["metrics"]
    assert m["accuracy"]["std"] == 0.0
    assert m["auroc"] == {"per_fold": [None], "mean": None, "std": None, "n_valid": 0}
    json.dumps(s, allow_nan=False)


def test_write_report(tmp_path: Path) -> None:
    folds = _make_folds()
    s = summarize_folds(folds, CLASSES, n_boot=200)
    paths = write_report(s, folds, CLASSES, tmp_path / "report", title="CV test", config_text="model:\n  lr: 0.001\n")
    expected = {"json", "markdown"} | {f"{kind}_{lv}" for kind in ("confusion", "roc")
                                        for lv in ("window", "video", "subject")}
    assert set(paths) == expected
    assert all(p.exists() for p in paths.values())
    assert json.loads(paths["json"].read_text()) == s
    md = paths["markdown"].read_text()
    assert md.startswith("# CV test")
    assert "±" in md and "<details>" in md and "lr: 0.001" in md
    for level in ("window", "video", "subject"):
        assert level in md
        assert f"confusion_{level}.png" in md and f"roc_{level}.png" in md
    assert md.index("| macro_f1") < md.index("| accuracy")
    for key, path in paths.items():
        if path.suffix == ".png":
            img = mpimg.imread(path)
            assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100 and img.shape[2] in (3, 4), key
    table = format_metrics_table(s)
    assert "macro_f1" in table and "±" in table and "subject pooled" in table


def test_three_classes(tmp_path: Path) -> None:
    names = ["none", "mild", "severe"]
    folds = _make_folds(k=3, n_folds=3, subjects_per_fold=9)
    s = summarize_folds(folds, names, n_boot=100)
    assert np.array(s["levels"]["subject"]["confusion"]).shape == (3, 3)
    assert "f1_severe" in s["levels"]["video"]["metrics"]
    pooled = s["levels"]["subject"]["pooled"]["metrics"]["auroc"]
    assert 0.0 <= pooled["ci_low"] <= pooled["value"] <= pooled["ci_high"] <= 1.0
    paths = write_report(s, folds, names, tmp_path)
    assert {"roc_subject", "confusion_subject"} <= set(paths)
    assert mpimg.imread(paths["roc_subject"]).ndim == 3
