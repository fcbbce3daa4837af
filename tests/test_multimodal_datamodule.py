"""MultimodalDataModule on tiny files in the real formats: OpenFace CSV (AUs), landmark npz, PNG/BMP crops, mp4."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import default_collate

from datamodules import MultimodalDataModule
from datamodules.au_sequence import AUSequenceDataModule
from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.io.landmarks import LandmarkSequence, load_landmarks, save_landmarks
from datamodules.multimodal_views import align, align_timestamps, ViewTrack
from datamodules.preprocessing.normalize import normalize_sequence
from datamodules.synthetic.landmarks import face_template
from datamodules.synthetic.openface_csv import make_openface_csv
from datamodules.window_dataset import collate_windows

TEMPLATE = face_template().astype(np.float32)  # (68, 3)


# ---- writers ------------------------------------------------------------------------------------
def write_aus(path: Path, frames: np.ndarray, success: np.ndarray | None = None, level: float | None = None,
              timestamp: np.ndarray | None = None) -> Path:
    """AU01_r = frame / 4 (exact in float16), or ``level`` everywhere; the other channels small noise."""
    values = np.zeros((len(frames), len(ALL_AU_COLUMNS)))
    values[:, 0] = frames / 4 if level is None else level
    values[:, 1] = (frames % 3) / 2
    return make_openface_csv(path, values, success=success, frame=frames, timestamp=timestamp)


def write_landmarks(path: Path, frames: np.ndarray, points: int = 68, valid: np.ndarray | None = None,
                    timestamp: np.ndarray | None = None, scale: float = 1.0) -> Path:
    """68 points of a face whose jaw point 0 moves with the frame number (so frames are told apart)."""
    pts = np.repeat(TEMPLATE[None], len(frames), axis=0) * scale
    pts[:, 0, 0] += frames * 0.01 * scale
    if points != 68:
        pts = np.concatenate([pts, np.repeat(pts[:, :1], points - 68, axis=1)], axis=1)
    stamps = (frames - 1) / 30 if timestamp is None else timestamp
    seq = LandmarkSequence(str(path), pts, np.ones(len(frames), bool) if valid is None else valid, frames, stamps, 30.0)
    return save_landmarks(seq, path)


def write_crops(folder: Path, frames: np.ndarray, level: int | None = None, suffix: str = "bmp") -> Path:
    """OpenFace-style aligned crops; red = 10 * frame (or ``level``), green 100, blue 200."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        rgb = np.zeros((12, 12, 3), np.uint8)
        rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10 * f if level is None else level, 100, 200
        cv2.imwrite(str(folder / f"frame_det_00_{f:06d}.{suffix}"), rgb[..., ::-1])
    return folder


def write_video(path: Path, frames: int = 6, image: np.ndarray | None = None) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 40 + 10 * i, np.uint8) if image is None else image)
    writer.release()
    return path


def subjects(tmp_path: Path, n: int = 6, frames: int = 24, split: bool = False, **columns: dict[int, object]) -> Path:
    """``n`` subjects (label i % 2), one video each with all three views over frames 1..``frames``; ``columns``
    override a subject's cells (``landmarks_path={2: ""}``)."""
    rows = []
    span = np.arange(1, frames + 1)
    for i in range(n):
        row = {"subject_id": f"s{i}", "path": str(write_aus(tmp_path / f"s{i}.csv", span)), "label": i % 2,
               "score": float(3 * i), "landmarks_path": write_landmarks(tmp_path / f"s{i}.npz", span).name,
               "faces_path": write_crops(tmp_path / f"s{i}_aligned", span).name}
        if split:
            row["split"] = "train" if i < n // 2 else "test"
        for column, cells in columns.items():
            if i in cells:
                row[column] = cells[i]
        rows.append(row)
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def module(manifest: Path, **kwargs) -> MultimodalDataModule:
    settings = {"window": 8, "stride": 4, "num_folds": 3, "cache_dir": None, "batch_size": 4, **kwargs}
    return MultimodalDataModule(str(manifest), **settings)


def window_of(dataset, video: int, start: int) -> dict:
    (i,) = np.flatnonzero((dataset.video_ids[dataset.index[:, 0]] == video) & (dataset.index[:, 1] == start))
    return dataset.batch_of([int(i)])


# ---- alignment --------------------------------------------------------------------------------
def test_alignment_by_frame_number_hand_checked(tmp_path: Path) -> None:
    """Views over different frame ranges: AUs 1..12 (frame 4 failed), landmarks 3..14, crops 5..10 and 12."""
    manifest = subjects(tmp_path, n=4, split=True)
    table = pd.read_csv(manifest)
    au_frames, lm_frames, face_frames = np.arange(1, 13), np.arange(3, 15), np.array([5, 6, 7, 8, 9, 10, 12])
    write_aus(tmp_path / "v.csv", au_frames, success=(au_frames != 4).astype(float))
    write_landmarks(tmp_path / "v.npz", lm_frames)
    write_crops(tmp_path / "v_faces", face_frames, suffix="png")
    table.loc[0, ["path", "landmarks_path", "faces_path"]] = [str(tmp_path / "v.csv"), "v.npz", "v_faces"]
    table.to_csv(manifest, index=False)

    dm = module(manifest, split="column", stride=2, standardize=False)
    dm.setup("fit")
    train = dm.datasets["train"]
    video = int(dm.videos.loc[dm.videos["subject_id"] == "s0", "video_index"].iloc[0])
    assert sorted(train.index[train.index[:, 0] == 0, 1].tolist()) == [0, 2, 4, 6]  # timeline 1..14

    first = window_of(train, video, 0)["x"]  # frames 1..8
    assert first["present"].tolist() == [[True, True, True]]  # AUs 7/8, landmarks 6/8, faces 4/8 (= 0.5)
    np.testing.assert_array_equal(first["aus"][0, :, 0].numpy(), [0.25, 0.5, 0.75, 0, 1.25, 1.5, 1.75, 2.0])
    expected = normalize_sequence(load_landmarks(tmp_path / "v.npz")).points
    np.testing.assert_allclose(first["landmarks"][0, 2:].numpy(), expected[:6], atol=1e-6)  # frames 3..8
    assert not first["landmarks"][0, :2].any()  # frames 1, 2: no landmarks
    # 4 crops at window positions 0, 2, 5, 7 -> frames 1, 3, 6, 8 -> nearest valid crops 5, 5, 6, 8
    np.testing.assert_allclose(first["faces"][0, :, 0, 0, 0].numpy() * 255, [50, 50, 60, 80], atol=1e-3)
    np.testing.assert_allclose(first["faces"][0, :, 1].numpy() * 255, 100, atol=1e-3)

    last = window_of(train, video, 6)["x"]  # frames 7..14
    np.testing.assert_array_equal(last["aus"][0, :, 0].numpy(), [1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 0, 0])
    np.testing.assert_allclose(last["landmarks"][0].numpy(), expected[4:12], atol=1e-6)  # frames 7..14
    # positions 0, 2, 5, 7 -> frames 7, 9, 12, 14 -> 14 has no crop: nearest valid is 12
    np.testing.assert_allclose(last["faces"][0, :, 0, 0, 0].numpy() * 255, [70, 90, 120, 120], atol=1e-3)

    views = dm.data_report["train"]["views"]
    others = 24 * 1  # s1 (train) has all views on every frame
    assert dm.data_report["train"]["frames"]["timeline"] == 14 + others
    assert views["aus"]["frames_missing"] == 3  # frame 4 failed, 13 and 14 absent
    assert views["landmarks"]["frames_missing"] == 2  # frames 1, 2
    assert views["faces"]["frames_missing"] == 14 - 7
    assert views["aus"]["frames"]["dropped_failed"] == 1


def test_alignment_on_timestamps_matches_within_half_a_frame(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=4, split=True)
    table = pd.read_csv(manifest)
    au_frames = np.arange(1, 13)
    write_aus(tmp_path / "v.csv", au_frames, timestamp=(au_frames - 1) / 30)
    lm_frames = np.arange(101, 113)  # another numbering; times 4 frames later, jittered by 10 ms
    write_landmarks(tmp_path / "v.npz", lm_frames, timestamp=(lm_frames - 97) / 30 + 0.01)
    table.loc[0, ["path", "landmarks_path"]] = [str(tmp_path / "v.csv"), "v.npz"]
    table.to_csv(manifest, index=False)
    dm = module(manifest, split="column", views=["aus", "landmarks"], align_on="timestamp", standardize=False)
    dm.setup("fit")
    train = dm.datasets["train"]
    video = int(dm.videos.loc[dm.videos["subject_id"] == "s0", "video_index"].iloc[0])
    assert train.videos[0].length == 16  # AU times 0..11 frames, landmark times 4..15 frames
    x = window_of(train, video, 4)["x"]  # timeline points 5..12: AU frames 5..12, landmark frames 101..108
    np.testing.assert_array_equal(x["aus"][0, :, 0].numpy(), np.arange(5, 13) / 4)
    expected = normalize_sequence(load_landmarks(tmp_path / "v.npz")).points
    np.testing.assert_allclose(x["landmarks"][0].numpy(), expected[:8], atol=1e-6)
    with pytest.raises(DataFormatError, match="align_on: timestamp needs timestamps"):
        empty = {"aus": ViewTrack(np.array([1]), np.array([np.nan]), np.array([True]), np.zeros((1, 1)))}
        align_timestamps(empty, {"aus": "a.csv"})
    assert align(empty).frame.tolist() == [1]


# ---- missing views, coverage ------------------------------------------------------------------
def test_missing_landmarks_are_masked_zeros_and_counted(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=4, split=True, landmarks_path={1: ""})
    dm = module(manifest, split="column")
    dm.setup("fit")
    train = dm.datasets["train"]
    video = int(dm.videos.loc[dm.videos["subject_id"] == "s1", "video_index"].iloc[0])
    mine = np.flatnonzero(train.video_ids[train.index[:, 0]] == video)
    batch = train.batch_of(mine.tolist())
    assert batch["x"]["present"][:, 1].tolist() == [False] * len(mine)  # landmarks column
    assert batch["x"]["present"][:, [0, 2]].all()
    assert not batch["x"]["landmarks"].any() and batch["x"]["aus"].abs().sum() > 0
    views = dm.data_report["train"]["views"]
    assert views["landmarks"]["videos_missing"] == 1 and views["landmarks"]["windows_masked"] == len(mine)
    assert views["landmarks"]["frames_missing"] == 24 and views["aus"]["videos_missing"] == 0
    report = json.loads(dm.write_report(tmp_path / "data_report.json").read_text())
    assert report["test"]["views"]["landmarks"]["videos_missing"] == 0


def test_min_view_coverage_masks_thin_views_and_drops_empty_windows(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=6, split=True)
    table = pd.read_csv(manifest)
    write_crops(tmp_path / "half", np.arange(1, 13))  # faces only on frames 1..12 of 24
    write_aus(tmp_path / "thin.csv", np.arange(1, 25), success=(np.arange(1, 25) % 4 == 0).astype(float))
    table.loc[0, "faces_path"] = "half"
    table.loc[2, ["path", "landmarks_path", "faces_path"]] = [str(tmp_path / "thin.csv"), "", ""]  # AUs on 1 in 4
    table.to_csv(manifest, index=False)
    loose = module(manifest, split="column", min_view_coverage=0.25, stride=8)
    loose.setup("fit")
    strict = module(manifest, split="column", min_view_coverage=0.5, stride=8)
    strict.setup("fit")
    # s0: windows 1..8, 9..16, 17..24: faces cover 1, 0.5, 0
    s0 = int(strict.videos.loc[strict.videos["subject_id"] == "s0", "video_index"].iloc[0])
    present = [window_of(strict.datasets["train"], s0, start)["x"]["present"][0, 2].item() for start in (0, 8, 16)]
    assert present == [True, True, False]
    assert strict.data_report["train"]["views"]["faces"]["windows_masked"] == 1
    # s2 has AUs on 25% of its frames and no other view: kept at 0.25, dropped (and named) at 0.5
    assert loose.data_report["train"]["windows_without_any_view"] == 0 and "s2" in loose.stage_subjects()["train"]
    assert strict.data_report["train"]["windows_without_any_view"] == 3
    assert "s2" not in strict.stage_subjects()["train"]
    assert any("thin.csv" in s and "no window" in s for s in strict.data_report["files_skipped"])
    with pytest.raises(ValueError, match="min_view_coverage"):
        module(manifest, min_view_coverage=0.0)


# ---- statistics, folds -------------------------------------------------------------------------
def test_statistics_come_from_training_subjects_only(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=4, split=True)
    before = module(manifest, split="column")
    before.setup("fit")
    test_rows = pd.read_csv(manifest)
    for i in (2, 3):  # the test subjects get huge values in every view
        write_aus(tmp_path / f"s{i}.csv", np.arange(1, 25), level=5.0)
        write_landmarks(tmp_path / f"s{i}.npz", np.arange(1, 25), scale=1000.0)
        write_crops(tmp_path / f"s{i}_aligned", np.arange(1, 25), level=255)
    assert set(test_rows.loc[test_rows["split"] == "test", "subject_id"]) == {"s2", "s3"}
    after = module(manifest, split="column")
    after.setup("fit")
    for view in ("aus", "landmarks", "faces"):
        np.testing.assert_array_equal(before.scalers[view].mean, after.scalers[view].mean)
        np.testing.assert_array_equal(before.scalers[view].std, after.scalers[view].std)
    train_au = np.clip(np.arange(1, 25) / 4, 0, 5)  # AU01 of s0 and s1 (intensities are clipped to 5)
    np.testing.assert_allclose(after.scalers["aus"].mean[0], train_au.mean())
    np.testing.assert_allclose(after.scalers["faces"].mean[1:], [100 / 255, 200 / 255], atol=1e-6)
    test_faces = after.datasets["test"].batch_of([0])["x"]["faces"]
    assert (test_faces[0, :, 0] > before.datasets["test"].batch_of([0])["x"]["faces"][0, :, 0]).all()
    state = after.state_dict()
    restored = module(manifest, split="column")
    restored.load_state_dict(json.loads(json.dumps(state)))
    np.testing.assert_allclose(restored.scalers["landmarks"].std, after.scalers["landmarks"].std)
    assert restored.num_points == 68 and state["views"] == ["aus", "landmarks", "faces"]


def test_subject_folds_match_the_au_sequence_module(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=6)
    for fold in range(3):
        dm = module(manifest, fold=fold)
        dm.setup("fit")
        au = AUSequenceDataModule(str(manifest), window=8, stride=4, num_folds=3, fold=fold, cache_dir=None)
        au.setup("fit")
        parts = dm.stage_subjects()
        assert parts == au.stage_subjects()
        assert not set(parts["train"]) & set(parts["test"]) and not set(parts["val"]) & set(parts["test"])
        for name in ("train", "val", "test"):
            subjects_of = set(dm.videos.loc[dm.videos["video_index"].isin(dm.datasets[name].video_ids), "subject_id"])
            assert subjects_of == set(parts[name])


def test_inner_folds_never_read_the_outer_test_subjects(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=9)
    outer = module(manifest)
    outer.setup("fit")
    held_out = outer.stage_subjects()["test"]
    for subject in held_out:  # their landmark and crop files are gone: an inner run must not look at them
        (tmp_path / f"{subject}.npz").unlink()
        for crop in (tmp_path / f"{subject}_aligned").iterdir():
            crop.unlink()
    inner = module(manifest, inner_fold=1, inner_folds=2, cache_dir=str(tmp_path / "cache"))
    assert not set(inner.rows_to_read()["subject_id"]) & set(held_out)
    inner.prepare_data()
    inner.setup("fit")
    assert not set(inner.videos["subject_id"]) & set(held_out)
    assert inner.data_report["split"]["outer_test_excluded"] == len(held_out) and len(inner.datasets["test"]) == 0
    with pytest.raises(DataFormatError, match=f"{held_out[0]}.npz"):  # an outer run reads them
        module(manifest).setup("fit")


# ---- targets, loaders, cache ------------------------------------------------------------------
def test_score_target_and_loaders(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=6)
    dm = module(manifest, target="score", views=["faces", "aus"], face_frames=3, face_size=16)
    dm.setup("fit")
    assert dm.num_channels == {"aus": 17, "faces": 3} and dm.num_classes == 1
    batch = next(iter(dm.train_dataloader()))
    assert set(batch["x"]) == {"aus", "faces", "present"}
    assert batch["y"].dtype == torch.float32 and batch["x"]["faces"].shape == (4, 3, 3, 16, 16)
    assert batch["x"]["aus"].shape == (4, 8, 17) and batch["x"]["present"].shape == (4, 2)
    scores = dict(zip(dm.videos["video_index"], dm.videos["score"]))
    assert batch["y"].tolist() == [scores[int(v)] for v in batch["video"]]
    assert dm.target_stats is not None and "target" in dm.data_report
    items = default_collate([dm.datasets["val"][i] for i in range(2)])  # item path: the same batch
    direct = collate_windows(dm.datasets["val"].__getitems__([0, 1]))
    for key in ("aus", "faces", "present"):
        torch.testing.assert_close(items["x"][key], direct["x"][key])
    assert items["index"].tolist() == [0, 1]


def test_cache_is_filled_by_prepare_data_and_reused(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=6)
    first = module(manifest, cache_dir=str(tmp_path / "cache"))
    first.prepare_data()
    assert first.cache.misses == 8  # content-keyed: the 6 AU files are one content, so are the 6 crop folders
    for i in range(6):  # now every file differs
        write_aus(tmp_path / f"s{i}.csv", np.arange(1, 25), level=i / 2)
        write_crops(tmp_path / f"s{i}_aligned", np.arange(1, 25), level=20 * i)
    first = module(manifest, cache_dir=str(tmp_path / "cache"))
    first.prepare_data()
    assert first.cache.misses == 12 and first.cache.hits == 6  # the landmark files were cached already
    second = module(manifest, cache_dir=str(tmp_path / "cache"))
    second.setup("fit")
    assert second.cache.hits == 18 and second.cache.misses == 0
    cold = module(manifest)
    cold.setup("fit")
    torch.testing.assert_close(second.datasets["test"].batch_of([0, 1]), cold.datasets["test"].batch_of([0, 1]))


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_files_are_named(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=6)
    table = pd.read_csv(manifest)
    (tmp_path / "broken.csv").write_text("frame, timestamp\nnot,a,table\n\x00\x01")
    table.loc[2, "path"] = str(tmp_path / "broken.csv")
    table.to_csv(manifest, index=False)
    with pytest.raises(DataFormatError, match="broken.csv"):
        module(manifest).setup("fit")

    manifest = subjects(tmp_path / "points", n=6)
    write_landmarks(tmp_path / "points" / "s4.npz", np.arange(1, 25), points=468)  # a face mesh among OpenFace files
    with pytest.raises(DataFormatError, match=r"s4\.npz: 468 landmark points, but .*s0\.npz has 68"):
        module(manifest).setup("fit")

    manifest = subjects(tmp_path / "gone", n=6, faces_path={1: "no_folder"})
    with pytest.raises(DataFormatError, match="no_folder does not exist"):
        module(manifest).setup("fit")
    manifest = subjects(tmp_path / "gone", n=6, landmarks_path={3: "nowhere.npz"})
    with pytest.raises(DataFormatError, match="nowhere.npz: the landmarks file does not exist"):
        module(manifest).setup("fit")

    manifest = subjects(tmp_path / "crop", n=6)  # one corrupt crop: an invalid frame, counted, not an error
    (tmp_path / "crop" / "s0_aligned" / "frame_det_00_000003.bmp").write_bytes(b"BM not an image")
    dm = module(manifest)
    dm.setup("fit")
    counted = sum(dm.data_report[name]["views"]["faces"]["frames"]["crops_undecodable"] for name in ("train", "val", "test"))
    assert counted == 1


def test_a_configured_view_needs_its_manifest_column(tmp_path: Path) -> None:
    manifest = subjects(tmp_path, n=6)
    pd.read_csv(manifest).drop(columns=["faces_path"]).to_csv(manifest, index=False)
    with pytest.raises(DataFormatError, match=r"manifest .*manifest.csv: view 'faces' .* no 'faces_path' column"):
        module(manifest).setup("fit")
    dm = module(manifest, views=["landmarks", "aus"])  # without faces: fine (and put in canonical order)
    dm.setup("fit")
    assert dm.views == ["aus", "landmarks"] and dm.num_points == 68
    with pytest.raises(ValueError, match="non-empty subset"):
        module(manifest, views=[])


# ---- faces from a video --------------------------------------------------------------------------
def test_faces_from_a_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = subjects(tmp_path, n=4, frames=6, split=True)
    table = pd.read_csv(manifest)
    table["faces_path"] = [write_video(tmp_path / f"v{i}.mp4").name for i in range(4)]
    table.to_csv(manifest, index=False)

    centred = module(manifest, split="column", window=4, detect_faces=False)
    centred.setup("fit")
    assert centred.data_report["faces"]["video_crops"] == "detect_faces: false"
    assert centred.data_report["train"]["views"]["faces"]["frames_missing"] == 0
    assert centred.datasets["train"].present[:, 2].all()

    table.loc[:1, "faces_path"] = ["s0_aligned", "s1_aligned"]  # training faces from crops, test faces from videos
    table.to_csv(manifest, index=False)
    detected = module(manifest, split="column", window=4)  # grey frames: BlazeFace finds no face
    detected.setup("fit")
    faces = detected.data_report["test"]["views"]["faces"]
    assert faces["frames"]["no_face_detected"] == 12 and faces["windows_masked"] == len(detected.datasets["test"])
    assert detected.data_report["faces"]["video_sources"] == 2

    from datamodules.preprocessing import face_models

    def offline(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise face_models.FaceModelError("no model file offline")

    monkeypatch.setattr(face_models, "ensure_face_models", offline)
    with pytest.warns(UserWarning, match="face detector unavailable"):
        fallback = module(manifest, split="column", window=4)
        fallback.setup("fit")
    assert "no model file offline" in fallback.data_report["faces"]["video_crops"]
    assert fallback.datasets["train"].present[:, 2].all()


def test_blazeface_crops_a_real_face(pyfeat: Path, tmp_path: Path) -> None:
    face = cv2.resize(cv2.imread(str(pyfeat / "single_face.jpg")), (64, 48))
    manifest = subjects(tmp_path, n=4, frames=4, split=True)
    table = pd.read_csv(manifest)
    table["faces_path"] = [write_video(tmp_path / f"v{i}.mp4", frames=4, image=face).name for i in range(4)]
    table.to_csv(manifest, index=False)
    dm = module(manifest, split="column", window=4, views=["faces"])
    dm.setup("fit")
    assert dm.data_report["faces"]["video_crops"] == "BlazeFace, largest face"
    assert dm.data_report["train"]["views"]["faces"]["frames"]["no_face_detected"] == 0
