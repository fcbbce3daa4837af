"""HRMSequenceDataModule: windows inside segments, short segments and NaN targets counted, target reduction, folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.hrm_sequences import HRMSequenceDataModule, build_hrm_manifest, reduce_windows
from datamodules.io.hrm import HRM_LABEL_COLUMNS, HRM_REGRESSION_COLUMNS

SEGMENTS = (np.arange(1, 21), np.arange(31, 41))  # 20 + 10 frames: windows of 5 at stride 1 -> 16 + 6
WINDOWS_PER_SUBJECT = (20 - 5 + 1) + (10 - 5 + 1)


def write_subject(path: Path, frames: np.ndarray, target: np.ndarray, seed: int = 0) -> None:
    """An HRM regression CSV: random 0/1/2 AU codes, ``target`` in every Abnormal-* column (NaN -> empty)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.integers(0, 3, (len(frames), len(HRM_LABEL_COLUMNS))), columns=list(HRM_LABEL_COLUMNS))
    table["frame"] = frames
    for column in HRM_REGRESSION_COLUMNS:
        table[column] = target
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)


def make_root(root: Path, subjects: int = 6, frames: np.ndarray | None = None,
              target: np.ndarray | None = None) -> Path:
    """``root/labels/<ASD|TD>/S<i>.csv``; the default target is frame / 100 (so a window's frames can be read back)."""
    frames = np.concatenate(SEGMENTS) if frames is None else frames
    target = frames / 100.0 if target is None else target
    for i in range(subjects):
        write_subject(root / "labels" / ("ASD" if i % 2 else "TD") / f"S{i}.csv", frames, target, seed=i)
    build_hrm_manifest(root, root / "manifest.csv")
    return root / "manifest.csv"


def data(manifest: Path, **kwargs: object) -> HRMSequenceDataModule:
    dm = HRMSequenceDataModule(str(manifest), **{"window": 5, "num_folds": 3, **kwargs})
    dm.setup()
    return dm


def all_targets(dm: HRMSequenceDataModule) -> np.ndarray:
    return np.concatenate([dm.datasets[s].targets for s in ("train", "val", "test")])


def test_windows_never_cross_segments(tmp_path: Path) -> None:
    dm = data(make_root(tmp_path), target_reduce="last")
    total = sum(len(dm.datasets[s]) for s in ("train", "val", "test"))
    assert total == 6 * WINDOWS_PER_SUBJECT == 132
    for stage in ("train", "val", "test"):
        ds = dm.datasets[stage]
        assert len(ds) == dm.data_report[stage]["subjects"] * WINDOWS_PER_SUBJECT == dm.data_report[stage]["windows"]
        last = np.round(ds.targets * 100).astype(int)  # the frame number of each window's last frame
        assert sorted(set(last)) == list(range(5, 21)) + list(range(35, 41))
        item = ds[0]
        assert item["x"].shape == (5, 22) and item["y"].dtype.is_floating_point
        assert set(item) == {"x", "y", "video", "subject", "index"}
    # two segments per subject, one id each, unique over the data set
    names = dm.sample_names()["video"]
    assert len(names) == 12 and len(set(names.values())) == 12 and "ASD/S1#1" in names.values()
    means = data(make_root(tmp_path / "m"), target_reduce="mean")
    assert np.allclose(all_targets(dm) - all_targets(means), 0.02, atol=1e-5)  # last - mean of 5 consecutive frames


def test_eval_stride_and_manifest(tmp_path: Path) -> None:
    manifest = make_root(tmp_path)
    table = pd.read_csv(manifest)
    assert table.columns.tolist() == ["subject_id", "path", "label"]
    assert set(table["label"]) == {"ASD", "TD"} and table["path"].str.startswith("labels/").all()
    dm = data(manifest, stride=2, eval_stride=5)
    per_subject = {"train": 8 + 3, "val": 4 + 2, "test": 4 + 2}  # starts 0,2,..,15 / 0,2,4,6 ; 0,5,10,15 / 0,5
    for stage, n in per_subject.items():
        assert len(dm.datasets[stage]) == dm.data_report[stage]["subjects"] * n


def test_short_segments_skipped_and_counted(tmp_path: Path) -> None:
    frames = np.concatenate([np.arange(1, 21), np.arange(31, 34), np.arange(50, 56)])  # 20, 3 (< 5), 6 frames
    dm = data(make_root(tmp_path, frames=frames))
    report = [dm.data_report[s] for s in ("train", "val", "test")]
    assert sum(r["segments"] for r in report) == 6 * 3
    assert sum(r["segments_skipped_short"] for r in report) == 6
    assert sum(r["segments_used"] for r in report) == 12
    assert sum(r["frames"]["dropped_short_segment"] for r in report) == 6 * 3
    assert sum(r["frames"]["kept"] for r in report) == 6 * 26
    assert sum(r["windows"] for r in report) == 6 * (16 + 2)


def test_target_reduction_hand_computed(tmp_path: Path) -> None:
    values = np.array([1.0, 2.0, 2.0, 3.0, 0.5, 1.0, 1.0])
    starts = np.array([0, 2])
    assert np.allclose(reduce_windows(values, starts, 5, "mean"), [1.7, 1.5])
    assert reduce_windows(values, starts, 5, "last").tolist() == [0.5, 1.0]
    assert reduce_windows(values, starts, 5, "mode").tolist() == [2.0, 1.0]
    assert reduce_windows(np.array([3.0, 3.0, 1.0, 1.0, 2.0]), np.array([0]), 5, "mode").tolist() == [1.0]  # tie: smaller
    frames = np.arange(1, 8)
    expected = {"mean": [1.7, 1.7, 1.5], "last": [0.5, 1.0, 1.0], "mode": [2.0, 2.0, 1.0]}
    for how, want in expected.items():
        dm = data(make_root(tmp_path / how, frames=frames, target=values), target_reduce=how)
        assert np.allclose(np.sort(all_targets(dm)), np.sort(np.tile(want, 6))), how
    with pytest.raises(ValueError, match="target_reduce"):
        HRMSequenceDataModule("m.csv", target_reduce="median")  # type: ignore[arg-type]


def test_nan_targets_dropped_and_counted(tmp_path: Path) -> None:
    frames = np.concatenate(SEGMENTS)
    target = frames / 100.0
    target[frames == 10] = np.nan  # splits 1-20 into 1-9 (5 windows) and 11-20 (6 windows)
    dm = data(make_root(tmp_path, frames=frames, target=target), target_reduce="last")
    report = [dm.data_report[s] for s in ("train", "val", "test")]
    assert sum(r["frames"]["dropped_nan_target"] for r in report) == 6
    assert sum(r["frames"]["kept"] for r in report) == 6 * 29
    assert sum(r["windows"] for r in report) == 6 * (5 + 6 + 6)
    assert sum(r["segments"] for r in report) == 12 and sum(r["segments_skipped_short"] for r in report) == 0
    last = set(np.round(all_targets(dm) * 100).astype(int))
    assert last == set(range(5, 10)) | set(range(15, 21)) | set(range(35, 41))
    assert np.isfinite(all_targets(dm)).all()


def test_no_subject_in_two_folds(tmp_path: Path) -> None:
    manifest = make_root(tmp_path, subjects=9)
    tests = []
    for fold in range(3):
        dm = data(manifest, fold=fold)
        parts = {s: set(dm.data_report[s]["subject_ids"]) for s in ("train", "val", "test")}
        assert not (parts["train"] & parts["val"]) and not (parts["train"] & parts["test"]) and not (parts["val"] & parts["test"])
        names = dm.sample_names()["subject"]
        for stage, subjects in parts.items():
            assert {names[int(i)] for i in np.unique(dm.datasets[stage].subject_ids)} == subjects
        tests.append(parts["test"])
    assert sum(len(t) for t in tests) == 9 and len(set().union(*tests)) == 9
    assert dm.num_classes == 1 and dm.class_names == ["Abnormal-avg"] and dm.num_channels == 22


def test_errors_name_the_problem(tmp_path: Path) -> None:
    manifest = make_root(tmp_path)
    with pytest.raises(Exception, match="no target column 'Abnormal-x'"):
        data(manifest, target_column="Abnormal-x")
    with pytest.raises(Exception, match="no training window"):
        data(manifest, window=50)
    with pytest.raises(ValueError, match="subject_classes"):
        HRMSequenceDataModule(str(manifest), classes=["ASD", "TD"])
