from __future__ import annotations

import re
from pathlib import Path

import pytest

from datamodules.make_manifest import DEFAULT_SUBJECT_REGEX, main, parse_subject
from datamodules.manifest import load_manifest
from test_io_au_severity import write_severity
from test_io_daic import make_daic_woz, make_e_daic


def link_opendbm(realdata: Path, root: Path) -> Path:
    """tmp copy of the real OpenDBM folder, nested one level, made of symlinks."""
    sub = root / "videos"
    sub.mkdir(parents=True)
    for f in (realdata / "opendbm").iterdir():
        (sub / f.name).symlink_to(f)
    return root


def test_parse_subject() -> None:
    rx = re.compile(DEFAULT_SUBJECT_REGEX)
    assert parse_subject("subj01_timepoint02_openface", rx) == ("subj01", "timepoint02")
    assert parse_subject("p7_session3", rx) == ("p7", "session3")
    assert parse_subject("subj09_facau", rx) == ("subj09", None)
    assert parse_subject("anna", rx) == ("anna", None)


def test_openface_dir(realdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = link_opendbm(realdata, tmp_path / "data")
    labels = tmp_path / "data" / "labels.csv"  # inside ROOT on purpose: must not be taken as an AU file
    labels.write_text("subject_id,label,score,split\nsubj01,1,14,train\n")
    out = tmp_path / "data" / "manifest.csv"
    assert main(["--format", "openface-dir", str(tmp_path / "data"), "--out", str(out), "--labels", str(labels)]) == 0
    text = capsys.readouterr().out
    assert "skipped: 4" in text and "no label for subject 'subj02'" in text and "landmark_output" in text
    m = load_manifest(out)
    assert sorted(Path(p).name for p in m["path"]) == ["subj01_timepoint01_openface.csv", "subj01_timepoint02_openface.csv"]
    assert m["subject_id"].tolist() == ["subj01", "subj01"] and m["label"].tolist() == [1, 1]
    assert m["session"].tolist() == ["timepoint01", "timepoint02"] and m["split"].tolist() == ["train", "train"]
    raw = out.read_text().splitlines()
    assert raw[1].split(",")[1] == "videos/subj01_timepoint01_openface.csv"  # relative to the manifest


def test_opendbm_dir_with_sessions(realdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = link_opendbm(realdata, tmp_path / "data")
    labels = tmp_path / "labels.csv"
    labels.write_text("subject_id,session,label\nsubj01,timepoint01,0\nsubj01,timepoint02,1\n")
    out = tmp_path / "out" / "m.parquet"
    assert main(["--format", "opendbm-dir", str(root), "--out", str(out), "--labels", str(labels)]) == 0
    m = load_manifest(out)
    assert len(m) == 1 and m.loc[0, "subject_id"] == "subj01" and m.loc[0, "label"] == 0
    assert m.loc[0, "session"] == "timepoint01"
    assert Path(m.loc[0, "path"]).is_absolute() and m.loc[0, "path"].endswith("subj01_timepoint01_facau.csv")
    assert "skipped: 0" in capsys.readouterr().out


def test_dir_format_no_labels_matched(realdata: Path, tmp_path: Path) -> None:
    root = link_opendbm(realdata, tmp_path / "data")
    labels = tmp_path / "labels.csv"
    labels.write_text("subject_id,label\nnobody,1\n")
    assert main(["--format", "opendbm-dir", str(root), "--out", str(tmp_path / "m.csv"), "--labels", str(labels)]) == 1
    assert not (tmp_path / "m.csv").exists()


def test_daic_woz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_daic_woz(tmp_path / "daic")
    out = root / "manifest.csv"
    assert main(["--format", "daic-woz", str(root), "--out", str(out)]) == 0
    assert "participant 302 (test): no AU file" in capsys.readouterr().out
    m = load_manifest(out)
    assert m[["subject_id", "label", "split"]].values.tolist() == [["300", 1, "train"], ["301", 0, "val"]]
    assert m["score"].tolist() == [12.0, 3.0]
    assert Path(m.loc[0, "path"]) == root / "300_P" / "300_CLNF_AUs.txt"


def test_e_daic(tmp_path: Path) -> None:
    root = make_e_daic(tmp_path / "edaic")
    out = tmp_path / "m.csv"
    assert main(["--format", "e-daic", str(root), "--out", str(out)]) == 0
    m = load_manifest(out)
    assert m["subject_id"].tolist() == ["600", "601", "602"] and m["split"].tolist() == ["train", "val", "test"]
    assert m["path"].str.endswith("_OpenFace2.1.0_Pose_gaze_AUs.csv").all()


def test_au_severity_with_and_without_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = write_severity(tmp_path / "AU_features.csv", [0, 1, 3], group=["a", "b", "a"])
    out = tmp_path / "m.parquet"
    assert main(["--format", "au-severity-csv", str(csv_path), "--out", str(out), "--group-column", "person"]) == 0
    m = load_manifest(out)
    assert m["subject_id"].tolist() == ["a", "b", "a"] and m["row"].tolist() == [0, 1, 2]
    assert m["label"].tolist() == [0, 1, 3] and (m["path"] == str(csv_path)).all()
    capsys.readouterr()
    with pytest.warns(UserWarning, match="LEAKS IDENTITY"):
        assert main(["--format", "au-severity-csv", str(csv_path), "--out", str(tmp_path / "f.csv")]) == 0
    assert "LEAKS IDENTITY" in capsys.readouterr().out
    m = load_manifest(tmp_path / "f.csv")
    assert m["subject_id"].tolist() == ["frame0", "frame1", "frame2"]
    assert m["path"].tolist() == [str(csv_path)] * 3


def test_au_severity_bad_file_returns_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = write_severity(tmp_path / "AU_features.csv", [0, 7])
    assert main(["--format", "au-severity-csv", str(csv_path), "--out", str(tmp_path / "m.csv")]) == 1
    assert "data row 2" in capsys.readouterr().err


def test_dir_format_requires_labels(tmp_path: Path) -> None:
    assert main(["--format", "openface-dir", str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 1
