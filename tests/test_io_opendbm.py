from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.io.opendbm import OPENDBM_NAMES, read_opendbm_facau
from datamodules.io.openface import read_openface_csv
from datamodules.io.registry import read_au_file, sniff_au_format


def test_facau_matches_openface_same_video(realdata: Path) -> None:
    # Both files come from subj01_timepoint01.mp4; OpenDBM copies OpenFace's AU values
    # (checked by hand: identical to 2 decimals, the precision OpenFace writes).
    dbm = read_opendbm_facau(realdata / "opendbm" / "subj01_timepoint01_facau.csv")
    of = read_openface_csv(realdata / "opendbm" / "subj01_timepoint01_openface.csv")
    assert dbm.num_frames == of.num_frames == 158
    assert dbm.available == of.available == ALL_AU_COLUMNS
    np.testing.assert_array_equal(dbm.frame, of.frame)
    np.testing.assert_allclose(dbm.values, of.values, atol=0.01)
    np.testing.assert_allclose(dbm.timestamp, of.timestamp, atol=1e-6)
    # first row, read by eye from the file: fac_AU01int 0.37, fac_AU04int 1.44, fac_AU01pres 1.0
    assert dbm.values[0, ALL_AU_COLUMNS.index("AU01_r")] == pytest.approx(0.37)
    assert dbm.values[0, ALL_AU_COLUMNS.index("AU04_r")] == pytest.approx(1.44)
    assert dbm.values[0, ALL_AU_COLUMNS.index("AU01_c")] == 1.0


def test_sniff_and_dispatch(realdata: Path) -> None:
    path = realdata / "opendbm" / "subj01_timepoint01_facau.csv"
    assert sniff_au_format(path) == "opendbm"
    assert read_au_file(path).notes["rows_read"] == 158


def test_name_map() -> None:
    assert OPENDBM_NAMES["fac_AU28pres"] == "AU28_c" and OPENDBM_NAMES["fac_AU45int"] == "AU45_r"
    assert "fac_AU28int" not in OPENDBM_NAMES


def test_synthetic_faces_and_clipping(tmp_path: Path) -> None:
    path = tmp_path / "x_facau.csv"
    path.write_text(
        "fac_AU01int,fac_AU01pres,frame,face_id,timestamp,confidence,success,dbm_master_url\n"
        "-1.0,0.0,2,0,0.033,0.9,1,v.mp4\n"
        "0.5,1.0,1,0,0.0,0.9,1,v.mp4\n"
        "3.0,1.0,1,1,0.0,0.4,0,v.mp4\n"
    )
    t = read_opendbm_facau(path)
    assert t.frame.tolist() == [1, 2]
    assert t.values[:, 0].tolist() == [0.5, 0.0]
    assert t.notes == {**t.notes, "values_clipped": 1, "other_face_rows_dropped": 1}


def test_errors_use_opendbm_names(tmp_path: Path) -> None:
    noau = tmp_path / "noau_facau.csv"
    noau.write_text("frame,timestamp\n1,0.0\n")
    with pytest.raises(DataFormatError, match="noau_facau.csv") as err:
        read_opendbm_facau(noau)
    assert "fac_AU01int" in str(err.value) and "fac_AU28pres" in str(err.value)
    bad = tmp_path / "bad_facau.csv"
    bad.write_text("fac_AU01int,fac_AU01pres,frame\n0.1,2.0,1\n")
    with pytest.raises(DataFormatError, match=r"bad_facau.csv: data row 1 .*'fac_AU01pres'"):
        read_opendbm_facau(bad)
