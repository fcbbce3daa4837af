"""facedep.inference.predict and its modules: smoothing, checkpoint loading and refusals, and runs on real images and videos."""

from __future__ import annotations

import functools
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.image_transforms import IMAGENET_MEAN
from facedep.inference import faces, frames, image_model, live, outputs
from facedep.inference.common import PredictError
from facedep.inference.image_model import check_supported
from facedep.inference.outputs import smooth_scores
from facedep.inference.predict import main
from video_helpers import count_frames, save_untrained_checkpoint, video_fps

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---- helpers and fixtures ---------------------------------------------------------------------
def save_checkpoint(model: torch.nn.Module, hparams: dict, dm_hparams: dict, path: Path) -> Path:
    """A Lightning-format checkpoint (what ``trainer.save_checkpoint`` writes, plus DataModule hparams)."""
    import pytorch_lightning as pl

    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams, "hparams_name": "kwargs",
                "datamodule_hyper_parameters": dm_hparams, "datamodule_hparams_name": "kwargs",
                "pytorch-lightning_version": pl.__version__, "epoch": 0, "global_step": 0}, path)
    return path


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SequenceClassifier(ImageCNN (8, 16)) saved by a Trainer, 64x64 inputs."""
    from lightning_modules import SequenceClassifier
    from lightning_modules.nets import ImageCNN

    torch.manual_seed(0)
    model = SequenceClassifier(net=functools.partial(ImageCNN, conv_channels=(8, 16)), in_channels=3, num_classes=2)
    return save_untrained_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", {"image_size": 64})


def read_csv(out: Path) -> pd.DataFrame:
    table = pd.read_csv(out / "predictions.csv")
    assert list(table.columns) == list(outputs.CSV_COLUMNS)
    return table


# ---- smoothing ----------------------------------------------------------------------------------
def hand_smooth(values: list[float], window: int, centered: bool) -> list[float]:
    before, after = ((window - 1) // 2, window // 2) if centered else (window - 1, 0)
    out = []
    for i in range(len(values)):
        kept = [v for v in values[max(i - before, 0): i + after + 1] if not math.isnan(v)]
        out.append(sum(kept) / len(kept) if kept else math.nan)
    return out


@pytest.mark.parametrize("window", [1, 2, 3, 4, 5, 15])
@pytest.mark.parametrize("centered", [True, False])
def test_smoothing_matches_hand_computed_nan_aware_mean(window: int, centered: bool) -> None:
    nan = math.nan
    values = [0.2, nan, 0.6, 0.8, nan, nan, nan, 0.1, 0.9, 0.5, nan]
    np.testing.assert_allclose(smooth_scores(values, window, centered), hand_smooth(values, window, centered),
                               equal_nan=True)


def test_smoothing_small_example_and_trailing_smoother() -> None:
    nan = math.nan
    assert smooth_scores([1.0, nan, 3.0, 5.0], 3).tolist() == [1.0, 2.0, 4.0, 4.0]
    assert np.isnan(smooth_scores([nan, nan], 5)).all()
    values = [0.3, nan, 0.9, 0.1, nan, 0.4]
    live = outputs.TrailingSmoother(3)
    np.testing.assert_allclose([live(v) for v in values], smooth_scores(values, 3, centered=False))


# ---- checkpoints ----------------------------------------------------------------------------------
def test_cli_style_checkpoint_loads_through_instantiator(tmp_path: Path) -> None:
    """Checkpoints from LightningCLI keep class paths and ``_instantiator`` in their hparams."""
    from pytorch_lightning.cli import instantiate_module

    from lightning_modules import SequenceClassifier

    hparams = {"_class_path": "lightning_modules.SequenceClassifier",
               "net": {"class_path": "lightning_modules.nets.ImageCNN", "init_args": {"conv_channels": [8, 16]}},
               "in_channels": 3, "num_classes": 2, "class_names": ["healthy", "depressed"], "loss": "bce"}
    model = instantiate_module(SequenceClassifier, hparams)
    model.decision_threshold.fill_(0.3)
    hparams["_instantiator"] = "pytorch_lightning.cli.instantiate_module"
    dm = {"_class_path": "datamodules.FaceImageDataModule", "image_size": [48, 40], "normalization": "resnet18",
          "mean": None, "std": None, "face_margin": 0.2, "_instantiator": "pytorch_lightning.cli.instantiate_module"}
    loaded = image_model.load_model(save_checkpoint(model, hparams, dm, tmp_path / "cli.ckpt"))
    assert loaded.class_names == ["healthy", "depressed"] and loaded.binary
    assert loaded.threshold == pytest.approx(0.3)
    prep = loaded.preprocessing
    assert prep.image_size == (48, 40) and prep.margin == 0.2
    np.testing.assert_allclose(prep.mean, (0.485, 0.456, 0.406))  # timm's resnet18 config
    scores = image_model.score_batch(loaded, [torch.zeros(3, 48, 40)] * 2)
    assert len(scores) == 2 and all(0 <= s <= 1 and name in loaded.class_names for s, name in scores)


def test_explicit_mean_std_win_and_defaults() -> None:
    prep = image_model.preprocessing_from({"mean": [0.5] * 3, "std": [0.25] * 3, "normalization": "imagenet"})
    assert prep.mean == (0.5,) * 3 and prep.std == (0.25,) * 3
    prep = image_model.preprocessing_from({})
    assert prep.image_size == (224, 224) and prep.mean == IMAGENET_MEAN


@pytest.mark.parametrize(
    ("hparams", "dm", "message"),
    [
        ({"_class_path": "lightning_modules.CNNLSTMClassifier"}, {"_class_path": "datamodules.LandmarkDataModule"},
         "landmarks"),
        ({"_class_path": "lightning_modules.SequenceClassifier", "net": {"class_path": "x.RecurrentNet"}},
         {"_class_path": "datamodules.AUSequenceDataModule"}, "action units"),
        ({"_class_path": "lightning_modules.CNNLSTMClassifier",
          "net": {"class_path": "lightning_modules.nets.CNNLSTM"}}, {"image_size": 64}, "only per-image models"),
        ({"_class_path": "lightning_modules.SequenceClassifier",
          "net": {"class_path": "lightning_modules.nets.HybridAttentionNet", "init_args": {"temporal": True}}},
         {"_class_path": "datamodules.FaceImageDataModule"}, "only per-image models"),
    ],
)
def test_unsupported_checkpoints_are_refused(hparams: dict, dm: dict, message: str) -> None:
    with pytest.raises(PredictError, match=message):
        check_supported(hparams, dm)


def test_landmark_checkpoint_gives_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = save_checkpoint(torch.nn.Linear(1, 1), {"_class_path": "lightning_modules.CNNLSTMClassifier"},
                           {"_class_path": "datamodules.LandmarkDataModule", "mode": "temporal"}, tmp_path / "lm.ckpt")
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    assert main(["--ckpt", str(ckpt), str(image), "--out", str(tmp_path / "out")]) == 2
    assert "landmarks" in capsys.readouterr().err


# ---- end to end on real data -----------------------------------------------------------------------
def test_video_one_row_per_frame(tiny_ckpt: Path, pyfeat: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    video = pyfeat / "single_face.mp4"
    frames, fps = count_frames(video), video_fps(video)
    assert main(["--ckpt", str(tiny_ckpt), str(video), "--out", str(tmp_path), "--smooth", "5"]) == 0
    table = read_csv(tmp_path)
    assert len(table) == frames and table["frame"].tolist() == list(range(frames))
    np.testing.assert_allclose(table["time_s"], np.arange(frames) / fps, atol=1e-3)
    assert table["face_found"].mean() > 0.9
    found = table[table["face_found"] == 1]
    assert found["score"].between(0, 1).all() and found["predicted_class"].notna().all()
    np.testing.assert_allclose(table["smoothed_score"], smooth_scores(table["score"].to_numpy(), 5), atol=1e-5)
    png = (tmp_path / "timeline.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and cv2.imread(str(tmp_path / "timeline.png")) is not None
    assert "fps:" in capsys.readouterr().out


def test_stride_and_max_frames(tiny_ckpt: Path, pyfeat: Path, tmp_path: Path) -> None:
    args = ["--ckpt", str(tiny_ckpt), str(pyfeat / "single_face.mp4"), "--out", str(tmp_path)]
    assert main(args + ["--stride", "3", "--max-frames", "7"]) == 0
    assert read_csv(tmp_path)["frame"].tolist() == list(range(0, 21, 3))


def test_no_face_video_warns_and_writes_empty_scores(tiny_ckpt: Path, pyfeat: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    video = pyfeat / "no_face.mp4"
    assert main(["--ckpt", str(tiny_ckpt), str(video), "--out", str(tmp_path)]) == 0
    table = read_csv(tmp_path)
    assert len(table) == count_frames(video)
    assert (table["face_found"] == 0).all() and table["score"].isna().all()
    assert f"no face found in any of {len(table)} frames" in capsys.readouterr().err
    assert (tmp_path / "timeline.png").read_bytes().startswith(PNG_MAGIC)


def test_single_image_and_folder(tiny_ckpt: Path, pyfeat: Path, tmp_path: Path) -> None:
    assert main(["--ckpt", str(tiny_ckpt), str(pyfeat / "single_face.jpg"), "--out", str(tmp_path / "one")]) == 0
    table = read_csv(tmp_path / "one")
    assert len(table) == 1 and table.loc[0, "face_found"] == 1 and table["time_s"].isna().all()
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(pyfeat / "single_face.jpg", folder / "a.jpg")
    cv2.imwrite(str(folder / "b.png"), np.full((120, 160, 3), 127, np.uint8))  # no face
    (folder / "notes.txt").write_text("ignored")
    assert main(["--ckpt", str(tiny_ckpt), str(folder), "--out", str(tmp_path / "many")]) == 0
    table = read_csv(tmp_path / "many")
    assert table["frame"].tolist() == [0, 1] and [Path(s).name for s in table["source"]] == ["a.jpg", "b.png"]
    assert table["face_found"].tolist() == [1, 0]
    assert (tmp_path / "many" / "timeline.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("name", ["broken.jpg", "broken.mp4", "missing.mp4"])
def test_unreadable_source_names_the_file(tiny_ckpt: Path, tmp_path: Path, name: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / name
    if not name.startswith("missing"):
        source.write_bytes(b"not a picture")
    assert main(["--ckpt", str(tiny_ckpt), str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and str(source) in err


def test_live_loop_headless_on_a_file(tiny_ckpt: Path, pyfeat: Path) -> None:
    """The webcam loop (trailing smoothing, max-frames) driven by a video file, without a window."""
    loaded = image_model.load_model(tiny_ckpt)
    capture = frames.open_capture(str(pyfeat / "single_face.mp4"))
    rows = live.predict_live(capture, "cam", loaded, faces.make_detector(), window=4, show=False, max_frames=6)
    capture.release()
    assert len(rows) == 6 and all(r.face_found for r in rows)
    np.testing.assert_allclose([r.smoothed_score for r in rows],
                               smooth_scores([r.score for r in rows], 4, centered=False))
    assert isinstance(live.gui_available(), bool)
