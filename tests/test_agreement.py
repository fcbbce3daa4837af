"""AU agreement (#15.4): statistics against hand-computed values, frame matching, bad input, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.io.au_table import DataFormatError
from facedep.evaluation.agreement import (
    au_agreement,
    icc_3_1,
    match_frames,
    pearson_r,
    presence_f1,
    read_au_frames,
    summarize_agreement,
)
from facedep.evaluation.agreement_cli import main


def write_openface(path: Path, columns: dict[str, list[float]]) -> Path:
    """A CSV in OpenFace's spelling: a space after every comma of the header and of the rows."""
    df = pd.DataFrame(columns)
    lines = [", ".join(df.columns)] + [", ".join(f"{v:g}" for v in row) for row in df.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- statistics, hand-computed on x = [1, 2, 3, 4], y = [2, 2, 4, 5] ---------------------------------

X, Y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 4.0, 5.0])


def test_pearson_by_hand() -> None:
    # dx = (-1.5, -.5, .5, 1.5), dy = (-1.25, -1.25, .75, 1.75): sum dx dy = 5.5, sxx = 5, syy = 6.75
    assert pearson_r(X, Y) == pytest.approx(5.5 / math.sqrt(5 * 6.75))


def test_icc_3_1_by_hand_anova() -> None:
    # grand mean 23/8; SS_rows = 11.375 (MSR = 91/24), SS_cols = 1.125, SS_total = 12.875 -> MSE = 0.375/3
    # ICC(3,1) = (MSR - MSE) / (MSR + MSE) = (88/24) / (94/24)
    assert icc_3_1(X, Y) == pytest.approx(44 / 47)


def test_icc_3_1_textbook_two_rater_form_and_offset() -> None:
    """For k = 2, ICC(3,1) = 2 cov / (var x + var y); an offset between raters leaves it, a scale lowers it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = 0.7 * x + rng.normal(scale=0.5, size=200)
    cov = np.cov(x, y)
    assert icc_3_1(x, y) == pytest.approx(2 * cov[0, 1] / (cov[0, 0] + cov[1, 1]))
    assert icc_3_1(x, x + 3.0) == pytest.approx(1.0)
    assert pearson_r(x, 2 * x) == pytest.approx(1.0) and icc_3_1(x, 2 * x) == pytest.approx(0.8)  # 4/5


def test_presence_f1_by_hand() -> None:
    assert presence_f1(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 1, 0, 1])) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert math.isnan(presence_f1(np.zeros(4), np.zeros(4)))
    assert presence_f1(np.array([1, 0]), np.zeros(2)) == 0.0


def test_au_agreement_table_by_hand() -> None:
    ours = pd.DataFrame({"frame": [1, 2, 3, 4], "AU12_r": X, "AU12_c": [0, 1, 1, 1], "AU45_r": X})
    ref = pd.DataFrame({"frame": [1, 2, 3, 4], "AU12_r": Y, "AU12_c": [0, 0, 1, 1], "AU45_r": [1.0, 1, 1, 1]})
    table = au_agreement(ours, ref).set_index("au")
    row = table.loc["AU12"]
    assert row["n"] == 4
    assert row["pearson_r"] == pytest.approx(5.5 / math.sqrt(33.75))
    assert row["icc_3_1"] == pytest.approx(44 / 47)
    assert row["mad"] == pytest.approx(0.75)
    assert row["presence_f1"] == pytest.approx(0.8)  # tp 2, fp 1, fn 0
    assert row["reference_std"] == pytest.approx(np.std(Y, ddof=1)) and row["moving"]
    constant = table.loc["AU45"]  # constant in the reference: NaN, a note, no error
    assert math.isnan(constant["pearson_r"]) and math.isnan(constant["icc_3_1"])
    assert constant["note"] == "constant in reference" and not constant["moving"]
    assert math.isnan(constant["presence_f1"])  # no AU45_c in either


# --- frame matching ---------------------------------------------------------------------------------

def test_match_frames_with_gaps_and_failed_frames() -> None:
    ours = pd.DataFrame({"frame": [1, 2, 3, 4, 5, 6], "success": [True, True, False, True, True, True],
                         "AU45_r": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    ref = pd.DataFrame({"frame": [2, 3, 4, 6, 7], "success": [True, True, True, False, True],
                        "AU45_r": [10.0, 20.0, 30.0, 50.0, 60.0]})
    m = match_frames(ours, ref)
    assert m.frame.tolist() == [2, 4]
    assert m.ours["AU45_r"].tolist() == [1.0, 3.0] and m.reference["AU45_r"].tolist() == [10.0, 30.0]
    assert m.counts == {"matched": 2, "only_ours": 2, "only_reference": 1, "failed": 2}
    assert au_agreement(ours, ref).attrs["counts"] == m.counts


# --- reading ----------------------------------------------------------------------------------------

def test_read_strips_header_spaces_and_reads_success(tmp_path: Path) -> None:
    path = write_openface(tmp_path / "a.csv", {"frame": [2, 1], "face_id": [0, 0], "success": [1, 0],
                                              "AU12_r": [0.5, 1.5], "AU12_c": [1, 0], "pose_Rx": [0.1, 0.2]})
    assert path.read_text().startswith("frame, face_id, success, AU12_r")
    df = read_au_frames(path)
    assert list(df.columns) == ["frame", "success", "AU12_r", "AU12_c"]
    assert df["frame"].tolist() == [1, 2] and df["success"].tolist() == [False, True]
    assert df["AU12_r"].tolist() == [1.5, 0.5]


@pytest.mark.parametrize(("columns", "expected"), [
    ({"face_id": [0], "AU12_r": [1.0]}, "column 'frame'"),
    ({"frame": [1], "confidence": [0.9]}, "no AU columns"),
    ({"frame": [1, 2, 2, 3, 3], "AU12_r": [0.0] * 5}, "2 frame number(s) repeat (2, 3)"),
])
def test_read_rejects_bad_files_naming_them(tmp_path: Path, columns: dict, expected: str) -> None:
    path = write_openface(tmp_path / "bad.csv", columns)
    with pytest.raises(DataFormatError) as err:
        read_au_frames(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_read_rejects_a_text_cell_naming_column_and_row(tmp_path: Path) -> None:
    path = tmp_path / "text.csv"
    path.write_text("frame, AU12_r\n1, 0.5\n2, high\n")
    with pytest.raises(DataFormatError, match=r"text\.csv: column 'AU12_r', data row 2: cannot parse 'high'"):
        read_au_frames(path)


# --- summary ----------------------------------------------------------------------------------------

def test_summary_goal_and_an_undefined_moving_au_counts_as_zero() -> None:
    table = pd.DataFrame({"au": ["AU01", "AU12", "AU26", "AU45"], "pearson_r": [0.9, 0.65, np.nan, 0.75],
                          "reference_std": [0.1, 0.5, 0.3, 0.4]})
    s = summarize_agreement(table)
    assert s.moving_aus == ["AU12", "AU26", "AU45"] and s.undefined_aus == ["AU26"]
    assert s.median_r == pytest.approx(0.65) and s.au45_r == 0.75 and s.goal_met
    assert "AU26" in s.line() and "goal met" in s.line()
    stricter = summarize_agreement(table.assign(pearson_r=[0.9, 0.65, np.nan, 0.69]))
    assert not stricter.goal_met and "goal not met" in stricter.line()
    assert summarize_agreement(table, moving_std=0.45).moving_aus == ["AU12"]


# --- the CLI ----------------------------------------------------------------------------------------

def _pair(folder: Path, name: str, shift: float = 0.0) -> tuple[Path, Path]:
    rng = np.random.default_rng(len(name))
    t = np.arange(1, 61)
    ref = np.clip(np.sin(t / 5.0) + 1.0 + 0.05 * rng.normal(size=60), 0, 5)
    blink = (t % 15 == 0).astype(float) * 2.0
    (folder / "ours").mkdir(exist_ok=True)
    (folder / "ref").mkdir(exist_ok=True)
    ours = write_openface(folder / "ours" / f"{name}.csv", {
        "frame": t, "success": np.ones(60), "AU12_r": ref + shift, "AU12_c": ref > 1, "AU45_r": blink})
    reference = write_openface(folder / "ref" / f"{name}.csv", {
        "frame": t, "success": np.ones(60), "AU12_r": ref, "AU12_c": ref > 1, "AU45_r": blink})
    return ours, reference


def test_cli_writes_table_markdown_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours, reference = _pair(tmp_path, "video1", shift=0.5)
    out = tmp_path / "out"
    assert main([str(ours), str(reference), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "AU12" in printed and "60 frames matched" in printed and "goal met" in printed
    table = pd.read_csv(out / "agreement.csv").set_index("au")
    assert table.loc["AU12", "pearson_r"] == pytest.approx(1.0) and table.loc["AU12", "mad"] == pytest.approx(0.5)
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["AU12.png", "AU45.png"]
    assert (out / "plots" / "AU12.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "agreement.md").read_text()
    assert "| AU12 | 60 | 1.000 | 1.000 | 0.500 |" in md and "plots/AU12.png" in md


def test_cli_pairs_folders_by_stem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pair(tmp_path, "a")
    _pair(tmp_path, "bb", shift=1.0)
    write_openface(tmp_path / "ours" / "lonely.csv", {"frame": [1], "AU12_r": [0.0]})
    out = tmp_path / "out"
    assert main([str(tmp_path / "ours"), str(tmp_path / "ref"), "--out", str(out), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "120 frames matched" in printed and "over 2 videos" in printed and "Only in ours (skipped): lonely" in printed
    per_video = pd.read_csv(out / "agreement_per_video.csv")
    assert sorted(per_video["video"].unique()) == ["a", "bb"]
    mad = per_video.set_index(["video", "au"])["mad"]
    assert mad[("a", "AU12")] == pytest.approx(0.0) and mad[("bb", "AU12")] == pytest.approx(1.0)
    pooled = pd.read_csv(out / "agreement.csv").set_index("au")
    assert pooled.loc["AU12", "n"] == 120 and pooled.loc["AU12", "mad"] == pytest.approx(0.5)
    assert not (out / "plots").exists()


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, _ = _pair(tmp_path, "v")
    bad = write_openface(tmp_path / "noframe.csv", {"AU12_r": [1.0]})
    assert main([str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "noframe.csv" in err and "'frame'" in err
    assert main([str(good), str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


# --- the shared OpenFace CSV (skips without ../shared) ----------------------------------------------

@pytest.fixture(scope="module")
def openface_frames(realdata: Path) -> pd.DataFrame:
    return read_au_frames(realdata / "opendbm" / "subj01_timepoint01_openface.csv")


def test_real_csv_against_itself_agrees_perfectly(openface_frames: pd.DataFrame) -> None:
    table = au_agreement(openface_frames, openface_frames)
    assert len(table) == 17 and (table["n"] == 158).all()
    varying = table[table["reference_std"] > 0]
    assert len(varying) >= 10
    assert np.allclose(varying["pearson_r"], 1.0) and np.allclose(varying["icc_3_1"], 1.0)
    assert np.allclose(table["mad"], 0.0)
    assert summarize_agreement(table).goal_met


def test_real_csv_noisy_and_shifted_copies_lower_r(openface_frames: pd.DataFrame) -> None:
    ref = openface_frames
    sd = float(ref["AU45_r"].std())
    rng = np.random.default_rng(0)
    noisy = ref.assign(AU45_r=ref["AU45_r"] + rng.normal(scale=sd, size=len(ref)))  # expected r ~ 1/sqrt(2)
    r_noisy = au_agreement(noisy, ref).set_index("au").loc["AU45", "pearson_r"]
    assert r_noisy == pytest.approx(1 / math.sqrt(2), abs=0.12)
    r_by_shift = []
    for shift in (1, 4):
        table = au_agreement(ref.assign(frame=ref["frame"] + shift), ref)
        assert table.attrs["counts"]["matched"] == len(ref) - shift
        r_by_shift.append(table.set_index("au").loc["AU45", "pearson_r"])
    assert 1.0 > r_by_shift[0] > r_by_shift[1]
