from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.io.openface import read_openface_csv
from datamodules.io.registry import read_au_file, sniff_au_format

AU_R = ["AU01_r", "AU04_r"]
AU_C = ["AU01_c", "AU28_c"]


def write(path: Path, header: list[str], rows: list[list[object]], spaced: bool = True) -> Path:
    sep = ", " if spaced else ","
    lines = [sep.join(header)] + [sep.join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def col(table, name: str) -> np.ndarray:
    return table.values[:, ALL_AU_COLUMNS.index(name)]


def test_old_format_real_values(realdata: Path) -> None:
    path = realdata / "pyfeat" / "OpenFace_Test.csv"
    with open(path, newline="") as fh:
        reader = csv.reader(fh, skipinitialspace=True)
        header = [h.strip() for h in next(reader)]
        first = next(reader)
    t = read_openface_csv(path)
    assert "face_id" not in header
    assert t.num_frames == 100 and t.values.shape == (100, 35) and t.values.dtype == np.float32
    assert t.frame[0] == int(first[header.index("frame")])
    for c in ("AU01_r", "AU45_r", "AU28_c"):
        assert col(t, c)[0] == pytest.approx(float(first[header.index(c)]), abs=1e-6)
    assert t.available == ALL_AU_COLUMNS
    assert t.success.all() and np.all(np.diff(t.frame) > 0)
    assert t.notes["rows_read"] == 100 and t.notes["values_clipped"] == 0


@pytest.mark.parametrize("name", ["subj01_timepoint01", "subj01_timepoint02", "subj02_timepoint01", "subj02_timepoint02"])
def test_openface2_real_files(realdata: Path, name: str) -> None:
    path = realdata / "opendbm" / f"{name}_openface.csv"
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    assert " AU01_r" in path.read_text().splitlines()[0].split(",")  # the real header has leading spaces
    t = read_openface_csv(path)
    assert t.num_frames == len(rows) - 1
    last = rows[-1]
    assert col(t, "AU12_r")[-1] == pytest.approx(float(last[header.index("AU12_r")]))
    assert t.timestamp[-1] == pytest.approx(float(last[header.index("timestamp")]))
    assert t.confidence[0] == pytest.approx(float(rows[1][header.index("confidence")]))
    assert sniff_au_format(path) == "openface"


def test_several_faces_main_face_chosen(tmp_path: Path) -> None:
    header = ["frame", "face_id", "timestamp", "confidence", "success", *AU_R]
    rows = [[f, 0, f / 30, 0.9, 1, 1.0, 1.0] for f in range(1, 6)]
    rows += [[f, 1, f / 30, 0.95, 1, 2.0, 2.0] for f in range(1, 4)]
    rows += [[f, 2, f / 30, 0.2, 0, 3.0, 3.0] for f in range(1, 7)]  # most rows but never success
    t = read_openface_csv(write(tmp_path / "faces.csv", header, rows))
    assert t.num_frames == 5 and np.all(col(t, "AU01_r") == 1.0)
    assert t.notes["other_face_rows_dropped"] == 9


def test_face_tie_broken_by_confidence(tmp_path: Path) -> None:
    header = ["frame", "face_id", "timestamp", "confidence", "success", "AU01_r"]
    rows = [[1, 0, 0, 0.5, 1, 1.0], [2, 0, 0, 0.5, 1, 1.0], [1, 1, 0, 0.9, 1, 2.0], [2, 1, 0, 0.9, 1, 2.0]]
    t = read_openface_csv(write(tmp_path / "tie.csv", header, rows))
    assert np.all(col(t, "AU01_r") == 2.0) and t.notes["other_face_rows_dropped"] == 2


def test_success_zero_kept_clipping_duplicates_sorting(tmp_path: Path) -> None:
    header = ["frame", "face_id", "timestamp", "confidence", "success", *AU_R, *AU_C]
    rows = [
        [3, 0, 0.066, 0.9, 1, 0.5, 7.0, 0, 0],
        [1, 0, 0.000, 0.9, 1, -0.3, 1.0, 1, 0],
        [2, 0, 0.033, 0.1, 0, 0.2, 0.2, 0, 1],
        [2, 0, 0.033, 0.9, 1, 4.0, 4.0, 1, 1],  # duplicate of frame 2: dropped
        [4, 0, 0.100, 0.9, 1, "", 1.0, 0, 0],  # empty cell stays NaN
    ]
    t = read_openface_csv(write(tmp_path / "mixed.csv", header, rows))
    assert t.frame.tolist() == [1, 2, 3, 4]
    assert t.success.tolist() == [True, False, True, True]
    assert t.notes["duplicate_frames_dropped"] == 1 and t.notes["unsuccessful_frames"] == 1
    assert t.notes["values_clipped"] == 2
    assert col(t, "AU01_r")[:3].tolist() == pytest.approx([0.0, 0.2, 0.5])
    assert col(t, "AU04_r")[2] == 5.0 and np.isnan(col(t, "AU01_r")[3])
    assert t.confidence[1] == pytest.approx(0.1)
    assert t.available == ("AU01_r", "AU04_r", "AU01_c", "AU28_c")
    assert np.isnan(col(t, "AU45_r")).all()


def test_bad_presence_value(tmp_path: Path) -> None:
    path = write(tmp_path / "pres.csv", ["frame", "AU01_c"], [[1, 0], [2, 0.5]])
    with pytest.raises(DataFormatError, match=r"pres\.csv.*data row 2.*AU01_c"):
        read_openface_csv(path)


def test_empty_and_header_only(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataFormatError, match="empty.csv"):
        read_openface_csv(tmp_path / "empty.csv")
    path = write(tmp_path / "header.csv", ["frame", "timestamp", "AU01_r"], [])
    with pytest.raises(DataFormatError, match="header.csv: no data rows"):
        read_openface_csv(path)


def test_missing_au_columns_lists_names(tmp_path: Path) -> None:
    path = write(tmp_path / "noau.csv", ["frame", "timestamp", "x_0"], [[1, 0.0, 3.0]])
    with pytest.raises(DataFormatError, match="noau.csv") as err:
        read_openface_csv(path)
    assert "AU01_r" in str(err.value) and "AU28_c" in str(err.value)


def test_missing_frame_column(tmp_path: Path) -> None:
    path = write(tmp_path / "noframe.csv", ["timestamp", "AU01_r"], [[0.0, 1.0]])
    with pytest.raises(DataFormatError, match=r"noframe.csv: missing column 'frame'"):
        read_openface_csv(path)


def test_unparseable_value_names_column_and_row(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", ["frame", "AU01_r", "AU02_r"], [[1, 0.1, 0.2], [2, 0.3, "abc"]])
    with pytest.raises(DataFormatError, match=r"bad\.csv: data row 2 .*'AU02_r'.*'abc'"):
        read_openface_csv(path)


def test_registry_dispatch(tmp_path: Path, realdata: Path) -> None:
    assert read_au_file(realdata / "pyfeat" / "OpenFace_Test.csv", "openface").num_frames == 100
    with pytest.raises(ValueError, match="unknown AU format"):
        read_au_file(realdata / "pyfeat" / "OpenFace_Test.csv", "csv")
    daic = write(tmp_path / "300_CLNF_AUs.txt", ["frame", "timestamp", "confidence", "success", "AU01_r"], [[1, 0, 0.9, 1, 0.4]])
    assert sniff_au_format(daic) == "daic-woz"
    assert read_au_file(daic).available == ("AU01_r",)
