"""Frame manifests (datamodules/au_manifest.py) and AUDetectionDataModule on tiny drawn data sets."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from datamodules import AUDetectionDataModule
from datamodules.au_manifest import build_au_manifest, make_au_manifest, report_path
from datamodules.io.au_table import DataFormatError
from test_hrm_io import write_hrm_csv

pytestmark = pytest.mark.filterwarnings("ignore:.*num_workers", "ignore:.*skipped", "ignore:.*pos_weight")

# Six subjects; TD/S1 reuses ASD/S1's name (as in the release). ASD/S3's images sit in images/S3.
SUBJECTS = {"ASD/S1": "ASD/S1", "ASD/S2": "ASD/S2", "ASD/S3": "S3",
            "TD/S1": "TD/S1", "TD/S4": "TD/S4", "TD/S5": "TD/S5"}
FRAMES = [1, 2, 3, 10, 11, 12]  # segments [1-3], [10-12]; frame 12 has no image, frame 99 no label
NAMES = {1: "000001.png", 2: "2.png", 3: "frame_det_00_000003.bmp", 10: "000010.png", 11: "11.bmp", 99: "99.png"}
AUS = ["AU1", "AU2", "AU4", "AU6"]


def expected_aus(subject: str, frame: int) -> list[float]:
    """AU1 on frames 1 and 10; AU2 on frame 2 in ASD subjects only; AU4 never; AU6 always (codes 1-5)."""
    return [float(frame in (1, 10)), float(subject.startswith("ASD") and frame == 2), 0.0, 1.0]


def draw(path: Path, frame: int, subject_no: int) -> None:
    """8x8 image whose red value encodes the frame and green the subject."""
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 2], image[..., 1] = min(frame * 10, 255), subject_no * 20  # BGR
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


@pytest.fixture(scope="module")
def hrm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hrm")
    for no, (subject, folder) in enumerate(SUBJECTS.items()):
        labels = {f: {"AU1": 1 + f % 5 if f in (1, 10) else 0, "AU2": 3 if expected_aus(subject, f)[1] else 0,
                      "AU6": 1 + f % 5} for f in FRAMES}
        write_hrm_csv(root / "labels" / f"{subject}.csv", labels, rating=2.5 if subject == "ASD/S1" else None)
        for frame, name in NAMES.items():
            draw(root / "images" / folder / name, frame, no)
    draw(root / "images" / "ASD" / "S9" / "000001.png", 1, 9)  # images of a subject without labels
    write_hrm_csv(root / "labels" / "ASD" / "S2-backup.csv", {1: {}})  # the annotation tool's backup: ignored
    return root


@pytest.fixture(scope="module")
def manifest(hrm_root: Path) -> Path:
    out = hrm_root / "frames.csv"
    with pytest.warns(UserWarning, match=r"skipped \{'labelled_frame_without_image': 6, 'image_without_label': 7\}"):
        build_au_manifest("hrm", hrm_root, out)
    return out


def _dm(manifest: Path, **kwargs) -> AUDetectionDataModule:
    defaults = dict(au_names=AUS, image_size=8, num_folds=3, batch_size=4, cache_dir=None,
                    train_transforms=[], normalization=None)
    return AUDetectionDataModule(str(manifest), **{**defaults, **kwargs})


def test_manifest_rows_columns_and_report(manifest: Path) -> None:
    df = pd.read_csv(manifest)
    assert list(df.columns[:5]) == ["subject_id", "path", "label", "segment", "frame"]
    assert len(df.columns) == 5 + 36 + 1 and df.columns[-1] == "atypicality"
    assert len(df) == 6 * 5 and sorted(df["subject_id"].unique()) == sorted(SUBJECTS)
    assert df.groupby("subject_id")["frame"].apply(list).tolist() == [[1, 2, 3, 10, 11]] * 6
    assert df.groupby("subject_id")["segment"].apply(list).tolist() == [[0, 0, 0, 1, 1]] * 6
    assert df.set_index("subject_id")["label"].to_dict() == {s: s.split("/")[0] for s in SUBJECTS}
    row = df[(df["subject_id"] == "ASD/S3") & (df["frame"] == 3)].iloc[0]
    assert row["path"] == "images/S3/frame_det_00_000003.bmp"  # relative to the manifest
    assert df.loc[df["subject_id"] == "ASD/S1", "atypicality"].tolist() == [2.5] * 5
    assert df.loc[df["subject_id"] != "ASD/S1", "atypicality"].isna().all()
    assert set(df["AU6"]) == {1} and set(df["AU4"]) == {0}
    report = json.loads(report_path(manifest).read_text())
    assert report["skipped"] == {"labelled_frame_without_image": 6, "image_without_label": 7}
    assert report["examples"]["labelled_frame_without_image"][0] == "ASD/S1 frame 12"
    assert report["examples"]["image_without_label"][0].endswith("images/ASD/S1/99.png")  # 6 x frame 99 + S9's image
    assert report["positives"]["AU1"] == 12 and report["positives"]["AU2"] == 3
    assert any("S2-backup" in n for n in report["notes"])


def test_cli_prints_counts(hrm_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.csv"
    assert make_au_manifest(["--format", "hrm", str(hrm_root), "--aus", "hrm22", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "30 frame(s), 6 subject(s), 12 segment(s)" in printed.out
    assert "'labelled_frame_without_image': 6" in printed.out and "WARNING" in printed.err
    assert len(pd.read_csv(out).columns) == 5 + 22 + 1
    assert make_au_manifest(["--format", "hrm", str(hrm_root), "--aus", "AU1", "AU01", "--out", str(out)]) == 2
    assert "not HRM labels" in capsys.readouterr().err


def test_items_targets_and_names(manifest: Path) -> None:
    dm = _dm(manifest)
    dm.setup("fit")
    assert dm.num_classes == 4 and dm.class_names == AUS and dm.num_channels == 3
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "aus", "atypicality", "video", "subject", "index"}
    assert batch["x"].shape == (4, 3, 8, 8) and batch["aus"].shape == (4, 4) and batch["aus"].dtype == torch.float32
    names = dm.sample_names()
    for stage in ("train", "val", "test"):
        ds, rows = dm.datasets[stage], dm.videos[dm.videos["stage"] == stage]
        assert len(ds) == len(rows) == 5 * rows["subject_id"].nunique()
        for i in range(len(ds)):
            item, row = ds[i], rows.iloc[i]
            assert item["aus"].tolist() == expected_aus(row["subject_id"], row["frame"])
            assert float(item["x"][0].mean()) == pytest.approx(row["frame"] * 10 / 255, abs=1e-6)  # the right image
            assert names["video"][int(item["video"])] == f"{row['subject_id']}#{row['segment']}"
            assert names["subject"][int(item["subject"])] == row["subject_id"]
            rating = float(item["atypicality"])
            assert rating == 2.5 if row["subject_id"] == "ASD/S1" else np.isnan(rating)
    videos = {int(dm.datasets[s][i]["video"]) for s in ("train", "val", "test") for i in range(len(dm.datasets[s]))}
    assert len(videos) == 12  # one id per (subject, segment)


def test_frequencies_pos_weight_and_report(manifest: Path) -> None:
    dm = _dm(manifest, val_fraction=0.5)  # 4 non-test subjects: 2 train, 2 val
    with pytest.warns(UserWarning, match="AU4: never occurs in the training frames"):
        dm.setup("fit")
    report = dm.data_report
    assert report["train"]["subjects_per_class"] == {"ASD": 1, "TD": 1}  # stratified: one of each per part
    # hand-computed: AU1 2/5 frames per subject, AU2 1/5 in the ASD subject only (1 of 2), AU4 never, AU6 always
    assert dm.au_frequencies().tolist() == pytest.approx([0.4, 0.1, 0.0, 1.0])
    assert dm.pos_weight().tolist() == pytest.approx([1.5, 9.0, 100.0, 0.1])
    assert report["pos_weight"]["AU4"] == 100.0 and len(report["pos_weight_notes"]) == 2
    assert report["train"]["frames"] == 10 and report["train"]["segments"] == 4
    assert report["train"]["positives"] == {"AU1": 4, "AU2": 1, "AU4": 0, "AU6": 10}
    assert report["manifest_build"]["skipped"]["labelled_frame_without_image"] == 6
    assert report["images"] == {"listed": 30, "unreadable": 0, "converted": {}, "crops": {"whole_image": 30}}
    assert dm.class_weights is None


def test_no_subject_in_two_folds(manifest: Path) -> None:
    tests = []
    for fold in range(3):
        dm = _dm(manifest, fold=fold)
        dm.setup("fit")
        parts = {s: set(dm.data_report[s]["subject_ids"]) for s in ("train", "val", "test")}
        assert not (parts["train"] & parts["val"]) and not (parts["train"] & parts["test"])
        assert not parts["val"] & parts["test"]
        assert parts["train"] | parts["val"] | parts["test"] == set(SUBJECTS)
        tests.append(parts["test"])
    assert sum(len(t) for t in tests) == 6 and set().union(*tests) == set(SUBJECTS)
    dm = _dm(manifest, val_folds=0)  # no validation subjects: an empty stage is fine
    dm.setup("fit")
    assert len(dm.datasets["val"]) == 0 and dm.data_report["val"]["frames"] == 0 and len(dm.datasets["train"]) == 20


def test_config_errors(manifest: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown AU name\(s\) \['AU99'\]"):
        _dm(manifest, au_names=["AU1", "AU99"])
    with pytest.raises(ValueError, match="class_names are the AU names"):
        _dm(manifest, class_names=["a", "b"])
    with pytest.raises(ValueError, match="classes are the AU names.*subject_classes"):
        _dm(manifest, classes=["ASD", "TD"])
    dm = _dm(manifest, au_names="openface_c18")
    with pytest.raises(DataFormatError, match=r"no column\(s\) \['AU01', 'AU02'.*it has AU columns \['AU1'"):
        dm.setup("fit")
    with pytest.raises(DataFormatError, match="label 'ASD' is not one of the configured classes"):
        _dm(manifest, subject_classes=["TD", "other"]).setup("fit")


def test_images_claimed_by_two_subjects(tmp_path: Path) -> None:
    for subject in ("ASD/S1", "TD/S1"):
        write_hrm_csv(tmp_path / "labels" / f"{subject}.csv", {1: {}})
    draw(tmp_path / "images" / "S1" / "1.png", 1, 0)
    with pytest.raises(DataFormatError, match=r"claimed by several subjects \['ASD/S1', 'TD/S1'\]"):
        build_au_manifest("hrm", tmp_path, tmp_path / "m.csv")


# ---- OpenFace source -------------------------------------------------------------------------
def write_openface(path: Path, rows: list[list[object]]) -> Path:
    header = ["frame", "face_id", "timestamp", "confidence", "success",
              "AU01_r", "AU04_r", "AU01_c", "AU04_c", "AU28_c"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(", ".join(header) + "\n" + "\n".join(", ".join(str(v) for v in r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def openface_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("openface")
    for no, name in enumerate(["p1_openface", "p2_openface", "p3_openface"]):
        rows = [[f, 0, f / 30, 0.98, 1, 0.5 * f, 6.0 if f == 5 else 0.0, int(f % 2 == 1), 0, int(f == 2)]
                for f in range(1, 6)]
        rows[2][4] = 0  # frame 3: tracking failed
        rows[3][3] = 0.5  # frame 4: low confidence
        write_openface(root / f"{name}.csv", rows)
        for f in range(1, 7):  # frame 6: an image without a CSV row
            draw(root / f"{name}_aligned" / f"frame_det_00_{f:06d}.bmp", f, no)
    return root


def test_openface_manifest_and_datamodule(openface_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "of.csv"
    with pytest.warns(UserWarning, match="'tracker_failed': 3, 'low_confidence': 3, 'image_without_label': 3"):
        df = build_au_manifest("openface", openface_root, out, aus=["AU01", "AU04", "AU28"])
    assert df.groupby("subject_id")["frame"].apply(list).to_dict() == {s: [1, 2, 5] for s in ("p1", "p2", "p3")}
    assert "AU28_intensity" not in df.columns and set(df["label"]) == {"unknown"}
    one = df[df["subject_id"] == "p1"]
    assert one["AU01"].tolist() == [1, 0, 1] and one["AU28"].tolist() == [0, 1, 0]
    assert one["AU01_intensity"].tolist() == [0.5, 1.0, 2.5]
    assert one["AU04_intensity"].tolist() == [0, 0, 5.0]  # 6.0 clipped by the OpenFace reader
    dm = _dm(out, au_names="openface_c18")
    with pytest.raises(DataFormatError, match=r"no column\(s\) \['AU02'"):
        dm.setup("fit")
    dm = _dm(out, au_names=["AU01", "AU04", "AU28"])
    dm.setup("fit")
    item = dm.datasets["test"][0]
    assert set(item) == {"x", "aus", "intensity", "video", "subject", "index"}
    assert item["intensity"].shape == (3,) and np.isnan(item["intensity"][2].item())
    assert item["aus"].tolist() == [1.0, 0.0, 0.0] and item["intensity"][:2].tolist() == [0.5, 0.0]
    assert dm.data_report["subject_classes"] == ["unknown"]


def test_openface_single_csv_with_images_option(openface_root: Path, tmp_path: Path) -> None:
    csv = openface_root / "p2_openface.csv"
    assert make_au_manifest(["--format", "openface", str(csv), "--images", str(openface_root / "p1_openface_aligned"),
                             "--label", "1", "--out", str(tmp_path / "one.csv")]) == 0
    df = pd.read_csv(tmp_path / "one.csv")
    assert df["subject_id"].unique().tolist() == ["p2"] and df["label"].unique().tolist() == [1]
    assert list(df.columns[5:]) == ["AU01", "AU04", "AU28", "AU01_intensity", "AU04_intensity"]  # what the CSV has
