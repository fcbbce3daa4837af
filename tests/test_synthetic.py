"""Tests for the synthetic OpenFace demo generator (datamodules/synthetic/: openface_demo, openface_csv, au_simulation, cli)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS, PRESENCE_COLUMNS
from datamodules.manifest import load_manifest
from datamodules.synthetic.cli import main
from datamodules.synthetic.openface_csv import OPENFACE_COLUMNS, make_openface_csv
from datamodules.synthetic.openface_demo import make_openface_demo

REAL_OPENFACE = Path("/work/shared/realdata/opendbm/subj01_timepoint01_openface.csv")


def _read(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, skipinitialspace=True)


def _subject_means(manifest: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-subject mean of all 35 AU channels over tracked frames, and the labels."""
    man = load_manifest(manifest)
    rows = [_read(p).query("success == 1")[list(ALL_AU_COLUMNS)].mean() for p in man["path"]]
    return pd.DataFrame(rows), man["label"].to_numpy()


def _cv_accuracy(x: pd.DataFrame, y: np.ndarray) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(cross_val_score(clf, x.to_numpy(), y, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_openface_demo(tmp_path_factory.mktemp("demo"), num_subjects=60, seed=0)


@pytest.fixture(scope="module")
def null_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_openface_demo(tmp_path_factory.mktemp("null"), num_subjects=60, effect_size=0.0, seed=0)


@pytest.fixture(scope="module")
def frames(demo: Path) -> pd.DataFrame:
    man = load_manifest(demo)
    return pd.concat([_read(p).assign(subject_id=s) for p, s in zip(man["path"], man["subject_id"])])


def test_header_and_columns_match_openface(demo: Path) -> None:
    path = load_manifest(demo)["path"].iloc[0]
    header = Path(path).read_text().splitlines()[0]
    assert header == ", ".join(OPENFACE_COLUMNS)
    assert all(name.startswith(" ") for name in header.split(",")[1:])
    raw = pd.read_csv(path, nrows=1)
    assert " AU01_r" in raw.columns  # the OpenFace quirk: names keep a leading space
    assert tuple(_read(path).columns) == OPENFACE_COLUMNS
    assert list(OPENFACE_COLUMNS[-35:]) == list(INTENSITY_COLUMNS + PRESENCE_COLUMNS)
    assert "AU28_r" not in OPENFACE_COLUMNS and "AU28_c" in OPENFACE_COLUMNS


def test_value_formatting_matches_real_openface(demo: Path) -> None:
    row = Path(load_manifest(demo)["path"].iloc[0]).read_text().splitlines()[1].split(",")
    assert re.fullmatch(r"\d+", row[0])
    assert re.fullmatch(r"  \d", row[1]) and re.fullmatch(r"  \d+\.\d{3}", row[2])
    assert re.fullmatch(r"  \d\.\d{2}", row[3]) and re.fullmatch(r"  [01]", row[4])
    assert re.fullmatch(r"  -?\d\.\d{6}", row[5])
    assert all(re.fullmatch(r" \d\.\d{2}", v) for v in row[-35:])
    if REAL_OPENFACE.exists():  # same cell shapes as a real OpenFace 2.x file
        real = REAL_OPENFACE.read_text().splitlines()[1].split(",")
        assert [len(v) - len(v.lstrip()) for v in real[:5]] == [len(v) - len(v.lstrip()) for v in row[:5]]
        assert real[-1].startswith(" ") and not real[-1].startswith("  ")


def test_manifest_rows_match_files(tmp_path: Path) -> None:
    manifest = make_openface_demo(tmp_path, num_subjects=6, sessions_per_subject=2, frames=(40, 60), seed=3)
    man = pd.read_csv(manifest, dtype={"subject_id": str})
    assert list(man.columns) == ["subject_id", "path", "label", "score", "session"]
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "openface").glob("*.csv"))
    assert sorted(man["path"]) == files and len(files) == 12
    assert all(p == f"openface/{s}_session{k}.csv" for p, s, k in zip(man["path"], man["subject_id"], man["session"]))
    assert all(sorted(g) == [1, 2] for _, g in man.groupby("subject_id")["session"])
    assert ((man["score"] >= 10) == (man["label"] == 1)).all() and man["score"].between(0, 24).all()
    labels = pd.read_csv(tmp_path / "labels.csv", dtype={"subject_id": str})
    assert list(labels.columns) == ["subject_id", "label", "score"] and len(labels) == 6
    assert labels.merge(man, on="subject_id", suffixes=("", "_m")).eval("label == label_m and score == score_m").all()
    assert all(40 <= len(_read(tmp_path / p)) <= 60 for p in man["path"])


@pytest.mark.parametrize(("n", "fraction", "expected"), [(60, 0.5, 30), (7, 0.3, 2), (10, 0.25, 2), (5, 1.0, 5)])
def test_label_counts_exact(tmp_path: Path, n: int, fraction: float, expected: int) -> None:
    man = pd.read_csv(make_openface_demo(tmp_path, num_subjects=n, depressed_fraction=fraction, frames=(20, 30)))
    assert int(man["label"].sum()) == expected and len(man) == n


def test_deterministic_for_seed_and_different_across_seeds(tmp_path: Path) -> None:
    def files(out: Path, seed: int) -> dict[str, bytes]:
        make_openface_demo(out, num_subjects=5, frames=(50, 80), seed=seed)
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.csv"))}

    a, b, c = files(tmp_path / "a", 7), files(tmp_path / "b", 7), files(tmp_path / "c", 8)
    assert a == b
    assert a.keys() == c.keys() and a["openface/sub001_session1.csv"] != c["openface/sub001_session1.csv"]


def test_failed_frames_in_bursts_with_garbage_aus(frames: pd.DataFrame) -> None:
    failed = frames[frames["success"] == 0]
    rate = len(failed) / len(frames)
    assert 0.015 < rate < 0.06  # configured 0.03
    assert (failed[list(INTENSITY_COLUMNS)].sum(axis=1) > 0).all()  # OpenFace leaves values there
    assert failed["confidence"].max() < 0.5
    tracked = frames[frames["success"] == 1]["confidence"]
    assert tracked.min() >= 0.45 and tracked.median() >= 0.9
    starts = (frames["success"].diff().fillna(0) == -1).sum()
    assert len(failed) / max(1, starts) > 2  # bursts, not isolated frames
    assert (frames["face_id"] == 0).all()


def test_value_ranges(frames: pd.DataFrame) -> None:
    intens = frames[list(INTENSITY_COLUMNS)].to_numpy()
    assert intens.min() >= 0.0 and intens.max() <= 5.0
    tracked = frames[frames["success"] == 1]
    assert tracked[list(INTENSITY_COLUMNS)].mean().mean() < 1.0  # mostly low, like real output
    assert set(np.unique(frames[list(PRESENCE_COLUMNS)].to_numpy())) <= {0.0, 1.0}
    agree = ((tracked["AU12_r"] > 1) == (tracked["AU12_c"] == 1)).mean()
    assert 0.8 < agree < 1.0  # presence follows intensity, with classifier noise
    assert np.allclose(frames.groupby("subject_id")["timestamp"].diff().dropna(), 1 / 30, atol=1e-3)


def test_planted_effect_and_subject_level_learnability(demo: Path, null_demo: Path) -> None:
    x, y = _subject_means(demo)
    dep, hea = x[y == 1].mean(), x[y == 0].mean()
    assert dep["AU04_r"] > hea["AU04_r"] and dep["AU15_r"] > hea["AU15_r"] and dep["AU01_r"] > hea["AU01_r"]
    assert dep["AU12_r"] < hea["AU12_r"] and dep["AU06_r"] < hea["AU06_r"]
    assert _cv_accuracy(x, y) > 0.75
    x0, y0 = _subject_means(null_demo)
    assert _cv_accuracy(x0, y0) < 0.7


def test_generation_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    make_openface_demo(tmp_path, num_subjects=60, seed=1)
    assert time.perf_counter() - start < 6.0  # ~0.5 s typically; loose bound for slow CI


def test_make_openface_csv_several_faces(tmp_path: Path) -> None:
    au = np.random.default_rng(0).uniform(0, 5, (4, 35))
    au[:, 17:] = au[:, 17:] > 2.5
    path = make_openface_csv(
        tmp_path / "faces.csv", au, face_id=np.array([0, 1, 0, 1]), frame=np.array([1, 1, 2, 2]),
        success=np.array([1, 1, 0, 1]), confidence=np.array([0.98, 0.9, 0.1, 0.95]), fps=25.0,
    )
    df = _read(path)
    assert df["frame"].tolist() == [1, 1, 2, 2] and df["face_id"].tolist() == [0, 1, 0, 1]
    assert np.allclose(df["timestamp"], [0.0, 0.0, 0.04, 0.04]) and df["success"].tolist() == [1, 1, 0, 1]
    assert np.allclose(df[list(ALL_AU_COLUMNS)].to_numpy(), au, atol=0.005)
    defaults = _read(make_openface_csv(tmp_path / "d.csv", np.zeros((3, 35))))
    assert defaults["frame"].tolist() == [1, 2, 3] and (defaults["confidence"] == 0.98).all()
    assert "-0.00" not in (tmp_path / "d.csv").read_text()
    with pytest.raises(ValueError, match="35"):
        make_openface_csv(tmp_path / "bad.csv", np.zeros((3, 34)))
    with pytest.raises(ValueError, match="success"):
        make_openface_csv(tmp_path / "bad.csv", np.zeros((3, 35)), success=np.ones(2))


def test_cli_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo_data"
    assert main(["--out", str(out), "--subjects", "4", "--sessions", "2", "--seed", "1", "--effect-size", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "8 OpenFace CSV" in text and "subjects per label" in text and "failed frames" in text
    assert len(pd.read_csv(out / "manifest.csv")) == 8
