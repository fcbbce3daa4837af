"""AU calibration (datamodules/preprocessing/aus/calibration.py, calibrate_cli.py): fit, JSON round-trip, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.io.landmarks import LandmarkSequence, save_landmarks
from datamodules.preprocessing.aus.calibrate_cli import load_pair, main, pair_files
from datamodules.preprocessing.aus.calibration import AUCalibration, CalibrationError, fit_calibration
from datamodules.preprocessing.aus.intensity import AU_NAMES, estimate_aus, feature_name
from tests.mesh_helpers import canonical_mesh, posed_mesh, raise_lip_corners


def _features(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 3)), columns=["AU12_geom", "AU45_geom", "AU01_geom"],
                        index=pd.Index(np.arange(n) + 1, name="frame"))


def test_fit_recovers_planted_linear_map() -> None:
    feats = _features()
    of = pd.DataFrame({"AU12_r": 2.0 + 0.8 * feats["AU12_geom"] - 0.3 * feats["AU01_geom"],
                       "AU45_r": 1.5 + 0.5 * feats["AU45_geom"]}, index=feats.index)
    cal = fit_calibration(feats, of, ridge=1e-8)
    np.testing.assert_allclose(cal.weights["AU12"], [0.8, 0.0, -0.3], atol=1e-6)
    np.testing.assert_allclose(cal.weights["AU45"], [0.0, 0.5, 0.0], atol=1e-6)
    assert cal.intercepts["AU12"] == pytest.approx(2.0) and cal.intercepts["AU45"] == pytest.approx(1.5)
    pred = cal.predict(feats)
    np.testing.assert_allclose(pred["AU45_r"], np.clip(of["AU45_r"], 0, 5), atol=1e-6)
    own = fit_calibration(feats, of, ridge=1e-8, own_feature_only=True)
    assert own.weights["AU12"][1:] == [0.0, 0.0] and own.weights["AU12"][0] == pytest.approx(0.8, abs=0.1)


def test_frames_are_matched_on_frame_number() -> None:
    feats = _features()
    of = pd.DataFrame({"AU12_r": 1.0 + feats["AU12_geom"]}, index=feats.index)
    shifted = of.copy()
    shifted.index = shifted.index + 1000
    with pytest.raises(CalibrationError, match="no frame"):
        fit_calibration(feats, shifted)
    # Reversed row order, same frame numbers: same fit.
    a = fit_calibration(feats, of, ridge=1e-8)
    b = fit_calibration(feats, of.iloc[::-1], ridge=1e-8)
    np.testing.assert_allclose(a.weights["AU12"], b.weights["AU12"], atol=1e-9)


def test_save_load_round_trip(tmp_path: Path) -> None:
    feats = _features()
    cal = fit_calibration(feats, pd.DataFrame({"AU12_r": 1 + feats["AU12_geom"]}, index=feats.index))
    path = cal.save(tmp_path / "cal.json")
    assert json.loads(path.read_text())["version"] == 1
    back = AUCalibration.load(path)
    assert back.features == cal.features and back.weights == cal.weights and back.intercepts == cal.intercepts
    pd.testing.assert_frame_equal(back.predict(feats), cal.predict(feats))


@pytest.mark.parametrize("text, message", [
    ("{not json", "not a readable JSON"),
    ('{"format": "other", "version": 1}', "format"),
    ('{"format": "facedep-au-calibration", "version": 99, "features": [], "aus": {}}', "version 99"),
    ('{"format": "facedep-au-calibration", "version": 1, "features": ["a"], "aus": {"AU12": {"intercept": 0}}}',
     "malformed"),
    ('{"format": "facedep-au-calibration", "version": 1, "features": ["a", "b"], '
     '"aus": {"AU12": {"weights": [1.0], "intercept": 0}}}', "1 weights for 2 features"),
])
def test_bad_calibration_file_rejected_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad_cal.json"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=message) as info:
        AUCalibration.load(path)
    assert "bad_cal.json" in str(info.value)


def test_estimate_aus_uses_the_calibration_map() -> None:
    face, smile = canonical_mesh(), raise_lip_corners(canonical_mesh(), 0.05)
    pts = np.stack([posed_mesh(face if t < 20 else smile) for t in range(40)]).astype(np.float32)
    names = [feature_name(a) for a in AU_NAMES]
    weights = {"AU12": [10.0 if n == "AU12_geom" else 0.0 for n in names]}
    cal = AUCalibration(features=names, weights=weights, intercepts={"AU12": 0.25})
    aus = estimate_aus(pts, np.ones(40, bool), calibration=cal)
    assert aus.attrs["calibrated"] == ["AU12"] and len(aus.columns) == 34
    default = estimate_aus(pts, np.ones(40, bool))
    pd.testing.assert_series_equal(aus["AU45_r"], default["AU45_r"])  # uncalibrated AUs keep default gains
    assert aus["AU12_r"].iloc[5] == pytest.approx(0.25, abs=1e-3)  # neutral: intercept
    assert aus["AU12_r"].iloc[30] == pytest.approx(0.25 + 10 * 0.05, abs=1e-3)  # 5 % of face size * 10


def _write_pair(tmp_path: Path, stem: str, frames: int = 60, first_openface_frame: int = 1) -> tuple[Path, Path]:
    lift = 0.02 + 0.02 * np.sin(np.arange(frames) / (3.0 + len(stem)))  # slow: survives the 3-frame median
    pts = np.stack([posed_mesh(raise_lip_corners(canonical_mesh(), x)) for x in lift]).astype(np.float32)
    seq = LandmarkSequence(stem, pts, np.ones(frames, bool), np.arange(frames), np.arange(frames) / 30.0, 30.0)
    (tmp_path / "lm").mkdir(exist_ok=True)
    npz = save_landmarks(seq, tmp_path / "lm" / f"{stem}.npz")
    cols = {"frame": np.arange(frames) + first_openface_frame, "face_id": 0, "timestamp": np.arange(frames) / 30.0,
            "confidence": 0.98, "success": 1}
    cols.update({f"{a}_r": 0.0 for a in AU_NAMES})
    cols["AU12_r"] = 40.0 * lift + 0.1
    (tmp_path / "of").mkdir(exist_ok=True)
    csv = tmp_path / "of" / f"{stem}_openface.csv"
    pd.DataFrame(cols).to_csv(csv, index=False)
    return npz, csv


def test_cli_pairs_by_stem_and_reports_held_out_r(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for stem in ("vid_a", "vid_b"):
        _write_pair(tmp_path, stem)
    assert [(n.stem, c.stem) for n, c in pair_files(tmp_path / "lm", tmp_path / "of")] == [
        ("vid_a", "vid_a_openface"), ("vid_b", "vid_b_openface")]
    assert main([str(tmp_path / "lm"), str(tmp_path / "of"), "--out", str(tmp_path / "cal.json")]) == 0
    out = capsys.readouterr().out
    assert "leave-one-video-out over 2 videos" in out
    cal = AUCalibration.load(tmp_path / "cal.json")
    assert cal.notes["held_out_r"]["AU12"] > 0.99  # OpenFace AU12 is linear in the planted lift


def test_cli_refuses_pair_without_frame_overlap(tmp_path: Path) -> None:
    npz, csv = _write_pair(tmp_path, "vid_c", first_openface_frame=5000)
    with pytest.raises(CalibrationError, match="share no frame") as info:
        load_pair(npz, csv)
    assert "vid_c.npz" in str(info.value) and "vid_c_openface.csv" in str(info.value)
    with pytest.raises(SystemExit):
        main([str(npz), str(csv), "--out", str(tmp_path / "x.json")])
