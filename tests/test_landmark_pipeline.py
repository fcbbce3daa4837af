"""Landmark pseudo-images end to end: DataModule folds and shapes, image cache, CNN-LSTM training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datamodules.landmarks import LandmarkDataModule
from datamodules.preprocessing.pseudo_images import frame_images
from datamodules.synthetic.landmarks import make_landmark_demo
from facedep.experiment.train import run_training

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def landmark_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_landmark_demo(tmp_path_factory.mktemp("lm"), num_subjects=12, sessions_per_subject=2, frames=(60, 90),
                              effect_size=2.0, seed=3)


def test_frames_mode_shapes_and_subject_folds(landmark_manifest: Path) -> None:
    dm = LandmarkDataModule(str(landmark_manifest), mode="frames", frames_per_sample=4, frame_step=3, stride=10,
                            image_size=(20, 12), num_folds=3, cache_dir=None)
    dm.setup("fit")
    item = dm.datasets["train"][0]
    assert item["x"].shape == (4, 3, 20, 12)
    stages = dm.videos.groupby("subject_id")["stage"].nunique()
    assert (stages == 1).all()  # both sessions of a subject in the same split
    assert dm.data_report["test"]["subjects"] == 4 and dm.data_report["test"]["videos"] == 8
    points = dm.datasets["train"].sequences[0][: 3 * 3 + 1 : 3]  # the first window's frames
    np.testing.assert_allclose(item["x"].numpy(), frame_images(points, size=(20, 12)), atol=1e-6)


def test_image_cache_is_reused_and_identical(landmark_manifest: Path, tmp_path: Path) -> None:
    kwargs = dict(mode="temporal", frames_per_sample=16, frame_step=2, stride=8, num_folds=3, cache_dir=str(tmp_path))
    plain = LandmarkDataModule(str(landmark_manifest), **kwargs)
    plain.setup("fit")
    cached = LandmarkDataModule(str(landmark_manifest), image_cache=True, **kwargs)
    cached.prepare_data()
    cached.setup("fit")
    files = sorted((tmp_path / "pseudo-images").glob("*.npy"))
    assert len(files) == 3  # one per stage
    for stage in ("train", "test"):
        a, b = plain.datasets[stage][5], cached.datasets[stage][5]
        assert a["x"].shape == (3, 16, 68)
        np.testing.assert_allclose(a["x"].numpy(), b["x"].numpy(), atol=2e-3)  # float16 on disk
        assert int(a["subject"]) == int(b["subject"])
    again = LandmarkDataModule(str(landmark_manifest), image_cache=True, **kwargs)
    again.setup("fit")
    assert sorted((tmp_path / "pseudo-images").glob("*.npy")) == files  # nothing re-rendered


def test_cnn_lstm_classifier_trains_with_tuned_threshold(landmark_manifest: Path, tmp_path: Path) -> None:
    result = run_training([
        "--config", str(ROOT / "configs" / "landmarks" / "demo.yaml"),
        "--data.init_args.manifest", str(landmark_manifest), "--data.init_args.num_folds", "3",
        "--data.init_args.cache_dir", "null", "--data.init_args.mode", "frames", "--data.init_args.frames_per_sample", "4",
        "--data.init_args.frame_step", "4", "--data.init_args.stride", "12", "--data.init_args.image_size", "[16, 8]",
        "--model.init_args.net", "lightning_modules.nets.CNNLSTM",
        "--model.init_args.net.init_args.conv_channels", "[8, 16]", "--model.init_args.net.init_args.hidden_size", "16",
        "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false", "--tracking.wandb", "disabled",
        "--run.output_dir", str(tmp_path),
    ])
    assert 0.1 <= result["test"]["test/threshold"] <= 0.9
    assert {"test/subject/macro_f1", "test/video/auroc", "test/window/accuracy"} <= set(result["test"])
    assert result["data"]["test"]["subjects"] == 4


def test_video_extraction_feeds_the_datamodule(realdata: Path, tmp_path: Path) -> None:
    from datamodules.preprocessing.extract import main as extract

    assert extract([str(realdata / "pyfeat" / "single_face.mp4"), "--out", str(tmp_path), "--no-progress"]) == 0
    import shutil

    import pandas as pd

    splits = ["train", "train", "val", "test", "test"]  # both classes in train and test
    for i in range(len(splits)):  # one file per subject: a file under two subject ids is rejected
        shutil.copy(tmp_path / "single_face.npz", tmp_path / f"face{i}.npz")
    rows = [{"subject_id": f"s{i}", "path": f"face{i}.npz", "label": i % 2, "split": split}
            for i, split in enumerate(splits)]

    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    dm = LandmarkDataModule(str(tmp_path / "m.csv"), mode="temporal", frames_per_sample=16, stride=16, align=True,
                            split="column", file_format="npz", cache_dir=None)
    dm.setup("fit")
    assert dm.datasets["train"][0]["x"].shape == (3, 16, 478)  # attention mesh (default): 468 + 10 iris points
    assert dm.data_report["test"]["frames"]["kept"] == 2 * 72
