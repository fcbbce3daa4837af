"""Face images end to end: synthetic AffectNet layout -> hybrid attention model -> checkpoint -> predict.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from datamodules.synthetic.faces import make_face_demo
from facedep.experiment.train import run_training

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def face_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_face_demo(tmp_path_factory.mktemp("faces"), images_per_class=8, size=64, classes=("happy", "sad", "neutral"), seed=2)


def test_hybrid_trains_and_its_checkpoint_predicts_on_a_real_video(face_manifest: Path, tmp_path: Path, realdata: Path) -> None:
    result = run_training([
        "--config", str(ROOT / "configs" / "images" / "hybrid_affectnet.yaml"),
        "--data.init_args.manifest", str(face_manifest), "--data.init_args.image_size", "64",
        "--data.init_args.num_folds", "3", "--data.init_args.cache_dir", str(tmp_path / "cache"),
        "--data.init_args.normalization", "imagenet", "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8",
        "--model.init_args.net.init_args.backbones", "[test_resnet, test_efficientnet]",
        "--model.init_args.net.init_args.pretrained", "false", "--model.init_args.net.init_args.img_size", "64",
        "--model.init_args.net.init_args.d_model", "32", "--model.init_args.net.init_args.dim_feedforward", "64",
        "--trainer.max_epochs", "1", "--trainer.precision", "bf16-mixed", "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false", "--tracking.wandb", "disabled", "--run.output_dir", str(tmp_path / "runs"),
    ])
    assert result["data"]["test"]["subjects"] == 8  # 24 images, each its own group, 3 folds
    assert {"test/subject/macro_f1", "test/window/auroc"} <= set(result["test"])
    assert list((tmp_path / "cache" / "face-images").glob("*.npy"))  # decoded once, memory-mapped

    from facedep.inference.predict import main as predict

    out = tmp_path / "predict"
    assert predict(["--ckpt", result["best_checkpoint"], str(realdata / "pyfeat" / "single_face.mp4"), "--out", str(out), "--headless"]) == 0
    rows = pd.read_csv(out / "predictions.csv")
    assert len(rows) == 72 and rows["face_found"].mean() > 0.9
    assert rows["score"].dropna().between(0, 1).all()
    assert (out / "timeline.png").exists()
