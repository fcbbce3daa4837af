"""Results a researcher can trust (issue #13, data side): the data is checked before anything trains.

Validation share, one-class splits, duplicated samples, blank splits, non-finite values, per-image
subjects and file names that the subject regex does not match.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules import FaceImageDataModule
from datamodules.au_frames import AUFrameDataModule
from datamodules.au_loading import valid_frames
from datamodules.au_sequence import AUSequenceDataModule
from datamodules.base import resolve_val_fraction
from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS, DataFormatError
from datamodules.io.openface import read_openface_csv
from datamodules.make_manifest import main as make_manifest
from datamodules.manifest import load_manifest
from datamodules.splits import subject_kfold_split, validation_quota
from datamodules.synthetic.openface_csv import make_openface_csv
from datamodules.synthetic.faces import make_face_demo

AU = ALL_AU_COLUMNS.index


def _au_file(path: Path, n: int = 40, seed: int = 0, **kwargs) -> Path:  # noqa: ANN003
    values = np.random.default_rng(seed).uniform(0, 2, size=(n, len(ALL_AU_COLUMNS)))
    values[:, len(INTENSITY_COLUMNS):] = values[:, len(INTENSITY_COLUMNS):] > 1
    return make_openface_csv(path, values, **kwargs)


def _subjects(root: Path, labels: list[int], splits: list[str] | None = None) -> list[dict]:
    """One AU file per subject ``s0, s1, ...`` with the given labels (and split values)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"subject_id": f"s{i}", "path": str(_au_file(root / f"s{i}.csv", seed=i)), "label": label}
            for i, label in enumerate(labels)]
    for row, split in zip(rows, splits or []):
        row["split"] = split
    return rows


def _write(tmp_path: Path, rows: list[dict], name: str = "m.csv") -> str:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _dm(manifest: str, **kwargs) -> AUSequenceDataModule:  # noqa: ANN003
    return AUSequenceDataModule(manifest, **{"window": 16, "stride": 8, "cache_dir": None, **kwargs})


# ---- item 5: the validation share ----------------------------------------------------------------
def test_three_folds_leave_two_thirds_of_the_rest_for_training() -> None:
    subjects, labels = [f"s{i:02d}" for i in range(30)], [0] * 15 + [1] * 15
    parts = subject_kfold_split(subjects, labels, fold=0, num_folds=3)
    assert {k: len(v) for k, v in parts.items()} == {"train": 13, "val": 7, "test": 10}  # was 10 / 10 / 10
    label_of = dict(zip(subjects, labels))
    assert sorted(label_of[s] for s in parts["val"]) == [0, 0, 0, 0, 1, 1, 1]  # stratified: 4 + 3 of 7
    for fraction in (0.0, 0.5):  # the validation share never moves a test subject
        other = subject_kfold_split(subjects, labels, fold=0, num_folds=3, val_fraction=fraction)
        assert other["test"] == parts["test"] and len(other["val"]) == round(20 * fraction)


def test_validation_quota_is_hand_computed_and_keeps_a_training_subject_per_class() -> None:
    assert validation_quota(np.array([10, 10]), 1 / 3).tolist() == [4, 3]  # 7 of 20, remainders 1/3 each
    assert validation_quota(np.array([12, 8]), 0.2).tolist() == [2, 2]  # 2.4 + 1.6 -> 4
    assert validation_quota(np.array([5, 1]), 0.5).tolist() == [3, 0]  # the single subject of class 1 trains
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        subject_kfold_split(["a", "b", "c"], [0, 1, 0], 0, 3, val_fraction=1.0)


def test_val_folds_is_deprecated_but_keeps_its_share() -> None:
    assert resolve_val_fraction(None, None, 3) == pytest.approx(1 / 3)
    assert resolve_val_fraction(None, 1, 3) == 0.5 and resolve_val_fraction(None, 1, 5) == 0.25
    assert resolve_val_fraction(None, 0, 5) == 0.0
    with pytest.raises(ValueError, match="not both"):
        resolve_val_fraction(0.2, 1, 5)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        resolve_val_fraction(None, 2, 3)  # every non-test subject would validate


def test_data_report_says_how_many_subjects_each_part_got(tmp_path: Path) -> None:
    manifest = _write(tmp_path, _subjects(tmp_path / "au", [0, 1] * 6))
    dm = _dm(manifest, num_folds=3, val_fraction=0.25)
    dm.setup("fit")
    split = dm.data_report["split"]
    assert split == {"method": "kfold", "subjects": {"train": 6, "val": 2, "test": 4}, "fold": 0, "num_folds": 3,
                     "val_fraction": 0.25, "seed": 0}
    assert {s: dm.data_report[s]["subjects"] for s in ("train", "val", "test")} == {"train": 6, "val": 2, "test": 4}


# ---- item 4: one-class data ----------------------------------------------------------------------
def test_manifest_without_a_configured_class_is_an_error(tmp_path: Path) -> None:
    manifest = _write(tmp_path, _subjects(tmp_path / "au", [0] * 6))
    dm = _dm(manifest, num_folds=3, class_names=["healthy", "depressed"])
    with pytest.raises(DataFormatError, match=r"class\(es\) \['depressed'\] have no sample in the manifest"):
        dm.setup("fit")


def test_training_split_without_a_class_is_an_error(tmp_path: Path) -> None:
    rows = _subjects(tmp_path / "au", [0, 0, 0, 1, 0, 1], ["train", "train", "val", "val", "test", "test"])
    dm = _dm(_write(tmp_path, rows), split="column")
    with pytest.raises(DataFormatError, match=r"class\(es\) \['1'\] have no sample in the train split of the manifest's split"):
        dm.setup("fit")


def test_test_fold_without_a_class_is_an_error_naming_the_fold(tmp_path: Path) -> None:
    manifest = _write(tmp_path, _subjects(tmp_path / "au", [0] * 8 + [1] * 2))  # 2 depressed subjects, 3 folds
    errors = []
    for fold in range(3):
        try:
            _dm(manifest, num_folds=3, fold=fold, val_fraction=0.0).setup("fit")
        except DataFormatError as exc:
            errors.append(str(exc))
    assert len(errors) == 1 and "class(es) ['1'] have no sample in the test split of fold" in errors[0]


def test_validation_split_without_a_class_is_a_warning(tmp_path: Path) -> None:
    rows = _subjects(tmp_path / "au", [0, 1, 0, 0, 1], ["train", "train", "val", "test", "test"])
    dm = _dm(_write(tmp_path, rows), split="column")
    with pytest.warns(UserWarning, match=r"class\(es\) \['1'\] have no sample in the val split"):
        dm.setup("fit")
    assert dm.data_report["val"]["subjects"] == 1


def test_class_lost_to_unusable_files_is_caught_after_masking(tmp_path: Path) -> None:
    rows = _subjects(tmp_path / "au", [0, 1] * 3, ["train", "train", "val", "val", "test", "test"])
    rows[1]["path"] = str(_au_file(tmp_path / "dead.csv", success=np.zeros(40, bool)))  # train's only class 1
    dm = _dm(_write(tmp_path, rows), split="column")
    with pytest.warns(UserWarning, match="skipped 1 file"), pytest.raises(DataFormatError, match=r"\['1'\] .* train split"):
        dm.setup("fit")


# ---- item 8: duplicated samples ------------------------------------------------------------------
def test_same_file_under_two_subject_ids_names_both_rows(tmp_path: Path) -> None:
    rows = _subjects(tmp_path / "au", [0, 1, 0, 1])
    os.symlink(rows[0]["path"], tmp_path / "alias.csv")  # the same file by another name
    rows.append({"subject_id": "s9", "path": "alias.csv", "label": 0})
    with pytest.raises(DataFormatError, match=r"s0.csv is listed under 2 subject ids: 's0' \(row 2\), 's9' \(row 6\)"):
        load_manifest(_write(tmp_path, rows))


def test_repeated_manifest_row_is_named(tmp_path: Path) -> None:
    rows = _subjects(tmp_path / "au", [0, 1, 0])
    rows.insert(2, dict(rows[1]))
    with pytest.raises(DataFormatError, match=r"s1.csv is listed 2 times, rows \[3, 4\] \(subject 's1'\)"):
        load_manifest(_write(tmp_path, rows))


def test_frame_manifests_may_repeat_a_path_with_other_rows(tmp_path: Path) -> None:
    path = _au_file(tmp_path / "frames.csv")
    rows = [{"subject_id": f"p{i // 2}", "path": str(path), "label": 0, "row": i} for i in range(4)]
    assert len(load_manifest(_write(tmp_path, rows))) == 4
    rows.append({"subject_id": "p7", "path": str(path), "label": 0, "row": 1})
    with pytest.raises(DataFormatError, match=r"frames.csv row 1 is listed under 2 subject ids: 'p0' \(row 3\), 'p7' \(row 6\)"):
        load_manifest(_write(tmp_path, rows))


# ---- item 9: blank splits and non-finite values ------------------------------------------------
def test_blank_split_cell_is_an_error_naming_row_and_subject(tmp_path: Path) -> None:
    rows = _subjects(tmp_path / "au", [0, 1] * 3, ["train", "train", "val", "", "test", "test"])
    manifest = _write(tmp_path, rows)
    with pytest.raises(DataFormatError, match=r"blank 'split' cell, rows \[5\], subject\(s\) \['s3'\]"):
        _dm(manifest, split="column").setup("fit")
    _dm(manifest, num_folds=3).setup("fit")  # k-fold ignores the column


def test_nonfinite_confidence_and_au_values_are_dropped_and_counted(tmp_path: Path) -> None:
    values = np.random.default_rng(3).uniform(0, 2, size=(40, len(ALL_AU_COLUMNS)))
    values[:, len(INTENSITY_COLUMNS):] = values[:, len(INTENSITY_COLUMNS):] > 1
    values[[4, 9], AU("AU04_r")] = np.inf
    values[12, AU("AU12_r")] = -np.inf
    values[20, AU("AU01_r")] = 7.0  # a finite value out of range is clipped, as before
    confidence = np.full(40, 0.95)
    confidence[[30, 31]] = np.nan
    path = make_openface_csv(tmp_path / "odd.csv", values, confidence=confidence)
    table = read_openface_csv(path)
    assert table.notes["values_clipped"] == 1 and table.notes["nonfinite_values"] == 3
    kept, frames, report = valid_frames(table, list(INTENSITY_COLUMNS), 0.8)
    assert report.dropped_nonfinite == 5 and report.dropped_low_confidence == 0 and report.kept == 35
    assert sorted(set(range(1, 41)) - set(frames.tolist())) == [5, 10, 13, 31, 32]  # frames are 1-based
    assert np.isfinite(kept).all() and kept.max() == 5.0

    rows = _subjects(tmp_path / "au", [0, 1] * 3)
    rows[0]["path"] = str(path)
    dm = _dm(_write(tmp_path, rows), num_folds=3)
    with pytest.warns(UserWarning, match=r"dropped 5 frame\(s\) with a non-finite"):
        dm.setup("fit")
    assert sum(dm.data_report[s]["frames"]["dropped_nonfinite"] for s in ("train", "val", "test")) == 5


def test_infinite_values_in_frame_tables_are_dropped(tmp_path: Path) -> None:
    from test_io_au_severity import write_severity

    csv = write_severity(tmp_path / "AU_features.csv", [0, 1] * 10, group=[f"p{i // 2}" for i in range(20)])
    lines = [line.split(",") for line in csv.read_text().splitlines()]
    lines[3][lines[0].index("AU04_r")] = "inf"  # data row 3
    csv.write_text("\n".join(",".join(cells) for cells in lines) + "\n")
    out = tmp_path / "frames.csv"
    assert make_manifest(["--format", "au-severity-csv", str(csv), "--out", str(out), "--group-column", "person"]) == 0
    dm = AUFrameDataModule(str(out), num_folds=2, val_fraction=0.0, cache_dir=None)
    with pytest.warns(UserWarning, match=r"dropped 1 frame\(s\) with non-finite"):
        dm.setup("fit")
    assert dm.data_report["frames_dropped_nonfinite"] == 1
    assert sum(dm.data_report[s]["frames"] for s in ("train", "val", "test")) == 19


# ---- item 3: images must carry subjects; unmatched file names are reported ---------------------
def test_images_without_identities_are_flagged_at_run_time(tmp_path: Path) -> None:
    manifest = make_face_demo(tmp_path / "faces", images_per_class=3, size=32, seed=1)
    kwargs = dict(image_size=16, num_folds=3, cache_dir=None, train_transforms=[])
    dm = FaceImageDataModule(str(manifest), **kwargs)
    with pytest.warns(UserWarning, match=r"every image has its own subject_id \(12 images\)"):
        dm.setup("fit")
    assert dm.data_report["identity_leakage"] is True
    table = pd.read_csv(manifest)
    pair = table.groupby("label").cumcount() // 2  # two images per person: 9 class-0 images -> 5, 3 sad -> 2
    table["subject_id"] = table["label"].astype(str) + "-" + pair.astype(str)
    table.to_csv(tmp_path / "faces" / "grouped.csv", index=False)
    grouped = FaceImageDataModule(str(tmp_path / "faces" / "grouped.csv"), **{**kwargs, "num_folds": 2})
    grouped.setup("fit")
    assert grouped.data_report["identity_leakage"] is False
    assert sum(grouped.data_report["split"]["subjects"].values()) == 7


def test_file_names_the_subject_regex_does_not_match_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "openface"
    root.mkdir()
    _au_file(root / "subj01_timepoint01.csv")
    _au_file(root / "anna-session-2.csv")  # no _timepointN / _sessionN / _tN: the whole name becomes the subject
    labels = tmp_path / "labels.csv"
    labels.write_text("subject_id,label\nsubj01,1\nanna-session-2,0\n")
    out = tmp_path / "m.csv"
    assert make_manifest(["--format", "openface-dir", str(root), "--out", str(out), "--labels", str(labels)]) == 0
    text = capsys.readouterr().out
    assert "WARNING: 1 listed file(s) did not match --subject-regex" in text
    assert "anna-session-2.csv: file name does not match --subject-regex; subject 'anna-session-2' taken from the name" in text
    assert "subj01_timepoint01.csv: file name" not in text
