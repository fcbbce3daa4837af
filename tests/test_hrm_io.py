"""HRM readers (datamodules/io/hrm.py): validation, presence, segments, frame names, AU subsets, registry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.io.hrm import (
    AU_SUBSETS,
    HRM_LABEL_COLUMNS,
    HRM_REGRESSION_COLUMNS,
    find_hrm_label_files,
    frame_number,
    index_frame_images,
    presence,
    read_hrm_au_table,
    read_hrm_labels,
    resolve_au_subset,
    segments,
)
from datamodules.io.registry import read_au_file


def write_hrm_csv(path: Path, labels: Mapping[int, Mapping[str, object]], rating: float | None = None,
                  columns: tuple[str, ...] = HRM_LABEL_COLUMNS) -> Path:
    """An HRM label CSV: one row per frame (in the given order), 0 where ``labels[frame]`` names no code."""
    header = list(columns) + (list(HRM_REGRESSION_COLUMNS) if rating is not None else [])
    lines = [",".join(header)]
    for frame, codes in labels.items():
        row = [str(frame)] + [str(codes.get(c, 0)) for c in columns[1:]]
        if rating is not None:
            row += [str(int(rating))] * 5 + [str(rating)]
        lines.append(",".join(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_constants() -> None:
    assert len(HRM_LABEL_COLUMNS) == 38 and HRM_LABEL_COLUMNS[0] == "frame" and HRM_LABEL_COLUMNS[-1] == "ASD"
    assert len(HRM_REGRESSION_COLUMNS) == 6 and HRM_REGRESSION_COLUMNS[-1] == "Abnormal-avg"
    assert len(AU_SUBSETS["hrm22"]) == 22 and len(AU_SUBSETS["hrm17"]) == 17
    assert len(AU_SUBSETS["openface_r17"]) == 17 and len(AU_SUBSETS["openface_c18"]) == 18
    assert set(AU_SUBSETS["openface_c18"]) - set(AU_SUBSETS["openface_r17"]) == {"AU28"}
    assert set(AU_SUBSETS["hrm17"]) < set(AU_SUBSETS["hrm22"])


def test_read_sorts_and_maps_codes_2_to_5_to_present(tmp_path: Path) -> None:
    path = write_hrm_csv(tmp_path / "S1.csv", {3: {"AU1": 5}, 1: {"AU1": 1, "AU2": 2}, 2: {"AU2": 3, "AU4": 4}})
    table = read_hrm_labels(path)
    assert table["frame"].tolist() == [1, 2, 3] and list(table.columns) == list(HRM_LABEL_COLUMNS)
    assert table["AU2"].tolist() == [2, 3, 0]  # codes kept as in the file
    assert presence(table, ["AU1", "AU2", "AU4"]).tolist() == [[1, 1, 0], [0, 1, 1], [1, 0, 0]]


@pytest.mark.parametrize("bad", ["7", "1.5", "x", "-1", ""])
def test_bad_label_value_names_file_frame_and_column(tmp_path: Path, bad: str) -> None:
    path = write_hrm_csv(tmp_path / "S1.csv", {11: {}, 12: {"AU4": "BAD"}})
    path.write_text(path.read_text().replace("BAD", bad))
    with pytest.raises(DataFormatError) as err:
        read_hrm_labels(path)
    text = str(err.value)
    assert "S1.csv" in text and "line 3" in text and "frame 12" in text and "'AU4'" in text


def test_missing_columns_named(tmp_path: Path) -> None:
    columns = tuple(c for c in HRM_LABEL_COLUMNS if c not in ("AU7", "ASD"))
    path = write_hrm_csv(tmp_path / "S2.csv", {1: {}}, columns=columns)
    with pytest.raises(DataFormatError, match=r"S2\.csv: missing column\(s\) \['AU7', 'ASD'\]"):
        read_hrm_labels(path)


def test_duplicate_frame_and_bad_frame(tmp_path: Path) -> None:
    path = write_hrm_csv(tmp_path / "S3.csv", {1: {}, 2: {}})
    path.write_text(path.read_text() + "2" + ",0" * 37 + "\n")
    with pytest.raises(DataFormatError, match=r"S3\.csv: frame 2 is listed more than once \(lines \[3, 4\]\)"):
        read_hrm_labels(path)
    path.write_text(path.read_text().replace("\n2,", "\n2.5,", 1))
    with pytest.raises(DataFormatError, match=r"line 3, column 'frame'"):
        read_hrm_labels(path)


def test_regression_csv_and_au_table(tmp_path: Path) -> None:
    path = write_hrm_csv(tmp_path / "S4.csv", {1: {"AU1": 1}, 2: {"AU43": 2}, 5: {"AD19": 3}}, rating=2.4)
    table = read_hrm_labels(path)
    assert list(table.columns[-6:]) == list(HRM_REGRESSION_COLUMNS) and table["Abnormal-avg"].tolist() == [2.4] * 3
    seq, rating = read_hrm_au_table(path, ["AU1", "AU43", "AD19"])
    assert list(seq.columns) == ["frame", "segment", "AU1", "AU43", "AD19"]
    assert seq["segment"].tolist() == [0, 0, 1]
    assert seq[["AU1", "AU43", "AD19"]].to_numpy().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert rating.dtype == np.float32 and rating.tolist() == pytest.approx([2.4] * 3)
    seq22, none = read_hrm_au_table(write_hrm_csv(tmp_path / "S5.csv", {1: {}}))
    assert seq22.shape == (1, 24) and none is None
    path.write_text(path.read_text().replace(",2.4\n", ",4.5\n", 1))
    with pytest.raises(DataFormatError, match=r"line 2 \(frame 1\), column 'Abnormal-avg'"):
        read_hrm_labels(path)


def test_registry_reads_hrm_as_canonical_au_table(tmp_path: Path) -> None:
    path = write_hrm_csv(tmp_path / "S6.csv", {1: {"AU1": 3, "AU2X": 1}, 2: {"AU28": 1}, 4: {}})
    table = read_au_file(path, "hrm")
    assert table.values.shape == (3, len(ALL_AU_COLUMNS)) and table.frame.tolist() == [1, 2, 4]
    assert "AU01_c" in table.available and "AU28_c" in table.available and "AU26_c" not in table.available
    assert table.values[:, ALL_AU_COLUMNS.index("AU01_c")].tolist() == [1, 0, 0]
    assert table.values[:, ALL_AU_COLUMNS.index("AU28_c")].tolist() == [0, 1, 0]
    assert np.isnan(table.values[:, ALL_AU_COLUMNS.index("AU01_r")]).all() and table.notes["segments"] == 2


def test_segments() -> None:
    assert segments([1, 2, 3, 7, 8, 10]).tolist() == [0, 0, 0, 1, 1, 2]
    assert segments([5]).tolist() == [0] and segments([]).tolist() == []
    assert segments([4, 4, 5]).tolist() == [0, 1, 1]  # a repeated frame is not consecutive


def test_frame_numbers() -> None:
    assert frame_number("000021.jpg") == 21 and frame_number("21.png") == 21
    assert frame_number("out/S1_aligned/frame_det_00_000021.bmp") == 21
    assert frame_number("img2_0007.jpg") == 7
    assert frame_number("21_0.jpg", r"^(\d+)_") == 21
    with pytest.raises(ValueError, match="natural.jpg: no frame number"):
        frame_number("S1/natural.jpg")


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_index_frame_images(tmp_path: Path) -> None:
    _touch(tmp_path / "a", "000001.jpg", "2.png", "frame_det_00_000003.bmp", "notes.txt", "frame_det_01_000003.bmp")
    found = index_frame_images(tmp_path / "a", glob="frame_det_00_*")
    assert {k: v.name for k, v in found.items()} == {3: "frame_det_00_000003.bmp"}
    with pytest.raises(DataFormatError, match="frame 3 has two images, frame_det_00_000003.bmp and frame_det_01"):
        index_frame_images(tmp_path / "a")
    _touch(tmp_path / "b", "000021.jpg", "21.png")
    with pytest.raises(DataFormatError, match="frame 21 has two images, 000021.jpg and 21.png"):
        index_frame_images(tmp_path / "b")
    _touch(tmp_path / "c", "1.jpg", "face.jpg")
    with pytest.raises(DataFormatError, match="face.jpg: no frame number"):
        index_frame_images(tmp_path / "c")


def test_find_label_files(tmp_path: Path) -> None:
    for rel in ("ASD/S1.csv", "TD/S1.csv", "ASD/S1-backup.csv", "S7.csv"):
        write_hrm_csv(tmp_path / "labels" / rel, {1: {}})
    found = [(s, g, p.relative_to(tmp_path).as_posix()) for s, g, p in find_hrm_label_files(tmp_path)]
    assert found == [("ASD/S1", "ASD", "labels/ASD/S1.csv"), ("S7", None, "labels/S7.csv"),
                     ("TD/S1", "TD", "labels/TD/S1.csv")]
    with pytest.raises(DataFormatError, match="no labels/ folder"):
        find_hrm_label_files(tmp_path / "labels")


def test_au_subsets() -> None:
    assert resolve_au_subset("hrm22") == AU_SUBSETS["hrm22"]
    assert resolve_au_subset(["AU01", "AU2X"]) == ("AU01", "AU2X")
    with pytest.raises(ValueError) as err:
        resolve_au_subset(["AU1", "AU99", "smile"])
    assert "['AU99', 'smile']" in str(err.value) and "'AU2X'" in str(err.value) and "'AU45'" in str(err.value)
    with pytest.raises(ValueError, match="unknown AU subset 'hrm23'.*hrm22"):
        resolve_au_subset("hrm23")
    with pytest.raises(ValueError, match="duplicates"):
        resolve_au_subset(["AU1", "AU1"])
