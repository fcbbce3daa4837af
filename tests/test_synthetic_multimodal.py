"""Synthetic multimodal (fusion) demo: real formats read back by our readers, shared frames, the planted signal
split across the views (each group's signal in its own view and nowhere else), missing views, determinism."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from datamodules.au_loading import load_au_table
from datamodules.cache import ArrayCache
from datamodules.image_decoding import decode_image
from datamodules.io.au_table import ALL_AU_COLUMNS
from datamodules.io.hrm import index_frame_images
from datamodules.io.landmarks import read_landmark_file
from datamodules.manifest import load_manifest
from datamodules.preprocessing.normalize import normalize_sequence
from datamodules.synthetic.cli import main
from datamodules.synthetic.landmarks import group_features
from datamodules.synthetic.multimodal import (
    CONTROL,
    GROUPS,
    MANIFEST_COLUMNS,
    assign_groups,
    failed_frames,
    generate_multimodal_demo,
)
from datamodules.synthetic.multimodal_faces import CHEEK_BOXES, UNDER_EYE_BOXES, box_pixels, under_eye_contrast

SUBJECTS, FRAMES, FPS = 96, (30, 42), 30.0
# The planted AU pattern (au_simulation.EFFECT_SHIFTS): up AU01/AU04/AU15, down AU06/AU12.
AU_PATTERN = {"AU01_r": 1, "AU04_r": 1, "AU15_r": 1, "AU06_r": -1, "AU12_r": -1}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("fusion")
    return out, generate_multimodal_demo(out, num_subjects=SUBJECTS, frames=FRAMES, fps=FPS, seed=0)


@pytest.fixture(scope="module")
def features(demo: tuple[Path, pd.DataFrame]) -> pd.DataFrame:
    """Per video, hand-computable statistics of each view, read back through the project's readers."""
    out, table = demo
    cache, rows = ArrayCache(None), []
    for r in table.itertuples():
        au = load_au_table(str(out / r.au_path), cache)
        ok = au.success
        means = {c: float(au.values[ok, ALL_AU_COLUMNS.index(c)].mean()) for c in AU_PATTERN}
        row = {"group": r.group, "au04": means["AU04_r"], "au_pattern": sum(s * means[c] for c, s in AU_PATTERN.items())}
        if r.landmarks_path:
            seq = normalize_sequence(read_landmark_file(out / r.landmarks_path), align=True)
            row["mouth_corner"], row["inner_brow_gap"] = group_features(seq.points, seq.valid)
        if r.faces_path:
            crops = index_frame_images(out / r.faces_path)
            row["under_eye"] = float(np.mean([under_eye_contrast(cv2.imread(str(p))) for p in crops.values()]))
        rows.append(row)
    return pd.DataFrame(rows)


def auc_vs_controls(features: pd.DataFrame, column: str, group: str) -> float:
    sub = features[features["group"].isin([group, CONTROL])].dropna(subset=[column])
    return float(roc_auc_score(sub["group"] == group, sub[column]))


def test_files_are_read_back_with_shared_frames_and_timestamps(demo: tuple[Path, pd.DataFrame]) -> None:
    out, table = demo
    cache = ArrayCache(None)
    for r in table.itertuples():
        frames = np.arange(1, r.frames + 1)
        stamps = np.round((frames - 1) / FPS, 3)
        au = load_au_table(str(out / r.au_path), cache)
        np.testing.assert_array_equal(au.frame, frames)
        np.testing.assert_allclose(au.timestamp, stamps, atol=1e-9)
        if r.landmarks_path:
            seq = read_landmark_file(out / r.landmarks_path)
            assert seq.points.shape == (r.frames, 68, 3) and seq.fps == FPS
            np.testing.assert_array_equal(seq.frame, frames)
            np.testing.assert_allclose(seq.timestamp, stamps, atol=1e-9)
            assert 300 < np.median(seq.points[seq.valid, :, 2]) < 900  # camera mm
        if r.faces_path:
            crops = index_frame_images(out / r.faces_path)
            assert set(crops) <= set(frames.tolist()) and len(crops) == r.frames - r.crops_missing
            assert all(p.name == f"frame_det_00_{f:06d}.png" for f, p in crops.items())
    first = next(p for p in sorted((out / table.faces_path.dropna().iloc[0]).iterdir()))
    image = cv2.imread(str(first))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    rgb, notes = decode_image(first)
    np.testing.assert_array_equal(rgb, image[:, :, ::-1])
    assert notes == []
    assert image[0, 0].max() < 20 and image[16, 16].mean() > 40  # OpenFace's black mask around the face


def test_manifest_and_subject_groups(demo: tuple[Path, pd.DataFrame]) -> None:
    out, table = demo
    manifest = load_manifest(out / "manifest.csv")  # validates, and every `path` exists
    raw = pd.read_csv(out / "manifest.csv")
    assert tuple(raw.columns) == MANIFEST_COLUMNS
    assert (raw["path"] == raw["au_path"]).all() and not raw["path"].str.startswith("/").any()
    assert manifest["path"].map(lambda p: Path(p).is_absolute()).all()
    for column in ("landmarks_path", "faces_path"):
        present = raw[column].dropna()
        assert present.map(lambda p: (out / p).exists() and not Path(p).is_absolute()).all()
    assert raw["faces_path"].dropna().str.endswith("_aligned").all()
    subjects = pd.read_csv(out / "subjects.csv")
    assert list(subjects.columns) == ["subject_id", "label", "score", "group"] and len(subjects) == SUBJECTS
    assert (subjects["group"] == CONTROL).eq(subjects["label"] == 0).all()
    assert subjects.loc[subjects["label"] == 1, "group"].tolist() == [GROUPS[i % 2] for i in range(SUBJECTS // 2)]
    assert ((subjects["score"] >= 10) == (subjects["label"] == 1)).all()
    assert assign_groups([0, 1, 1, 0, 1, 1]) == [CONTROL, "aus", "face", CONTROL, "aus", "face"]


def test_missing_views_and_failed_frames_at_the_configured_rates(demo: tuple[Path, pd.DataFrame]) -> None:
    out, table = demo
    raw = pd.read_csv(out / "manifest.csv")
    assert raw["faces_path"].isna().sum() == round(0.08 * SUBJECTS)  # 8 of 96
    assert raw["landmarks_path"].isna().sum() == round(0.05 * SUBJECTS)  # 5 of 96
    assert not (out / "landmarks" / f"{raw.subject_id[raw.landmarks_path.isna()].iloc[0]}_session1.npz").exists()
    assert raw["au_path"].notna().all()
    total = table["frames"].sum()
    au_failed = table["au_failed_frames"]
    lm, faces = table[table.landmark_invalid_frames >= 0], table[table.crops_missing >= 0]
    assert (au_failed > 0).all() and (lm.landmark_invalid_frames > 0).all() and (faces.crops_missing > 0).all()
    # In these 30-42 frame videos the one-burst-per-video floor dominates the 3% rate (default demo: AU 3.4%,
    # landmarks 5.8% -- failed frames and their low-confidence neighbours --, crops 3.0%).
    assert 0.02 < au_failed.sum() / total < 0.12
    assert 0.02 < lm.landmark_invalid_frames.sum() / lm.frames.sum() < 0.2
    assert 0.02 < faces.crops_missing.sum() / faces.frames.sum() < 0.12
    long = failed_frames(np.random.default_rng(0), 200_000, 0.03)
    assert long.mean() == pytest.approx(0.03, abs=0.004) and not failed_frames(np.random.default_rng(0), 50, 0.0).any()
    r = lm.iloc[0]
    au = load_au_table(str(out / r.au_path), ArrayCache(None))
    assert int((~au.success).sum()) == r.au_failed_frames
    seq = read_landmark_file(out / r.landmarks_path)
    assert int((~seq.valid).sum()) == r.landmark_invalid_frames
    assert (np.abs(seq.points[~seq.valid]).sum(axis=(1, 2)) == 0).any()  # failed frames hold zeros, as OpenFace


def test_each_group_carries_its_signal_in_its_own_views_only(features: pd.DataFrame) -> None:
    planted = {"aus": ["au_pattern", "au04"], "face": ["mouth_corner", "inner_brow_gap", "under_eye"]}
    # Planted: AUs up/down (pattern, and AU04 alone); mouth corners lower, inner brows drawn together; darker under eyes.
    assert auc_vs_controls(features, "au_pattern", "aus") > 0.9
    assert auc_vs_controls(features, "au04", "aus") > 0.8
    assert auc_vs_controls(features, "mouth_corner", "face") > 0.9
    assert auc_vs_controls(features, "inner_brow_gap", "face") < 0.05
    assert auc_vs_controls(features, "under_eye", "face") < 0.02
    for group, columns in planted.items():
        for other in set(GROUPS) - {group}:
            for column in columns:  # no signal in another group's view (null AUC sd ~0.07 for 24 vs 48)
                assert 0.2 < auc_vs_controls(features, column, other) < 0.8, (column, other)


def test_appearance_boxes_measure_the_under_eye_shading() -> None:
    assert box_pixels(UNDER_EYE_BOXES[0], 32) == (slice(16, 18), slice(9, 13))
    assert box_pixels(CHEEK_BOXES[1], 32) == (slice(19, 21), slice(19, 23))
    image = np.full((32, 32, 3), 100, np.uint8)
    for box in UNDER_EYE_BOXES:
        image[box_pixels(box, 32)] = 50
    assert under_eye_contrast(image) == pytest.approx(0.5)


def _digests(root: Path) -> dict[str, str]:
    """File -> content digest; ``.npz`` by their arrays (the zip stores write times)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".npz":
            with np.load(path) as data:
                blob = b"".join(data[k].tobytes() for k in sorted(data.files))
        else:
            blob = path.read_bytes()
        out[path.relative_to(root).as_posix()] = hashlib.sha256(blob).hexdigest()
    return out


def test_same_seed_same_data_and_independent_views(tmp_path: Path) -> None:
    kwargs = {"num_subjects": 6, "frames": (20, 26)}
    generate_multimodal_demo(tmp_path / "a", seed=3, **kwargs)
    generate_multimodal_demo(tmp_path / "b", seed=3, **kwargs)
    a = _digests(tmp_path / "a")
    assert a == _digests(tmp_path / "b") and any(k.endswith(".png") for k in a) and any(k.endswith(".npz") for k in a)
    generate_multimodal_demo(tmp_path / "c", seed=4, **kwargs)
    c = _digests(tmp_path / "c")
    assert {k for k in a if a[k] != c.get(k)} >= {"manifest.csv", "openface/sub001_session1.csv"}
    # Each view has its own random stream: dropping every crop folder changes no AU or landmark file.
    generate_multimodal_demo(tmp_path / "d", seed=3, missing_faces=1.0, missing_landmarks=0.0, **kwargs)
    d = _digests(tmp_path / "d")
    assert not any("_aligned/" in k for k in d)
    assert all(d[k] == a[k] for k in d if k.endswith((".csv", ".npz")) and "manifest" not in k)
    with pytest.raises(ValueError, match="missing_faces must be in"):
        generate_multimodal_demo(tmp_path / "e", missing_faces=1.5, **kwargs)


def test_cli_writes_the_fusion_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fusion"
    assert main(["--modality", "fusion", "--out", str(out), "--subjects", "6", "--min-frames", "20",
                 "--max-frames", "24", "--missing-faces", "0.5", "--face-size", "24"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out / 'manifest.csv'}" in text and "subjects per group" in text
    raw = pd.read_csv(out / "manifest.csv")
    assert len(raw) == 6 and raw["faces_path"].isna().sum() == 3
    crop = next((out / raw["faces_path"].dropna().iloc[0]).iterdir())
    assert cv2.imread(str(crop)).shape == (24, 24, 3)
