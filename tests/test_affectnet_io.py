"""AffectNet readers: Kaggle folders (+ labels.csv), the official CSV, label maps, the manifest CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.image_manifest import make_image_manifest, parse_label_map
from datamodules.io.affectnet import (
    LABEL_MAPS,
    read_affectnet_csv,
    read_affectnet_folders,
    read_affectnet_official,
    resolve_label_map,
)
from datamodules.io.au_table import DataFormatError
from datamodules.manifest import load_manifest

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*identity leakage", "ignore:.*skipped 1 image", "ignore:.*not found under"
)


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff not decoded by the readers")
    return path


@pytest.fixture()
def kaggle(tmp_path: Path) -> Path:
    for name in ("happy/a.jpg", "happy/b.jpg", "sad/c.jpg", "anger/d.png", "fear/e.jpg"):
        _touch(tmp_path / name)
    (tmp_path / "notes").mkdir()  # not an emotion: ignored
    return tmp_path


def test_folders_without_labels_csv(kaggle: Path) -> None:
    with pytest.warns(UserWarning, match="identity leakage"):
        df = read_affectnet_folders(kaggle)
    assert sorted(df["emotion"]) == ["anger", "fear", "happy", "happy", "sad"]
    assert (df["label"] == df["emotion"]).all()  # emotions8 keeps the names
    assert df.loc[df["emotion"] == "sad", "subject_id"].item() == "sad/c"  # each image its own subject
    assert Path(df["path"].iloc[0]).is_absolute()
    binary = read_affectnet_folders(kaggle, label_map="depression_binary")
    assert binary["label"].dtype == np.int64
    assert dict(zip(binary["emotion"], binary["label"])) == {"anger": 0, "fear": 0, "happy": 0, "sad": 1}
    broad = read_affectnet_folders(kaggle, label_map="negative_affect")
    assert dict(zip(broad["emotion"], broad["label"])) == {"anger": 1, "fear": 1, "happy": 0, "sad": 1}


def test_empty_class_folder_is_warned(kaggle: Path) -> None:
    (kaggle / "contempt").mkdir()
    with pytest.warns(UserWarning, match=r"class folder .*contempt.* is empty"):
        df = read_affectnet_folders(kaggle)
    assert "empty class folder: contempt" in df.attrs["report"]["notes"]


def test_labels_csv_is_used_and_checked(kaggle: Path) -> None:
    pd.DataFrame({"pth": ["happy/a.jpg", "happy/b.jpg", "sad/c.jpg", "sad/missing.jpg"],
                  "label": ["happy", "surprise", "Sadness", "sad"],  # b: csv disagrees with its folder
                  "relFCs": [0.9, 0.8, 0.7, 0.6], "person": ["p1", "p1", "p2", "p3"]}).to_csv(kaggle / "labels.csv")
    with pytest.warns(UserWarning, match="do not exist"):
        df = read_affectnet_folders(kaggle, group_column="person")
    assert df["emotion"].tolist() == ["happy", "surprise", "sad"]  # labels.csv wins; aliases resolved
    assert df["subject_id"].tolist() == ["p1", "p1", "p2"]
    assert df["relFCs"].tolist() == [0.9, 0.8, 0.7]
    report = df.attrs["report"]
    assert report["skipped"] == {"missing_file": 1}
    assert any("differ from the image's folder" in n for n in report["notes"])
    assert any("not in labels.csv" in n for n in report["notes"])  # anger/d.png, fear/e.jpg


def test_unknown_label_names_the_row(kaggle: Path) -> None:
    pd.DataFrame({"pth": ["happy/a.jpg", "sad/c.jpg"], "label": ["happy", "bored"]}).to_csv(kaggle / "labels.csv")
    with pytest.warns(UserWarning), pytest.raises(DataFormatError, match=r"labels.csv, row 3: emotion 'bored'"):
        read_affectnet_folders(kaggle)


def test_user_label_map_and_dropping(kaggle: Path) -> None:
    mapping = {"Sadness": 1, "happy": 0, "anger": None, "fear": None}
    with pytest.warns(UserWarning):
        df = read_affectnet_folders(kaggle, label_map=mapping)
    assert sorted(zip(df["emotion"], df["label"])) == [("happy", 0), ("happy", 0), ("sad", 1)]
    assert df.attrs["report"]["skipped"] == {"excluded_by_label_map": 2}
    with pytest.warns(UserWarning), pytest.raises(DataFormatError, match="emotion 'anger' is not in the label map"):
        read_affectnet_folders(kaggle, label_map={"happy": 0, "sad": 1, "fear": 0})
    assert resolve_label_map(None) == LABEL_MAPS["emotions8"]
    with pytest.raises(ValueError, match="unknown label map"):
        resolve_label_map("depression")


def _official(tmp_path: Path, codes: list[int], name: str = "training.csv") -> Path:
    rows = []
    for i, code in enumerate(codes):
        rel = f"{100 + i}/img{i}.jpg"
        _touch(tmp_path / "Manually_Annotated_Images" / rel)
        rows.append({"subDirectory_filePath": rel, "face_x": 10 + i, "face_y": 20, "face_width": 50, "face_height": 60,
                     "facial_landmarks": "1.0;2.0;3.0", "expression": code,
                     "valence": -2 if code == 10 else 0.5, "arousal": 0.25})
    pd.DataFrame(rows).to_csv(tmp_path / name, index=False)
    return tmp_path / name


def test_official_csv_skips_codes_8_to_10(tmp_path: Path) -> None:
    path = _official(tmp_path, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 2])
    with pytest.warns(UserWarning) as caught:
        df = read_affectnet_csv(path, label_map="depression_binary")
    assert any("identity leakage" in str(w.message) for w in caught)
    assert df.attrs["report"]["skipped"] == {"expression 8 (none)": 1, "expression 9 (uncertain)": 1,
                                             "expression 10 (no-face)": 2}
    assert len(df) == 9
    assert df["emotion"].tolist()[:8] == ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
    assert df["label"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert df[["face_x", "face_y", "face_width", "face_height"]].iloc[2].tolist() == [12, 20, 50, 60]
    assert df["subject_id"].iloc[0] == "100/img0"
    assert "facial_landmarks" not in df.columns and (df["valence"] == 0.5).all()


def test_official_csv_errors_and_missing_files(tmp_path: Path) -> None:
    path = _official(tmp_path, [1, 12, 2])
    with pytest.raises(DataFormatError, match=r"training.csv, row 3: expression 12"):
        read_affectnet_csv(path, group_column=None)
    path = _official(tmp_path, [1, 2, 0])
    (tmp_path / "Manually_Annotated_Images" / "101/img1.jpg").unlink()
    with pytest.warns(UserWarning, match="not found"):
        df = read_affectnet_csv(path, label_map="depression_binary", group_column="arousal")
    assert df.attrs["report"]["skipped"] == {"missing_file": 1}
    assert df["subject_id"].tolist() == ["0.25", "0.25"]
    with pytest.raises(DataFormatError, match="group column 'person' not found"):
        read_affectnet_csv(path, group_column="person")


def test_official_folder_gives_train_and_test_splits(tmp_path: Path) -> None:
    _official(tmp_path, [1, 2], "training.csv")
    first = pd.read_csv(tmp_path / "training.csv").iloc[:1]
    first.assign(expression=6).to_csv(tmp_path / "validation.csv", index=False)
    with pytest.warns(UserWarning):
        df = read_affectnet_official(tmp_path)
    assert df["split"].tolist() == ["train", "train", "test"]
    assert df["emotion"].tolist() == ["happy", "sad", "anger"]


def test_cli_writes_a_loadable_manifest(kaggle: Path, capsys: pytest.CaptureFixture) -> None:
    out = kaggle / "manifest.csv"
    rc = make_image_manifest(["--format", "affectnet-folders", str(kaggle), "--out", str(out),
                              "--label-map", json.dumps({"sad": 1, "happy": 0, "anger": 0, "fear": None})])
    assert rc == 0
    assert "identity leakage" in capsys.readouterr().err
    raw = pd.read_csv(out)
    assert not raw["path"].str.startswith("/").any()  # relative to the manifest's folder
    df = load_manifest(out)
    assert sorted(df["label"].tolist()) == [0, 0, 0, 1]
    assert make_image_manifest(["--format", "affectnet-csv", str(kaggle), "--out", str(out)]) == 2
    assert parse_label_map("depression_binary") == "depression_binary"
    with pytest.raises(ValueError, match="neither"):
        parse_label_map("sad=1")
