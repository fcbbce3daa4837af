"""AU-driven drawn faces: per-AU regions, the Hugging-Rain-Man demo layout and planted effects, AU videos."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_val_score

from datamodules.synthetic.cli import main
from datamodules.synthetic.au_faces import (
    DEMO_AUS, DRAWN_AUS, EXCLUSIVE, SIDED_AUS, au_region, draw_au_face, make_au_face_demo, simulate_subject,
)
from datamodules.synthetic.au_video import make_au_video_demo, render_au_video, video_identity

HRM_HEADER = (
    "frame,AU1,AU2,AU4,AU5,AU6,AU7,AU43,AU8,AU9,AU10,AU12,AU13,AU14,AU15,AU16,AU17,AU18,AD19,AU20,AU21,AU22,"
    "AU23,AU24,AU25,AU2X,AU28,AD29,AD30,AU31,AD32,AD33,AD34,AD35,AD36,AD37,AU0,ASD,"
    "Abnormal-j,Abnormal-jie,Abnormal-y,Abnormal-z,Abnormal-w,Abnormal-avg"
).split(",")
SIZE = 96


def _mask(box: tuple[int, int, int, int], margin: int = 0) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = np.zeros((SIZE, SIZE), dtype=bool)
    out[max(y0 - margin, 0) : y1 + margin, max(x0 - margin, 0) : x1 + margin] = True
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_au_changes_its_region_only(seed: int) -> None:
    off, box = draw_au_face({}, np.random.default_rng(seed), SIZE)
    assert np.array_equal(off, draw_au_face({au: 0.0 for au in DRAWN_AUS}, np.random.default_rng(seed), SIZE)[0])
    for au in DRAWN_AUS:
        on, box_on = draw_au_face({au: 5.0}, np.random.default_rng(seed), SIZE)
        assert box_on == box
        diff, region = _diff(on, off), au_region(au, box)
        assert (diff[_mask(region)] > 40).sum() >= 6, au  # a visible change inside the region ...
        assert diff[~_mask(region, margin=2)].max() <= 2, au  # ... and none elsewhere
        weak = _diff(draw_au_face({au: 1.5}, np.random.default_rng(seed), SIZE)[0], off)
        assert 0 < (weak > 20).sum() <= (diff > 20).sum() + 4, au  # the intensity scales the change


@pytest.mark.parametrize("au", SIDED_AUS)
def test_one_sided_aus_change_one_side(au: str) -> None:
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    off, box = draw_au_face({}, rng(), SIZE)
    for side, other in (("left", "right"), ("right", "left")):
        diff = _diff(draw_au_face({au: 5.0}, rng(), SIZE, sides={au: side})[0], off)
        assert (diff[_mask(au_region(au, box, side))] > 40).sum() >= 4
        elsewhere = _mask(au_region(au, box, other)) & ~_mask(au_region(au, box, side), margin=2)
        assert diff[elsewhere].max() <= 2
        xs = np.nonzero(diff > 40)[1]
        centre = (box[0] + box[2]) / 2
        assert (xs.mean() > centre) == (side == "left")  # the face's left is the image's right


def test_bad_names_and_sides_are_errors() -> None:
    with pytest.raises(ValueError, match="supported.*AU2X"):
        draw_au_face({"AU99": 1.0}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one-sided"):
        draw_au_face({"AU9": 1.0}, np.random.default_rng(0), sides={"AU9": "left"})
    with pytest.raises(ValueError, match="cannot simulate"):
        make_au_face_demo("/nonexistent", aus=["AU45"])


def _read_demo(root: Path) -> pd.DataFrame:
    tables = []
    for path in sorted((root / "labels").glob("*/*.csv")):
        assert path.read_text().splitlines()[0].split(",") == HRM_HEADER
        tables.append(pd.read_csv(path).assign(subject=path.stem, group=path.parent.name))
    return pd.concat(tables, ignore_index=True)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.*")):
        h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def hrm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_au_face_demo(tmp_path_factory.mktemp("hrm") / "a", subjects=6, frames_per_subject=24, size=48, seed=3)


def test_hrm_layout_columns_values_and_segments(hrm: Path) -> None:
    df = _read_demo(hrm)
    assert sorted(df.groupby("group")["subject"].nunique().items()) == [("ASD", 3), ("TD", 3)]
    assert all(re.fullmatch(r"S\d+TD", s) for s in df.loc[df.group == "TD", "subject"])
    assert all(re.fullmatch(r"S\d+", s) for s in df.loc[df.group == "ASD", "subject"])
    au_cols = HRM_HEADER[1:36]
    assert df[au_cols].isin([0, 1, 2, 3, 4, 5]).all().all() and df[au_cols].to_numpy().max() > 1
    assert (df[[c for c in au_cols if c not in DEMO_AUS]] == 0).all().all()
    assert (df["AU0"] == (df[au_cols].max(axis=1) == 0)).all()
    assert (df["ASD"] == (df["group"] == "ASD")).all()
    raters = df[HRM_HEADER[38:43]].to_numpy()
    assert raters.min() >= 0 and raters.max() <= 4
    assert np.allclose(df["Abnormal-avg"], raters.mean(axis=1), atol=0.006)
    for subject, rows in df.groupby("subject"):
        frames = rows["frame"].to_numpy()
        assert len(frames) == 24 and (np.diff(frames) > 0).all()
        assert 2 <= (np.diff(frames) > 1).sum() + 1 <= 3  # 2-3 runs of consecutive frames
        images = sorted(p.name for p in (hrm / "images" / subject).iterdir())
        assert images == [f"{f:06d}.jpg" for f in frames]
    image = cv2.imread(str(next((hrm / "images").rglob("*.jpg"))))
    assert image.shape == (48, 48, 3)


def test_hrm_demo_is_deterministic_and_cli(hrm: Path, tmp_path: Path) -> None:
    same = make_au_face_demo(tmp_path / "b", subjects=6, frames_per_subject=24, size=48, seed=3)
    assert _digest(same) == _digest(hrm)
    other = make_au_face_demo(tmp_path / "c", subjects=6, frames_per_subject=24, size=48, seed=4)
    assert _digest(other) != _digest(hrm)
    assert main(["--modality", "au-faces", "--out", str(tmp_path / "cli"), "--subjects", "2"]) == 0
    assert len(list((tmp_path / "cli" / "labels").glob("*/*.csv"))) == 2
    assert len(list((tmp_path / "cli" / "images").rglob("*.jpg"))) == 2 * 40


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """Label tables of 40 ASD and 40 TD subjects (no images), with a segment id per row."""
    tables = []
    for i in range(80):
        group = "ASD" if i % 2 else "TD"
        table, _ = simulate_subject(group, 60, list(DEMO_AUS), np.random.default_rng([11, i]))
        segment = np.cumsum(np.r_[1, np.diff(table["frame"]) > 1])
        tables.append(table.assign(subject=i, group=group, segment=segment))
    return pd.concat(tables, ignore_index=True)


def _mean_bout(on: pd.DataFrame) -> float:
    runs = []
    for col in on.columns:
        edges = np.diff(np.r_[0, on[col].to_numpy().astype(int), 0])
        runs += list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    return float(np.mean(runs))


def test_au_rates_bouts_and_planted_group_effects(population: pd.DataFrame) -> None:
    on = population[list(DEMO_AUS)] > 0
    rates = on.mean()
    assert rates.between(0.15, 0.40).all(), rates.to_dict()
    for first, second in EXCLUSIVE:
        assert not (on[first] & on[second]).any()
    corr = on.astype(float).corr().to_numpy()
    assert np.abs(corr[~np.eye(len(corr), dtype=bool)]).max() < 0.4  # limited co-occurrence
    sided = population[list(DEMO_AUS)].isin([2, 3]).any()
    assert set(sided[sided].index) <= set(SIDED_AUS) and sided.sum() >= 4
    by_group = on.groupby(population["group"]).mean()
    assert by_group.loc["ASD", "AU4"] > by_group.loc["TD", "AU4"] + 0.07
    assert by_group.loc["ASD", "AU15"] > by_group.loc["TD", "AU15"] + 0.07
    assert by_group.loc["ASD", "AU12"] < by_group.loc["TD", "AU12"] - 0.03
    bouts = {g: np.mean([_mean_bout(rows) for _, rows in on[population.group == g].groupby(population.subject)])
             for g in ("ASD", "TD")}
    assert bouts["ASD"] > bouts["TD"] + 1.0
    abnormal = population.groupby("group")["Abnormal-avg"].mean()
    assert abnormal["ASD"] > abnormal["TD"] + 0.8


def test_atypicality_is_learnable_from_au_statistics(population: pd.DataFrame) -> None:
    on = population[list(DEMO_AUS)] > 0
    keys = [population["subject"], population["segment"]]
    features = on.groupby(keys).mean()
    features["bout"] = [_mean_bout(rows) for _, rows in on.groupby(keys)]
    target = population.groupby(keys)["Abnormal-avg"].mean()
    r2 = cross_val_score(LinearRegression(), features.to_numpy(), target.to_numpy(), cv=5, scoring="r2")
    assert r2.mean() > 0.6


def _frames(path: Path) -> np.ndarray:
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = cap.read()
        if not ok:
            return np.array(out)
        out.append(frame)


def test_video_frames_follow_the_au_series(tmp_path: Path) -> None:
    n = 24
    table = pd.DataFrame({"AU12_r": np.r_[np.zeros(12), np.full(12, 4.0)], "AU45_c": (np.arange(n) == 5) * 1.0,
                          "AU05_r": np.ones(n)})  # AU05 is not drawn: ignored
    path = render_au_video(table, tmp_path / "v.mp4", fps=15, size=SIZE, seed=7)
    frames = _frames(path)
    assert frames.shape == (n, SIZE, SIZE, 3)
    assert np.array_equal(frames, _frames(render_au_video(table, tmp_path / "w.mp4", fps=15, size=SIZE, seed=7)))
    assert not np.array_equal(frames, _frames(render_au_video(table, tmp_path / "x.mp4", fps=15, size=SIZE, seed=8)))
    blurred = np.array([cv2.GaussianBlur(f, (3, 3), 0) for f in frames]).astype(float)
    box = video_identity(7).box(SIZE)

    def steps(au: str) -> np.ndarray:  # mean change between consecutive frames inside the AU's region
        x0, y0, x1, y1 = au_region(au, box)
        return np.abs(np.diff(blurred, axis=0))[:, y0:y1, x0:x1].max(axis=-1).mean(axis=(1, 2))

    mouth, eyes = steps("AU12"), steps("AU45")
    assert mouth.argmax() == 11 and mouth[11] > 1.5 * np.delete(mouth, 11).max()  # smile switches on at 12
    assert set(np.argsort(eyes)[-2:]) == {4, 5} and eyes[4] > 1.3 * np.delete(eyes, [4, 5]).max()  # blink at 5
    with pytest.raises(ValueError, match="equally long"):
        render_au_video({"AU12_r": [1.0], "AU04_r": [1.0, 2.0]}, tmp_path / "x.mp4")


def test_video_demo(tmp_path: Path) -> None:
    manifest = make_au_video_demo(tmp_path, subjects=4, seconds=2, fps=10, size=64, seed=1)
    df = pd.read_csv(manifest)
    assert list(df.columns) == ["subject_id", "path", "label", "score", "session"] and df["label"].sum() == 2
    truth = pd.read_csv(tmp_path / "manifest_openface.csv")
    assert list(truth["subject_id"]) == list(df["subject_id"])
    for video, csv in zip(df["path"], truth["path"]):
        au = pd.read_csv(tmp_path / csv, skipinitialspace=True)
        assert len(au) == 20 and {"AU04_r", "AU12_r", "AU45_c"} <= set(au.columns)
        assert _frames(tmp_path / video).shape == (20, 64, 64, 3)
