"""predict.py on landmark checkpoints: windows exactly as the LandmarkDataModule evaluates, frame mapping, refusals."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.io.landmarks import read_landmark_file, save_landmarks
from datamodules.landmarks import LandmarkDataModule
from facedep.inference import predict_landmarks
from facedep.inference.outputs import CSV_COLUMNS, smooth_scores
from facedep.inference.predict import main
from video_helpers import count_frames, save_untrained_checkpoint, write_video

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GAP = slice(20, 27)  # frames marked "no face" in the test npz


# ---- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthetic OpenFace landmark demo, a 1-epoch temporal ImageCNN checkpoint trained on it, and npz files."""
    from datamodules.synthetic.landmarks import make_landmark_demo
    from facedep.experiment.train import run_training

    root = tmp_path_factory.mktemp("lmk-predict")
    manifest = make_landmark_demo(root / "data", num_subjects=6, sessions_per_subject=1, frames=(60, 90),
                                  effect_size=2.0, seed=3)
    run_training([
        "--config", str(ROOT / "configs" / "landmarks" / "demo.yaml"),
        "--data.init_args.manifest", str(manifest), "--data.init_args.num_folds", "3",
        "--data.init_args.cache_dir", "null", "--data.init_args.frames_per_sample", "8",
        "--data.init_args.frame_step", "2", "--data.init_args.stride", "6", "--data.init_args.eval_stride", "5",
        "--data.init_args.image_size", "[8, 16]",
        "--model.init_args.net.init_args.conv_channels", "[4, 8]", "--model.init_args.net.init_args.pool_size", "[2, 2]",
        "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false", "--tracking.wandb", "disabled",
        "--run.output_dir", str(root / "runs"), "--run.name", "lmk",
    ])
    csv = root / "data" / pd.read_csv(manifest)["path"].iloc[0]
    seq = read_landmark_file(csv)
    plain = save_landmarks(seq, root / "plain.npz")
    seq.valid[GAP] = False  # a stretch without a face, as the extractor writes it
    seq.points[GAP] = np.nan
    gap = save_landmarks(seq, root / "gap.npz")
    return {"ckpt": root / "runs" / "lmk" / "checkpoints" / "last.ckpt", "csv": csv, "plain": plain, "gap": gap,
            "root": root}


@pytest.fixture(scope="module")
def mesh_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-made frames-mode CNN-LSTM checkpoint for npz landmarks (untrained, Trainer-saved)."""
    from lightning_modules import CNNLSTMClassifier
    from lightning_modules.nets import CNNLSTM

    torch.manual_seed(0)
    model = CNNLSTMClassifier(net=functools.partial(CNNLSTM, conv_channels=(4, 8), hidden_size=8), num_classes=2,
                              class_names=["healthy", "depressed"])
    model.decision_threshold.fill_(0.4)
    return save_untrained_checkpoint(model, tmp_path_factory.mktemp("mesh-ckpt") / "mesh.ckpt", {
        "_class_path": "datamodules.LandmarkDataModule", "manifest": "/nonexistent/manifest.csv", "mode": "frames",
        "frames_per_sample": 4, "frame_step": 3, "stride": 4, "image_size": [12, 8], "align": True,
        "file_format": "npz", "classes": [0, 1], "class_names": ["healthy", "depressed"]})


# ---- helpers ----------------------------------------------------------------------------------------
def datamodule_windows(ckpt: Path, landmark_file: Path, tmp_path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Window probabilities, window starts and span of ``landmark_file`` through the checkpoint's own
    LandmarkDataModule (test loader of a manifest whose test subject holds only that file) and model."""
    from lightning_modules import CNNLSTMClassifier

    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    dm_args = {k: v for k, v in checkpoint["datamodule_hyper_parameters"].items() if not k.startswith("_")}
    import shutil

    rows = []  # both classes in every split, one copy of the file per subject (a file under two subjects is an error)
    for i, split in enumerate(["test", "test", "train", "train", "val", "val"]):
        copy = tmp_path / f"copy{i}{landmark_file.suffix}"
        shutil.copy(landmark_file, copy)
        rows.append({"subject_id": f"s{i}", "path": str(copy), "label": i % 2, "split": split})
    pd.DataFrame(rows).to_csv(tmp_path / "one_file.csv", index=False)
    dm_args.update(manifest=str(tmp_path / "one_file.csv"), split="column", cache_dir=None)
    dm = LandmarkDataModule(**dm_args)
    dm.setup("test")
    model = CNNLSTMClassifier.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True).eval()
    probs = []
    with torch.no_grad():
        for batch in dm.test_dataloader():
            probs.append(model.loss_fn.probabilities(model(batch["x"]).float()).double().numpy())
    span = (dm.frames_per_sample - 1) * dm.frame_step + 1
    index = dm.datasets["test"].index
    first = index[:, 0] == index[0, 0]  # the windows of one copy (the test split holds two)
    return np.concatenate(probs)[first], index[first, 1], span


def read_csv(out: Path) -> pd.DataFrame:
    table = pd.read_csv(out / "predictions.csv")
    assert list(table.columns) == list(CSV_COLUMNS)
    assert (out / "timeline.png").read_bytes().startswith(PNG_MAGIC)
    return table


def printed_video_score(stdout: str) -> float:
    match = re.search(r"video score (\d\.\d{3})", stdout)
    assert match, stdout
    return float(match.group(1))


# ---- frame mapping ----------------------------------------------------------------------------------
def test_frame_probabilities_mean_of_covering_windows_nan_without_face() -> None:
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    valid = np.array([True, True, False, True, True, True, False])  # 5 valid frames, indices 0 1 3 4 5
    out = predict_landmarks.frame_probabilities(probs, np.array([0, 2, 3]), 2, valid)[:, 1]
    # windows cover valid frames {0,1}, {2,3}, {3,4} -> frames 0,1 | 3,4 | 4,5 of the whole sequence
    np.testing.assert_allclose(out, [0.1, 0.1, np.nan, 0.5, (0.5 + 0.8) / 2, 0.8, np.nan], equal_nan=True)
    nothing = predict_landmarks.frame_probabilities(np.zeros((0, 2)), np.zeros(0, np.int64), 4, np.zeros(3, bool))
    assert np.isnan(nothing).all() and nothing.shape == (3, 2)


# ---- (a) npz from the synthetic demo, trained checkpoint ------------------------------------------------
def test_npz_source_matches_the_datamodule_and_model(demo: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["--ckpt", str(demo["ckpt"]), str(demo["gap"]), "--out", str(out), "--smooth", "5"]) == 0
    stdout = capsys.readouterr().out
    table = read_csv(out)
    seq = read_landmark_file(demo["gap"])
    assert len(table) == seq.num_frames and table["frame"].tolist() == seq.frame.tolist()  # one row per frame
    assert table["face_found"].tolist() == seq.valid.astype(int).tolist()
    found = table[table["face_found"] == 1]
    assert found["score"].notna().all() and found["score"].between(0, 1).all()
    assert table.loc[table["face_found"] == 0, "score"].isna().all() and (table["face_found"] == 0).sum() == 7
    np.testing.assert_allclose(table["smoothed_score"], smooth_scores(table["score"].to_numpy(), 5), atol=2e-6)

    probs, starts, span = datamodule_windows(demo["ckpt"], demo["gap"], tmp_path)
    loaded = predict_landmarks.load_landmark_model(demo["ckpt"])
    result = predict_landmarks.predict_sequence(loaded, seq)
    np.testing.assert_allclose(result.window_probs, probs, atol=1e-6)  # same windows, same order, same inputs
    assert result.score == pytest.approx(float(probs[:, 1].mean()), abs=1e-6)  # video score = mean of windows
    assert printed_video_score(stdout) == pytest.approx(probs[:, 1].mean(), abs=6e-4)
    threshold = float(torch.load(demo["ckpt"], weights_only=True)["state_dict"]["decision_threshold"])
    assert loaded.threshold == pytest.approx(threshold)
    assert result.class_name == ["healthy", "depressed"][int(probs[:, 1].mean() >= threshold)]
    assert result.class_name in stdout

    valid_rows = np.flatnonzero(seq.valid)  # frame score = mean over the DataModule windows covering the frame
    for k in (0, 19, 20, 33, len(valid_rows) - 1):
        covering = [w for w, s in enumerate(starts) if s <= k < s + span]
        assert covering
        assert table["score"].iloc[valid_rows[k]] == pytest.approx(probs[covering, 1].mean(), abs=2e-6)


@pytest.mark.parametrize("offset", [-0.01, 0.01])
def test_decisions_use_the_checkpoint_threshold(demo: dict[str, Path], tmp_path: Path, offset: float) -> None:
    seq = read_landmark_file(demo["gap"])
    score = predict_landmarks.predict_sequence(predict_landmarks.load_landmark_model(demo["ckpt"]), seq).score
    checkpoint = torch.load(demo["ckpt"], map_location="cpu", weights_only=True)
    checkpoint["state_dict"]["decision_threshold"] = torch.tensor(score + offset)
    torch.save(checkpoint, tmp_path / "moved.ckpt")
    loaded = predict_landmarks.load_landmark_model(tmp_path / "moved.ckpt")
    result = predict_landmarks.predict_sequence(loaded, seq)
    assert loaded.threshold == pytest.approx(score + offset)
    assert result.class_name == ("healthy" if offset > 0 else "depressed")
    for row in result.rows:
        expected = "" if math.isnan(row.score) else ["healthy", "depressed"][int(row.score >= loaded.threshold)]
        assert row.predicted_class == expected


def test_openface_csv_and_its_npz_give_the_same_scores(demo: dict[str, Path], tmp_path: Path) -> None:
    assert main(["--ckpt", str(demo["ckpt"]), str(demo["csv"]), "--out", str(tmp_path / "csv")]) == 0
    assert main(["--ckpt", str(demo["ckpt"]), str(demo["plain"]), "--out", str(tmp_path / "npz")]) == 0
    from_csv, from_npz = read_csv(tmp_path / "csv"), read_csv(tmp_path / "npz")
    assert len(from_csv) == len(from_npz) > 0
    np.testing.assert_allclose(from_csv["score"], from_npz["score"], atol=1e-6)
    np.testing.assert_allclose(from_csv["time_s"], from_npz["time_s"], atol=1e-3)


# ---- refusals -----------------------------------------------------------------------------------------
def test_webcam_image_folder_and_wrong_landmark_set_are_refused(demo: dict[str, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = str(demo["ckpt"])
    assert main(["--ckpt", ckpt, "0", "--out", str(tmp_path / "o")]) == 2
    assert "webcam" in capsys.readouterr().err
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    assert main(["--ckpt", ckpt, str(image), "--out", str(tmp_path / "o")]) == 2
    assert "landmark file" in capsys.readouterr().err
    assert main(["--ckpt", ckpt, str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a folder" in capsys.readouterr().err
    video = write_video(tmp_path / "clip.mp4")  # readable: refused for its landmark set before extraction
    assert main(["--ckpt", ckpt, str(video), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "68-point" in err and "468" in err


def test_corrupt_video_is_reported_as_unreadable_not_as_a_landmark_mismatch(
        demo: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "corrupt.mp4"
    video.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert main(["--ckpt", str(demo["ckpt"]), str(video), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"cannot open video {video}" in err or f"cannot decode any frame of video {video}" in err
    assert "68-point" not in err


def test_au_checkpoint_points_to_video_to_depression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pytorch_lightning as pl

    path = tmp_path / "au.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "lightning_modules.SequenceClassifier"},
                "datamodule_hyper_parameters": {"_class_path": "datamodules.AUSequenceDataModule", "window": 32},
                "pytorch-lightning_version": pl.__version__}, path)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    assert main(["--ckpt", str(path), str(video), "--out", str(tmp_path / "o")]) == 2
    assert "scripts/video_to_depression.py" in capsys.readouterr().err


# ---- (b) real videos: extraction as extract_landmarks.py ------------------------------------------------
def test_real_video_rows_for_every_frame(mesh_ckpt: Path, pyfeat: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["--ckpt", str(mesh_ckpt), str(pyfeat / "single_face.mp4"), "--out", str(out), "--smooth", "3"]) == 0
    stdout = capsys.readouterr().out
    table = read_csv(out)
    assert len(table) == 72 and table["frame"].tolist() == list(range(72))
    np.testing.assert_allclose(table["time_s"], np.arange(72) / 30.0, atol=1e-3)
    assert table["face_found"].mean() > 0.9
    found = table[table["face_found"] == 1]
    assert found["score"].between(0, 1).all() and set(found["predicted_class"]) <= {"healthy", "depressed"}
    npz = out / "single_face.npz"  # the extracted landmarks, reusable as a source
    assert read_landmark_file(npz).num_points == 478  # training points unknown: the attention mesh, extract_landmarks.py's default
    probs, _, _ = datamodule_windows(mesh_ckpt, npz, tmp_path)  # frames mode, the DataModule's way
    assert printed_video_score(stdout) == pytest.approx(probs[:, 1].mean(), abs=6e-4)
    assert "threshold 0.400" in stdout


def test_no_face_video_gives_nan_scores_and_a_message(mesh_ckpt: Path, pyfeat: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    video = pyfeat / "no_face.mp4"
    assert main(["--ckpt", str(mesh_ckpt), str(video), "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    table = read_csv(tmp_path)
    assert len(table) == count_frames(video)
    assert (table["face_found"] == 0).all() and table["score"].isna().all() and table["smoothed_score"].isna().all()
    assert "no face" in captured.err and "video score: none" in captured.out
