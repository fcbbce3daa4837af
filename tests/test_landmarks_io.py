"""Landmark readers: real OpenFace/OpenDBM/py-feat files, DAIC-WOZ layout, npz, error messages."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from datamodules.io.au_table import DataFormatError
from datamodules.io.landmarks import (
    LandmarkSequence,
    load_landmarks,
    read_daic_woz_landmarks,
    read_landmark_file,
    read_opendbm_landmarks,
    read_openface_landmarks,
    save_landmarks,
    sniff_landmark_format,
)

OPENFACE_FILES = [f"subj0{s}_timepoint0{t}_openface.csv" for s in (1, 2) for t in (1, 2)]


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return [c.strip() for c in rows[0]], rows[1:]


def _cell(header: list[str], rows: list[list[str]], r: int, name: str) -> float:
    return float(rows[r][header.index(name)])


@pytest.mark.parametrize("name", OPENFACE_FILES)
def test_real_openface_3d(realdata: Path, name: str) -> None:
    path = realdata / "opendbm" / name
    header, rows = _csv_rows(path)
    seq = read_landmark_file(path)
    assert sniff_landmark_format(path) == "openface"
    assert seq.points.shape == (len(rows), 68, 3) and seq.points.dtype == np.float32
    success = np.array([_cell(header, rows, r, "success") for r in range(len(rows))]) > 0.5
    conf = np.array([_cell(header, rows, r, "confidence") for r in range(len(rows))])
    np.testing.assert_array_equal(seq.valid, success & (conf >= 0.8))
    np.testing.assert_array_equal(seq.frame, [int(_cell(header, rows, r, "frame")) for r in range(len(rows))])
    for r, i in ((0, 0), (len(rows) // 2, 33), (len(rows) - 1, 67)):
        for k, axis in enumerate("XYZ"):
            assert seq.points[r, i, k] == np.float32(_cell(header, rows, r, f"{axis}_{i}"))
    assert seq.fps == pytest.approx(30.0, abs=0.01)


def test_real_openface_2d(realdata: Path) -> None:
    path = realdata / "opendbm" / OPENFACE_FILES[0]
    header, rows = _csv_rows(path)
    seq = read_openface_landmarks(path, dims="2d")
    assert seq.points.shape == (158, 68, 3)
    assert (seq.points[..., 2] == 0).all()
    assert seq.points[5, 36, 0] == np.float32(_cell(header, rows, 5, "x_36"))
    assert seq.points[5, 36, 1] == np.float32(_cell(header, rows, 5, "y_36"))


def test_real_opendbm_landmark_file(realdata: Path) -> None:
    path = realdata / "opendbm" / "subj01_timepoint01_landmark_output.csv"
    header, rows = _csv_rows(path)
    assert sniff_landmark_format(path) == "opendbm"
    seq = read_landmark_file(path)
    assert seq.points.shape == (158, 68, 3) and seq.num_valid == 158
    assert (seq.points[..., 2] == 0).all()  # 2D pixels only
    np.testing.assert_array_equal(seq.frame, np.arange(1, 159))
    assert seq.notes["frame_from_row"] == 1 and np.isnan(seq.timestamp).all() and seq.fps is None
    assert seq.points[10, 48, 0] == np.float32(_cell(header, rows, 10, "l48_x"))
    assert seq.points[10, 48, 1] == np.float32(_cell(header, rows, 10, "l48_y"))
    timed = read_opendbm_landmarks(path, fps=30.0)
    assert timed.fps == 30.0 and timed.timestamp[30] == pytest.approx(1.0)
    # Same video as the OpenFace file's 2D landmarks, at more decimals.
    of2d = read_openface_landmarks(realdata / "opendbm" / OPENFACE_FILES[0], dims="2d")
    np.testing.assert_allclose(seq.points, of2d.points, atol=0.051)


def test_real_pyfeat_older_openface(realdata: Path) -> None:
    path = realdata / "pyfeat" / "OpenFace_Test.csv"
    header, rows = _csv_rows(path)
    seq = read_landmark_file(path)  # no face_id column; has X_/Y_/Z_
    assert seq.points.shape == (100, 68, 3) and seq.num_valid == 100
    assert seq.points[7, 8, 2] == np.float32(_cell(header, rows, 7, "Z_8"))


def _write_daic(path: Path, rows: list[list[str]], sep_names: str = "") -> Path:
    names = ["frame", "timestamp", "confidence", "success"] + [f"{a}{sep_names}{i}" for a in "XYZ" for i in range(68)]
    path.write_text(", ".join(names) + "\n" + "\n".join(", ".join(r) for r in rows) + "\n")
    return path


def _daic_rows(n: int = 5) -> tuple[np.ndarray, list[list[str]]]:
    pts = np.random.default_rng(0).normal(0, 30, size=(n, 68, 3)).round(3)
    pts[..., 2] += 500
    rows = []
    for t in range(n):
        coords = [f"{v:g}" for v in pts[t].T.reshape(-1)]  # X0..X67, Y0.., Z0..
        rows.append([str(t + 1), f"{t / 30:.3f}", "0.93", "1"] + coords)
    rows[1][2] = "0.5"  # low confidence
    rows[3][3] = "0"  # failure, with MSVC NaN tokens
    rows[3][4:10] = ["-1.#IND"] * 6
    return pts, rows


def test_daic_woz_landmarks(tmp_path: Path) -> None:
    pts, rows = _daic_rows()
    path = _write_daic(tmp_path / "300_CLNF_features3D.txt", rows)
    assert sniff_landmark_format(path) == "daic-woz"
    seq = read_landmark_file(path)
    assert seq.points.shape == (5, 68, 3)
    np.testing.assert_array_equal(seq.valid, [True, False, True, False, True])
    np.testing.assert_allclose(seq.points[[0, 2, 4]], pts[[0, 2, 4]], atol=1e-3)
    assert seq.notes["low_confidence_frames"] == 1 and seq.notes["unsuccessful_frames"] == 1
    assert np.isfinite(seq.points).all()  # NaN of the failed frame zeroed
    # Underscore spelling, file name without the DAIC suffix: sniffed by header.
    other = _write_daic(tmp_path / "renamed.txt", rows, sep_names="_")
    np.testing.assert_array_equal(read_daic_woz_landmarks(other).points, seq.points)


def test_main_face_sort_and_dedupe(tmp_path: Path) -> None:
    names = ["frame", "face_id", "timestamp", "confidence", "success"] + [f"{a}_{i}" for a in "XYZ" for i in range(68)]
    def row(frame: int, face: int, value: float) -> str:
        return ", ".join([str(frame), str(face), f"{(frame - 1) / 30:.3f}", "0.98", "1"] + [f"{value}"] * 204)
    lines = [row(2, 0, 2.0), row(1, 0, 1.0), row(1, 1, 9.0), row(2, 0, 7.0), row(3, 0, 3.0)]
    path = tmp_path / "multi.csv"
    path.write_text(", ".join(names) + "\n" + "\n".join(lines) + "\n")
    seq = read_openface_landmarks(path)
    np.testing.assert_array_equal(seq.frame, [1, 2, 3])
    np.testing.assert_array_equal(seq.points[:, 0, 0], [1.0, 2.0, 3.0])
    assert seq.notes["other_face_rows_dropped"] == 1 and seq.notes["duplicate_frames_dropped"] == 1


@pytest.mark.parametrize("fps", [None, 25.0])
def test_npz_round_trip(tmp_path: Path, fps: float | None) -> None:
    rng = np.random.default_rng(1)
    seq = LandmarkSequence("video.mp4", rng.normal(size=(7, 468, 3)).astype(np.float32), rng.random(7) > 0.3,
                           np.arange(7) * 2, np.arange(7) / 15.0, fps, {"frames_decoded": 7})
    path = save_landmarks(seq, tmp_path / "v.npz")
    back = read_landmark_file(path)
    assert back.source == str(path) and back.fps == fps and back.notes == {"frames_decoded": 7}
    for name in ("points", "valid", "frame", "timestamp"):
        np.testing.assert_array_equal(getattr(back, name), getattr(seq, name))
    assert load_landmarks(path).points.dtype == np.float32


def test_bad_inputs_name_file_and_columns(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="empty.csv.*empty"):
        read_openface_landmarks(empty)

    names = ["frame", "confidence", "success"] + [f"{a}_{i}" for a in "XYZ" for i in range(68)]
    header_only = tmp_path / "header.csv"
    header_only.write_text(", ".join(names) + "\n")
    with pytest.raises(DataFormatError, match="header.csv: no data rows"):
        read_openface_landmarks(header_only)

    missing = tmp_path / "missing.csv"
    cut = [n for n in names if n not in ("Y_3", "Z_5")]
    missing.write_text(", ".join(cut) + "\n" + ", ".join(["1", "0.9", "1"] + ["1.0"] * (len(cut) - 3)) + "\n")
    with pytest.raises(DataFormatError, match=r"missing.csv: missing landmark columns \['Y_3', 'Z_5'\]"):
        read_openface_landmarks(missing)

    bad = tmp_path / "bad.csv"
    values = [["1", "0.9", "1"] + ["1.0"] * 204, ["2", "0.9", "1"] + ["1.0"] * 204]
    values[1][3 + 2] = "abc"  # X_2 of data row 2
    bad.write_text(", ".join(names) + "\n" + "\n".join(", ".join(v) for v in values) + "\n")
    with pytest.raises(DataFormatError, match=r"bad.csv: data row 2 .*column 'X_2'.*'abc'"):
        read_openface_landmarks(bad)

    with pytest.raises(DataFormatError, match="nothing.csv: no landmark columns"):
        p = tmp_path / "nothing.csv"
        p.write_text("a, b\n1, 2\n")
        read_landmark_file(p)
    with pytest.raises(ValueError, match="unknown landmark format"):
        read_landmark_file(bad, fmt="dlib")

    npz = tmp_path / "other.npz"
    np.savez(npz, points=np.zeros((1, 68, 3)))
    with pytest.raises(DataFormatError, match=r"other.npz: not a landmark npz, missing arrays \['valid'"):
        load_landmarks(npz)


def test_no_valid_frame_is_a_warning(tmp_path: Path) -> None:
    names = ["frame", "confidence", "success"] + [f"{a}_{i}" for a in "XYZ" for i in range(68)]
    path = tmp_path / "failed.csv"
    rows = [[str(t), "0.1", "0"] + ["0"] * 204 for t in (1, 2, 3)]
    path.write_text(", ".join(names) + "\n" + "\n".join(", ".join(r) for r in rows) + "\n")
    with pytest.warns(UserWarning, match="failed.csv: no valid landmark frame"):
        seq = read_landmark_file(path)
    assert seq.num_frames == 3 and not seq.valid.any() and seq.notes["no_valid_frames"] == 1


def test_sequence_validates_shapes() -> None:
    with pytest.raises(DataFormatError, match=r"demo: points shape \(2, 68\)"):
        LandmarkSequence("demo", np.zeros((2, 68)), np.ones(2, bool), np.arange(2), np.zeros(2))
    with pytest.raises(DataFormatError, match="demo: valid shape"):
        LandmarkSequence("demo", np.zeros((2, 68, 3)), np.ones(3, bool), np.arange(2), np.zeros(2))
    with pytest.raises(DataFormatError, match="not strictly increasing"):
        LandmarkSequence("demo", np.zeros((2, 68, 3)), np.ones(2, bool), np.array([2, 1]), np.zeros(2))
