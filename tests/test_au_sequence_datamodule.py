"""AUSequenceDataModule on real OpenDBM/OpenFace files and on small hand-made files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.au_sequence import AUSequenceDataModule
from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS, DataFormatError
from datamodules.io.openface import read_openface_csv
from datamodules.synthetic.openface_csv import make_openface_csv
from datamodules.windows import window_starts


def _real_manifest(realdata: Path, tmp_path: Path) -> Path:
    """Two real subjects, two sessions each; the sessions differ in label, so that every split has both classes."""
    rows = [
        {"subject_id": f"subj0{s}", "session": t, "label": t - 1,
         "path": str(realdata / "opendbm" / f"subj0{s}_timepoint0{t}_openface.csv")}
        for s in (1, 2) for t in (1, 2)
    ]
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_real_opendbm_folds_never_split_a_subject(realdata: Path, tmp_path: Path) -> None:
    manifest = _real_manifest(realdata, tmp_path)
    tested = []
    for fold in (0, 1):
        dm = AUSequenceDataModule(str(manifest), num_folds=2, fold=fold, val_folds=0, window=32, stride=8, cache_dir=None)
        dm.setup("fit")
        stage_of = dm.videos.groupby("subject_id")["stage"].unique()
        assert all(len(stages) == 1 for stages in stage_of)  # both sessions of a subject in one split
        assert dm.data_report["train"]["videos"] == 2 and dm.data_report["test"]["videos"] == 2
        tested += dm.videos.loc[dm.videos["stage"] == "test", "subject_id"].unique().tolist()
    assert sorted(tested) == ["subj01", "subj02"]


def test_scaler_uses_training_subjects_only_and_windows_are_counted(realdata: Path, tmp_path: Path) -> None:
    manifest = _real_manifest(realdata, tmp_path)
    dm = AUSequenceDataModule(str(manifest), num_folds=2, fold=0, val_folds=0, window=32, stride=8, cache_dir=None)
    dm.setup("fit")
    train = dm.videos[dm.videos["stage"] == "train"]
    frames = []
    for path in train["path"]:
        table = read_openface_csv(path)
        keep = table.success & (table.confidence >= 0.8)
        frames.append(table.values[keep][:, : len(INTENSITY_COLUMNS)])
    expected = np.concatenate(frames).astype(np.float16).astype(np.float64)  # the cache stores float16
    np.testing.assert_allclose(dm.scaler.mean, expected.mean(axis=0), atol=1e-6)
    lengths = [len(s) for s in dm.datasets["train"].sequences]
    assert len(dm.datasets["train"]) == sum(len(window_starts(n, 32, 8)) for n in lengths)
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape[1:] == (32, 17)


def _write(path: Path, n: int = 60, success: np.ndarray | None = None, seed: int = 0) -> Path:
    values = np.random.default_rng(seed).uniform(0, 2, size=(n, len(ALL_AU_COLUMNS)))
    values[:, len(INTENSITY_COLUMNS):] = values[:, len(INTENSITY_COLUMNS):] > 1
    return make_openface_csv(path, values, success=success)


def _manifest(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _six_subjects(tmp_path: Path, override: dict[int, dict] | None = None) -> list[dict]:
    override = override or {}
    rows = []
    for i in range(6):
        path = _write(tmp_path / f"s{i}.csv", seed=i)
        rows.append({"subject_id": f"s{i}", "path": str(path), "label": i % 2, **override.get(i, {})})
    return rows


def test_a_second_run_parses_no_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = _manifest(tmp_path, _six_subjects(tmp_path))
    first = AUSequenceDataModule(str(manifest), num_folds=3, window=16, cache_dir=str(tmp_path / "cache"))
    first.prepare_data()
    first.setup("fit")

    def no_parsing(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a CSV was parsed although the cache holds it")

    monkeypatch.setattr("datamodules.io.registry.read_au_file", no_parsing)
    second = AUSequenceDataModule(str(manifest), num_folds=3, window=16, cache_dir=str(tmp_path / "cache"))
    second.prepare_data()
    second.setup("fit")
    assert second.cache.hits == 12 and second.cache.misses == 0  # prepare_data + setup, 6 files each
    np.testing.assert_array_equal(first.scaler.mean, second.scaler.mean)


def test_label_outside_classes_names_the_row(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, _six_subjects(tmp_path, {3: {"label": 7}}))
    dm = AUSequenceDataModule(str(manifest), num_folds=3, cache_dir=None)
    with pytest.raises(DataFormatError, match=r"row 5: label 7 is not one of"):
        dm.setup("fit")


def test_missing_file_names_manifest_row(tmp_path: Path) -> None:
    rows = _six_subjects(tmp_path)
    rows[2]["path"] = str(tmp_path / "gone.csv")
    dm = AUSequenceDataModule(str(_manifest(tmp_path, rows)), num_folds=3, cache_dir=None)
    with pytest.raises(DataFormatError, match=r"row 4: file .*gone.csv does not exist"):
        dm.setup("fit")


def test_all_failed_file_is_skipped_and_reported(tmp_path: Path) -> None:
    rows = _six_subjects(tmp_path)
    rows.append({"subject_id": "s0", "path": str(_write(tmp_path / "dead.csv", success=np.zeros(60, bool))), "label": 0})
    dm = AUSequenceDataModule(str(_manifest(tmp_path, rows)), num_folds=3, window=16, cache_dir=None)
    with pytest.warns(UserWarning, match="skipped 1 file"):
        dm.setup("fit")
    assert dm.data_report["files_skipped"] == [str(tmp_path / "dead.csv")]
    dropped = sum(dm.data_report[s]["frames"]["dropped_failed"] for s in ("train", "val", "test"))
    assert dropped == 60


def test_selected_channel_missing_in_source_names_the_file(tmp_path: Path, realdata: Path) -> None:
    rows = [{"subject_id": f"s{i}", "path": str(realdata / "pyfeat" / "OpenFace_Test.csv"), "label": i % 2} for i in range(3)]
    with pytest.raises(ValueError, match="unknown AU channel 'AU99'"):
        AUSequenceDataModule(str(_manifest(tmp_path, rows)), channels=["AU99"], cache_dir=None)
    table = read_openface_csv(realdata / "pyfeat" / "OpenFace_Test.csv")
    table.available = tuple(c for c in table.available if c != "AU28_c")
    from datamodules.au_loading import valid_frames

    with pytest.raises(DataFormatError, match=r"OpenFace_Test.csv: selected AU channels \['AU28_c'\]"):
        valid_frames(table, ["AU01_r", "AU28_c"], 0.8)


def test_split_column_is_used_and_leakage_rejected(tmp_path: Path) -> None:
    rows = _six_subjects(tmp_path)
    for row, split in zip(rows, ["train", "train", "val", "val", "test", "test"]):
        row["split"] = split
    dm = AUSequenceDataModule(str(_manifest(tmp_path, rows)), split="column", window=16, cache_dir=None)
    dm.setup("fit")
    assert dm.data_report["test"]["subjects"] == 2
    rows.append({**rows[0], "path": str(_write(tmp_path / "s0_second.csv", seed=9)), "split": "test"})
    bad = AUSequenceDataModule(str(_manifest(tmp_path, rows)), split="column", cache_dir=None)
    with pytest.raises(DataFormatError, match="more than one split"):
        bad.setup("fit")


def test_class_weights_come_from_training_windows(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, _six_subjects(tmp_path))
    dm = AUSequenceDataModule(str(manifest), num_folds=3, window=16, stride=4, cache_dir=None)
    dm.setup("fit")
    counts = np.bincount(dm.datasets["train"].window_labels(), minlength=2)
    np.testing.assert_allclose(dm.class_weights.numpy(), counts.sum() / (2 * counts), rtol=1e-5)


def test_nan_frames_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = _six_subjects(tmp_path)
    values = np.random.default_rng(9).uniform(0, 2, size=(60, len(ALL_AU_COLUMNS)))
    values[:, len(INTENSITY_COLUMNS):] = values[:, len(INTENSITY_COLUMNS):] > 1
    values[[3, 10, 11], 2] = np.nan
    rows[0]["path"] = str(make_openface_csv(tmp_path / "nan.csv", values))
    dm = AUSequenceDataModule(str(_manifest(tmp_path, rows)), num_folds=3, window=16, cache_dir=None)
    dm.setup("fit")
    assert sum(dm.data_report[s]["frames"]["dropped_nan"] for s in ("train", "val", "test")) == 3
    assert not any(np.isnan(seq).any() for ds in dm.datasets.values() for seq in ds.sequences)


def test_batched_fetch_equals_collated_items(demo_manifest) -> None:  # noqa: ANN001
    from torch.utils.data import DataLoader, default_collate

    from datamodules.window_dataset import collate_windows

    dm = AUSequenceDataModule(str(demo_manifest), window=32, stride=16, batch_size=5, cache_dir=None)
    dm.setup("fit")
    ds = dm.datasets["train"]
    picks = [7, 0, len(ds) - 1, 3]
    batch = collate_windows(ds.__getitems__(picks))
    expected = default_collate([ds[i] for i in picks])
    assert type(batch) is dict and set(batch) == set(expected)
    for key in expected:
        assert batch[key].dtype == expected[key].dtype
        torch.testing.assert_close(batch[key], expected[key], rtol=0, atol=0)
    loaded = next(iter(dm.train_dataloader()))
    assert loaded["x"].shape == (5, 32, dm.num_channels) and type(loaded) is dict
    with pytest.raises(TypeError, match="collate_windows"):
        next(iter(DataLoader(ds, batch_size=4)))  # a plain loader says what it needs
