"""``scripts/calibrate_aus.py``: fit an :class:`AUCalibration` from landmark ``.npz`` files and OpenFace CSVs.

Pairs files by stem (``VIDEO.npz`` <-> ``VIDEO.csv`` or ``VIDEO_openface.csv``; a single file on each side
is paired as is), matches frames (landmark frame ``f`` <-> OpenFace frame ``f + --frame-offset``; the
extractor counts from 0, OpenFace from 1), refuses a pair with no frame overlap naming both files, and
reports per-AU Pearson r on held-out data (predictions pooled): leave-one-video-out with >= 2 videos,
else ``--folds`` contiguous frame blocks, each predicted by a fit on the other blocks.

Example:
    python scripts/calibrate_aus.py landmarks/ openface/ --out calib.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.landmarks import load_landmarks
from datamodules.io.openface import read_openface_csv
from datamodules.preprocessing.aus.calibration import AUCalibration, CalibrationError, fit_calibration
from datamodules.preprocessing.aus.intensity import AU_NAMES, au_features, neutral_baseline, relative_features

OPENFACE_SUFFIXES = ("_openface", "_OpenFace2.1.0_Pose_gaze_AUs")


def _files(path: Path, ext: str) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob(f"*{ext}"))
    if not path.is_file():
        raise CalibrationError(f"{path}: no such file or folder")
    return [path]


def _key(stem: str) -> str:
    for suffix in OPENFACE_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def pair_files(landmarks: Path, openface: Path) -> list[tuple[Path, Path]]:
    """(npz, csv) pairs by stem; a single file on both sides pairs directly. Raises when none pair."""
    npzs, csvs = _files(landmarks, ".npz"), _files(openface, ".csv")
    if len(npzs) == 1 and len(csvs) == 1 and not landmarks.is_dir() and not openface.is_dir():
        return [(npzs[0], csvs[0])]
    by_key = {_key(c.stem): c for c in csvs}
    pairs = [(n, by_key[n.stem]) for n in npzs if n.stem in by_key]
    if not pairs:
        raise CalibrationError(f"no landmark file in {landmarks} pairs by stem with an OpenFace CSV in {openface}")
    return pairs


def openface_frame_table(path: Path) -> pd.DataFrame:
    """``AUxx_r`` of our AUs indexed by OpenFace frame, successful rows only."""
    table = read_openface_csv(path)
    cols = [f"{au}_r" for au in AU_NAMES]
    idx = table.channel_index(cols)
    df = pd.DataFrame(table.values[:, idx], columns=cols, index=pd.Index(table.frame, name="frame"))
    return df[table.success]


def load_pair(npz: Path, csv: Path, frame_offset: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Baseline-relative features and OpenFace intensities of one video, on their common frames."""
    seq = load_landmarks(npz)
    feats = au_features(seq.points, seq.valid)
    rel = relative_features(feats, neutral_baseline(feats))
    rel.index = pd.Index(seq.frame + frame_offset, name="frame")
    of = openface_frame_table(csv)
    common = rel.index.intersection(of.index)
    if not len(common):
        raise CalibrationError(f"{npz} and {csv} share no frame (landmark frames {seq.frame.min()}..{seq.frame.max()} "
                               f"+ offset {frame_offset}, OpenFace {of.index.min()}..{of.index.max()})")
    return rel.loc[common], of.loc[common]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def held_out_r(videos: list[tuple[pd.DataFrame, pd.DataFrame]], ridge: float, folds: int,
               own: bool = True) -> tuple[str, dict[str, float]]:
    """Per-AU r on held-out data (pooled held-out predictions); returns the scheme's name and the r's."""
    preds, truth = [], []
    if len(videos) >= 2:
        scheme = f"leave-one-video-out over {len(videos)} videos"
        for i, (feats, of) in enumerate(videos):
            train = [v for j, v in enumerate(videos) if j != i]
            cal = fit_calibration(pd.concat([f for f, _ in train], ignore_index=True),
                                  pd.concat([o for _, o in train], ignore_index=True), ridge=ridge,
                                  own_feature_only=own)
            preds.append(cal.predict(feats))
            truth.append(of)
    else:
        feats, of = videos[0]
        blocks = np.array_split(np.arange(len(feats)), folds)
        scheme = f"{folds} contiguous frame blocks of {len(feats)} frames, each held out in turn"
        for block in blocks:
            train = np.setdiff1d(np.arange(len(feats)), block)
            cal = fit_calibration(feats.iloc[train], of.iloc[train], ridge=ridge, own_feature_only=own)
            preds.append(cal.predict(feats.iloc[block]))
            truth.append(of.iloc[block])
    p, t = pd.concat(preds, ignore_index=True), pd.concat(truth, ignore_index=True)
    return scheme, {au: _pearson(p[f"{au}_r"].to_numpy(), t[f"{au}_r"].to_numpy()) for au in AU_NAMES}


def run(landmarks: Path, openface: Path, out: Path, ridge: float = 10.0, folds: int = 5,
        frame_offset: int = 1, own: bool = True) -> AUCalibration:
    """Fit on all pairs, report held-out r, save to ``out``; returns the calibration."""
    pairs = pair_files(landmarks, openface)
    videos = [load_pair(n, c, frame_offset) for n, c in pairs]
    scheme, rs = held_out_r(videos, ridge, folds, own)
    cal = fit_calibration(pd.concat([f for f, _ in videos], ignore_index=True),
                          pd.concat([o for _, o in videos], ignore_index=True), ridge=ridge,
                          own_feature_only=own)
    cal.notes.update({"videos": [n.stem for n, _ in pairs], "held_out": scheme,
                      "held_out_r": {au: (None if np.isnan(r) else round(r, 4)) for au, r in rs.items()}})
    cal.save(out)
    print(f"{len(pairs)} video(s); held-out per-AU Pearson r ({scheme}):")
    for au, r in rs.items():
        print(f"  {au}: {r:6.3f}")
    print(f"calibration -> {out}")
    return cal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("landmarks", type=Path, help="landmark .npz file or folder (scripts/extract_landmarks.py)")
    parser.add_argument("openface", type=Path, help="OpenFace 2.x CSV file or folder")
    parser.add_argument("--out", type=Path, required=True, help="calibration JSON to write")
    parser.add_argument("--ridge", type=float, default=10.0, help="L2 penalty on standardised features")
    parser.add_argument("--folds", type=int, default=5, help="contiguous held-out frame blocks with one video")
    parser.add_argument("--frame-offset", type=int, default=1, help="OpenFace frame = landmark frame + this")
    parser.add_argument("--all-features", action="store_true",
                        help="each AU regresses on all 17 geometric features (default: only its own measure)")
    args = parser.parse_args(argv)
    try:
        run(args.landmarks, args.openface, args.out, args.ridge, args.folds, args.frame_offset, not args.all_features)
    except CalibrationError as exc:
        parser.exit(2, f"error: {exc}\n")
    return 0
