from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.io.daic import (
    find_daic_woz_au_files,
    find_e_daic_au_files,
    read_daic_woz_aus,
    read_daic_woz_labels,
    read_e_daic_labels,
)
from datamodules.io.openface import read_openface_csv

DAIC_COLUMNS = (
    "frame, timestamp, confidence, success, AU01_r, AU02_r, AU04_r, AU05_r, AU06_r, AU09_r, AU10_r, "
    "AU12_r, AU14_r, AU15_r, AU17_r, AU20_r, AU25_r, AU26_r, AU04_c, AU12_c, AU15_c, AU23_c, AU28_c, AU45_c"
)


def daic_au_text(n: int, offset: float = 0.0) -> str:
    rows = []
    for f in range(1, n + 1):
        r = [str(f), f"{(f - 1) / 30:.3f}", "0.93", "1" if f != 2 else "0"]
        r += [f"{offset + 0.1 * f:.2f}"] * 14 + ["1", "0", "1", "0", "0", "1"]
        rows.append(", ".join(r))
    return DAIC_COLUMNS + "\n" + "\n".join(rows) + "\n"


def make_daic_woz(root: Path, with_test_labels: bool = True) -> Path:
    """A fake DAIC-WOZ tree: participants 300 (train), 301 (dev), 302 (test, no AU file)."""
    for pid in ("300", "301"):
        (root / f"{pid}_P").mkdir(parents=True)
        (root / f"{pid}_P" / f"{pid}_CLNF_AUs.txt").write_text(daic_au_text(4, offset=int(pid) - 300))
    (root / "train_split_Depression_AVEC2017.csv").write_text(
        "Participant_ID,PHQ8_Binary,PHQ8_Score,Gender,PHQ8_NoInterest\n300,1,12,1,2\n"
    )
    (root / "dev_split_Depression_AVEC2017.csv").write_text("Participant_ID,PHQ8_Binary,PHQ8_Score,Gender\n301,0,3,0\n")
    if with_test_labels:
        (root / "full_test_split.csv").write_text("Participant_ID,PHQ_Binary,PHQ_Score,Gender\n302,1,15,1\n")
    else:
        (root / "test_split_Depression_AVEC2017.csv").write_text("participant_ID,Gender\n302,1\n")
    return root


def make_e_daic(root: Path) -> Path:
    """A fake E-DAIC tree: 600 (train), 601 (dev), 602 (test) with OpenFace 2.1 AU files."""
    header = "frame, face_id, timestamp, confidence, success, AU01_r, AU45_r, AU01_c, AU28_c"
    for i, pid in enumerate(("600", "601", "602")):
        feat = root / f"{pid}_P" / "features"
        feat.mkdir(parents=True)
        rows = [f"{f}, 0, {f / 30:.3f}, 0.98, 1, {0.5 + i}, 0.1, 1, 0" for f in range(1, 4)]
        (feat / f"{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (root / "labels").mkdir()
    cols = "Participant_ID,Gender,PHQ_Binary,PHQ_Score,PCL-C (PTSD),PTSD Severity\n"
    (root / "labels" / "train_split.csv").write_text(cols + "600,male,1,14,0,20\n")
    (root / "labels" / "dev_split.csv").write_text(cols + "601,female,0,2,0,18\n")
    (root / "labels" / "test_split.csv").write_text(cols + "602,female,1,19,1,50\n")
    return root


def test_read_daic_woz_aus(tmp_path: Path) -> None:
    root = make_daic_woz(tmp_path)
    t = read_daic_woz_aus(root / "301_P" / "301_CLNF_AUs.txt")
    assert t.num_frames == 4 and t.success.tolist() == [True, False, True, True]
    assert len(t.available) == 20 and "AU28_c" in t.available and "AU07_r" not in t.available
    assert t.values[0, ALL_AU_COLUMNS.index("AU01_r")] == pytest.approx(1.1)
    assert np.isnan(t.values[:, ALL_AU_COLUMNS.index("AU07_r")]).all()
    assert t.timestamp[1] == pytest.approx(0.033)


def test_read_daic_woz_labels(tmp_path: Path) -> None:
    labels = read_daic_woz_labels(make_daic_woz(tmp_path))
    assert labels.columns.tolist() == ["subject_id", "label", "score", "split"]
    assert labels.values.tolist() == [["300", 1, 12.0, "train"], ["301", 0, 3.0, "val"], ["302", 1, 15.0, "test"]]
    assert set(find_daic_woz_au_files(tmp_path)) == {"300", "301"}


def test_daic_woz_test_without_labels_skipped(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="split 'test' skipped"):
        labels = read_daic_woz_labels(make_daic_woz(tmp_path, with_test_labels=False))
    assert labels["split"].tolist() == ["train", "val"]


def test_daic_woz_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="train_split_Depression_AVEC2017.csv"):
        read_daic_woz_labels(tmp_path)
    root = make_daic_woz(tmp_path / "a")
    (root / "dev_split_Depression_AVEC2017.csv").write_text("Participant_ID,PHQ8_Binary,PHQ8_Score\n300,1,12\n")
    with pytest.raises(DataFormatError, match="more than one split"):
        read_daic_woz_labels(root)
    (root / "dev_split_Depression_AVEC2017.csv").write_text("Participant_ID,PHQ8_Binary,PHQ8_Score\n301,2,12\n")
    with pytest.raises(DataFormatError, match="data row 1.*PHQ8_Binary"):
        read_daic_woz_labels(root)


def test_e_daic(tmp_path: Path) -> None:
    root = make_e_daic(tmp_path)
    labels = read_e_daic_labels(root)
    assert labels.values.tolist() == [["600", 1, 14.0, "train"], ["601", 0, 2.0, "val"], ["602", 1, 19.0, "test"]]
    files = find_e_daic_au_files(root)
    assert sorted(files) == ["600", "601", "602"]
    t = read_openface_csv(files["601"])
    assert t.num_frames == 3 and t.values[0, ALL_AU_COLUMNS.index("AU01_r")] == pytest.approx(1.5)
    assert t.available == ("AU01_r", "AU45_r", "AU01_c", "AU28_c")
