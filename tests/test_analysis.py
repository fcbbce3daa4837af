"""Tests of the AU analysis: statistics against scipy, expressivity, PCA/clustering, and the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score, silhouette_score

from facedep.analysis.clustering import cluster_feature_set, pca_reduce, summary_features
from facedep.analysis.expressivity import EMOTION_AUS, expressivity, missing_aus, missing_notes
from facedep.analysis.group_stats import (
    benjamini_hochberg,
    cohens_d,
    compare_groups,
    group_curves,
    rank_biserial,
    resolve_groups,
    unit_means,
)
from facedep.analysis.loading import load_frames
from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError

# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------


def _frames_from_subjects(values: dict[str, list[float]], groups: dict[str, str]) -> pd.DataFrame:
    """A frame table: subject s has frames with the listed values of feature ``x``."""
    rows = [{"subject_id": s, "label": 0, "group": groups[s], "x": v} for s, vals in values.items() for v in vals]
    return pd.DataFrame(rows)


def test_subject_level_means_weigh_subjects_equally() -> None:
    # h1 has 100 frames of 1.0, h2 has 2 frames of 3.0: subject means 1 and 3, not a frame mean near 1.04.
    values = {"h1": [1.0] * 100, "h2": [3.0, 3.0], "h3": [2.0] * 5, "d1": [4.0] * 7, "d2": [6.0, 6.0, 6.0], "d3": [5.0]}
    groups = {s: ("healthy" if s.startswith("h") else "depressed") for s in values}
    units = unit_means(_frames_from_subjects(values, groups), ["x"])
    assert units.loc["h1", "n_frames"] == 100 and units.loc["h2", "x"] == 3.0
    row = compare_groups(units, ["x"], "group", "healthy", "depressed").iloc[0]
    a, b = np.array([1.0, 3.0, 2.0]), np.array([4.0, 6.0, 5.0])
    assert row["mean_a"] == pytest.approx(2.0) and row["mean_b"] == pytest.approx(5.0)
    t = stats.ttest_ind(b, a, equal_var=False)
    u = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert row["t"] == pytest.approx(t.statistic) and row["p_t"] == pytest.approx(t.pvalue)
    assert row["U"] == pytest.approx(u.statistic) and row["p_u"] == pytest.approx(u.pvalue)
    assert (row["n_a"], row["n_b"]) == (3, 3)
    # a frame-level test would see n = 107 and 11 frames and a different t
    frames = _frames_from_subjects(values, groups)
    frame_t = stats.ttest_ind(frames.loc[frames.group == "depressed", "x"], frames.loc[frames.group == "healthy", "x"],
                              equal_var=False).statistic
    assert abs(frame_t - row["t"]) > 1.0


def test_cohens_d_and_rank_biserial_by_hand() -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 5.0, 7.0])
    # pooled SD: var_a = 5/3, var_b = 4 -> sqrt((3 * 5/3 + 2 * 4) / 5) = sqrt(13/5)
    assert cohens_d(a, b) == pytest.approx((5.0 - 2.5) / np.sqrt(13 / 5))
    assert cohens_d(b, a) == pytest.approx(-cohens_d(a, b))
    # U of a: pairs with a > b (4 > 3) plus half the ties (3 = 3) -> 1.5; r = 1 - 2 * 1.5 / 12 = 0.75
    u = stats.mannwhitneyu(a, b).statistic
    assert u == pytest.approx(1.5)
    assert rank_biserial(u, 4, 3) == pytest.approx(0.75)
    units = pd.DataFrame({"x": np.r_[a, b], "group": ["a"] * 4 + ["b"] * 3})
    row = compare_groups(units, ["x"], "group", "a", "b").iloc[0]
    assert row["d"] > 0 and row["r_rb"] > 0 and row["t"] > 0  # positive = group B higher


def test_benjamini_hochberg_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    for p in (rng.uniform(size=40), np.r_[rng.uniform(0, 0.01, 5), rng.uniform(size=10)], np.array([0.2, 0.2, 0.01])):
        np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p), rtol=1e-12)
    q = benjamini_hochberg([0.01, np.nan, 0.02])
    assert np.isnan(q[1]) and q[[0, 2]] == pytest.approx([0.02, 0.02])


def test_constant_feature_gives_nan_not_error() -> None:
    units = pd.DataFrame({"x": [0.0] * 6, "y": [1.0, 2, 3, 4, 5, 6], "group": ["a"] * 3 + ["b"] * 3})
    table = compare_groups(units, ["x", "y"], "group", "a", "b")
    assert np.isnan(table.loc[0, "p_t"]) and np.isnan(table.loc[0, "q_t"])
    assert table.loc[1, "q_t"] == pytest.approx(table.loc[1, "p_t"])  # m = 1 defined p-value


def test_resolve_groups() -> None:
    assert resolve_groups(["healthy", "depressed"]) == (["healthy"], ["depressed"])
    assert resolve_groups(["h", "mi", "mo", "s"], ["h,mi", "s"]) == (["h", "mi"], ["s"])
    with pytest.raises(ValueError, match="unknown class"):
        resolve_groups(["h", "d"], ["h", "x"])


def test_group_curves_average_videos_then_subjects() -> None:
    # subject s1 has two videos (bin means 1 and 3 -> 2), s2 one (bin mean 4); both in group g
    frames = pd.DataFrame({
        "video": [0, 0, 1, 2, 2], "subject_id": ["s1", "s1", "s1", "s2", "s2"], "group": ["g"] * 5,
        "t": [0.1, 0.2, 0.1, 0.0, 0.3], "x": [0.0, 2.0, 3.0, 4.0, 4.0],
    })
    curves = group_curves(frames, ["x"], bins=2)
    first = curves[curves["bin"] == 0].iloc[0]
    assert first["mean"] == pytest.approx(3.0) and first["std"] == pytest.approx(np.std([2.0, 4.0], ddof=1))
    assert first["n"] == 2 and first["t"] == pytest.approx(0.25)


# --------------------------------------------------------------------------------------------
# expressivity
# --------------------------------------------------------------------------------------------


def test_expressivity_sums_and_missing_terms() -> None:
    frame = {c: [0.0, 0.0] for c in ALL_AU_COLUMNS}
    frame.update({"AU01_r": [1.0, 0.5], "AU02_r": [0.5, 0.0], "AU04_r": [2.0, 0.0], "AU05_r": [0.25, 0.0],
                  "AU06_r": [3.0, 1.0], "AU12_r": [1.0, 1.0], "AU15_r": [1.0, 0.0], "AU20_r": [0.5, 0.0],
                  "AU26_r": [0.5, 0.0], "AU28_c": [1.0, 0.0], "AU09_r": [2.0, 0.0], "AU07_r": [1.0, 0.0],
                  "AU23_r": [0.5, 0.0], "AU28_r_fake": [9.0, 9.0]})
    expr = expressivity(pd.DataFrame(frame))
    assert expr.loc[0].to_dict() == pytest.approx({
        "happiness": 4.0, "sadness": 4.0, "surprise": 2.25,
        "fear": 1.0 + 0.5 + 2.0 + 0.25 + 0.5 + 0.5 + 1.0,  # includes the AU28 presence term
        "disgust": 3.0, "anger": 3.75,
    })
    assert expr.loc[1, "fear"] == pytest.approx(0.5) and expr.loc[1, "happiness"] == pytest.approx(2.0)
    assert "AU28_c" in EMOTION_AUS["fear"]
    missing = missing_aus(ALL_AU_COLUMNS)
    assert missing["disgust"] == ["AU16_r"] and all(not v for k, v in missing.items() if k != "disgust")
    assert any("AU16" in line and "OpenFace" in line for line in missing_notes(ALL_AU_COLUMNS))
    # DAIC-WOZ-like data without AU07/AU23 intensities: anger is AU04 + AU05 only, and says so
    no_anger = [c for c in ALL_AU_COLUMNS if c not in ("AU07_r", "AU23_r")]
    assert missing_aus(no_anger)["anger"] == ["AU07_r", "AU23_r"]
    values = pd.DataFrame(frame)[no_anger].to_numpy()
    assert expressivity(values, no_anger).loc[0, "anger"] == pytest.approx(2.25)
    assert np.isnan(expressivity(np.zeros((1, 1)), ["AU45_r"]).loc[0, "happiness"])


# --------------------------------------------------------------------------------------------
# PCA and clustering
# --------------------------------------------------------------------------------------------


def test_pca_component_count_on_known_rank() -> None:
    rng = np.random.default_rng(0)
    z = np.linalg.qr(rng.normal(size=(80, 4)) - 0.0)[0]
    z = (z - z.mean(0)) / z.std(0)  # 4 standardised, nearly uncorrelated directions
    x = np.hstack([z, z, z])  # 12 columns of rank 4
    result = pca_reduce(x, 0.95)
    assert result.n_components == int(np.searchsorted(np.cumsum(result.explained_ratio), 0.95, side="right") + 1)
    assert result.n_components <= 4 and result.explained >= 0.95
    assert result.explained_ratio[4:].sum() == pytest.approx(0.0, abs=1e-10)
    y = np.hstack([np.linalg.qr(rng.normal(size=(50, 3)))[0]] * 2)  # exactly equal variances: needs all 3
    assert pca_reduce(y).n_components == 3


def test_clustering_scores_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(0, 1, (15, 5)), rng.normal(4, 1, (15, 5))])
    truth = np.array(["h"] * 15 + ["d"] * 15)
    result = cluster_feature_set(pd.DataFrame(x), truth, k=2, seed=0, name="toy")
    assert set(result.table["method"]) == {"kmeans", "agglomerative", "gmm"}
    for method, labels in result.labels.items():
        row = result.table[result.table["method"] == method].iloc[0]
        assert row["silhouette"] == pytest.approx(silhouette_score(result.pca.scores, labels))
        assert row["ari"] == pytest.approx(adjusted_rand_score(truth, labels))
        assert row["ari"] > 0.9


def test_summary_features_names() -> None:
    f = pd.DataFrame({"subject_id": ["a", "a", "b"], "x": [1.0, 3.0, 5.0], "y": [0.0, 0.0, 1.0]})
    table = summary_features(f, ["x", "y"])
    assert list(table.columns) == ["x:mean", "x:std", "y:mean", "y:std"] and table.loc["a", "x:mean"] == 2.0


# --------------------------------------------------------------------------------------------
# loading and the CLI
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openface_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datamodules.synthetic.openface_demo import make_openface_demo

    return make_openface_demo(tmp_path_factory.mktemp("ana"), num_subjects=16, frames=(100, 150), effect_size=2.0)


def test_loading_frames_time_and_labels(openface_demo: Path, tmp_path: Path) -> None:
    data = load_frames(openface_demo, ["0", "1"], ["healthy", "depressed"], cache=None)
    f = data.frames
    assert data.channels == list(ALL_AU_COLUMNS) and data.has_time and data.subject_level
    assert f["t"].between(0, 1).all() and f.groupby("video")["t"].max().max() <= 1.0
    assert set(f["group"].astype(str)) == {"healthy", "depressed"}
    assert data.drops["kept"] == len(f) and data.drops["frames"] > data.drops["kept"]  # failed bursts dropped
    bad = pd.read_csv(openface_demo).assign(label=lambda d: d["label"].replace({1: 2}))
    bad_path = openface_demo.parent / "bad_manifest.csv"
    bad.to_csv(bad_path, index=False)
    with pytest.raises(DataFormatError, match="not one of the configured classes"):
        load_frames(bad_path, ["0", "1"], ["healthy", "depressed"], cache=None)


def test_cli_end_to_end_on_demo(openface_demo: Path, tmp_path: Path) -> None:
    from facedep.analysis.cli import main

    out = tmp_path / "analysis"
    assert main(["--manifest", str(openface_demo), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    for name in ("report.md", "results.json", "group_effects.png", "curves_aus.png", "curves_emotions.png",
                 "pca_scree.png", "clusters_pca.png", "dist_intensity.png", "dist_presence.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    tests = pd.DataFrame(results["group_tests"]).set_index("feature")
    hits = tests.loc[["AU04_r", "AU15_r"]]
    assert (hits["q_t"] < 0.05).any() and (hits["d"] > 0).all() and (hits["r_rb"] > 0).all()  # depressed higher
    assert tests.loc["AU12_r", "d"] < 0
    assert results["comparison"]["n_a"] == results["comparison"]["n_b"] == 8
    assert results["missing_aus"]["disgust"] == ["AU16_r"]
    report = (out / "report.md").read_text()
    assert "AU16" in report and "| feature | n_a | n_b |" in report and "silhouette" in report
    assert len(results["clustering"]) == 3 * 8  # 3 methods x (all_aus, emotions, 6 emotions)


def _severity_csv(path: Path, n_per_class: int = 12, with_person: bool = True) -> Path:
    """A tiny AU severity CSV: 4 classes, AU04 rising with severity, 3 persons per class."""
    rng = np.random.default_rng(0)
    rows = []
    for label in range(4):
        for i in range(n_per_class):
            row = {c: (rng.uniform(0, 1) if c.endswith("_r") else float(rng.integers(0, 2))) for c in ALL_AU_COLUMNS}
            row["AU04_r"] = label + rng.uniform(0, 0.5)
            row["label"] = label
            if with_person:
                row["person"] = f"p{label}_{i % 3}"
            rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _severity_manifest(tmp_path: Path, with_person: bool) -> Path:
    from datamodules.make_manifest import main as make_manifest

    csv = _severity_csv(tmp_path / "AU_features.csv", with_person=with_person)
    manifest = tmp_path / "sev.csv"
    extra = ["--group-column", "person"] if with_person else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert make_manifest(["--format", "au-severity-csv", str(csv), "--out", str(manifest), *extra]) == 0
    return manifest


def test_severity_with_subjects_is_subject_level(tmp_path: Path) -> None:
    data = load_frames(_severity_manifest(tmp_path, True), [0, 1, 2, 3], ["h", "mi", "mo", "s"])
    assert data.source_format == "au-severity" and data.subject_level and not data.has_time
    units = unit_means(data.frames, ["AU04_r"])
    assert len(units) == 12 and (units["n_frames"] == 4).all()  # 3 persons x 4 classes, 4 frames each
    assert not any("NO SUBJECT COLUMN" in n for n in data.notes)


def test_cli_severity_format_without_subjects(tmp_path: Path) -> None:
    from facedep.analysis.cli import main

    manifest = _severity_manifest(tmp_path, False)
    out = tmp_path / "out"
    assert main(["--manifest", str(manifest), "--out", str(out), "--cache-dir", "none", "--format", "au-severity"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["format"] == "au-severity" and not results["data"]["has_time"]
    assert results["settings"]["class_names"] == ["healthy", "mild", "moderate", "severe"]
    comp = results["comparison"]
    assert (comp["group_a"], comp["group_b"]) == ("healthy", "mild+moderate+severe")
    assert comp["unit"] == "frame" and (comp["n_a"], comp["n_b"]) == (12, 36)
    au04 = next(r for r in results["group_tests"] if r["feature"] == "AU04_r")
    assert au04["d"] > 0 and au04["q_t"] < 0.05
    assert not (out / "curves_aus.png").exists() and (out / "dist_intensity.png").exists()
    report = (out / "report.md").read_text()
    assert "NO SUBJECT COLUMN" in report and "frames are the unit" in report
