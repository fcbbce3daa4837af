"""The bridge (video -> OpenFace-like AU CSV) and the one-command video -> depression pipeline."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.io.openface import read_openface_csv
from facedep.inference import au_bridge, video_pipeline
from facedep.inference.au_bridge import BridgeError, load_au_detector, video_to_au_table, write_au_csv
from video_helpers import count_frames, save_untrained_checkpoint, write_video

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["AU1", "AU2X", "AU43", "AD19"]  # AD19 has no OpenFace name: left out
THRESHOLDS = [0.3, 0.5, 0.7, 0.5]
CHANNELS = ["AU01_c", "AU26_c", "AU45_c"]


def make_detector_ckpt(path: Path, intensity: bool = False) -> Path:
    """A random tiny AUDetector saved by a Trainer, with the DataModule settings a CLI run records."""
    from lightning_modules import AUDetector

    torch.manual_seed(0)
    model = AUDetector("test_resnet", num_classes=len(NAMES), class_names=NAMES, pos_weight="none",
                       intensity_head=intensity)
    model.thresholds.copy_(torch.tensor(THRESHOLDS))
    return save_untrained_checkpoint(model, path, {"_class_path": "datamodules.AUDetectionDataModule", "image_size": 32,
                                                   "normalization": "imagenet", "face_margin": 0.0})


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Six short demo videos, a tiny detector, their bridged CSVs + manifest, and a 1-epoch AU-sequence checkpoint."""
    from datamodules.manifest import write_manifest
    from datamodules.synthetic.au_video import make_au_video_demo
    from facedep.experiment.train import run_training

    root = tmp_path_factory.mktemp("bridge")
    manifest = pd.read_csv(make_au_video_demo(root / "demo", subjects=6, seconds=3, fps=10, size=64, effect_size=3.0),
                           dtype={"subject_id": str})
    videos = [root / "demo" / p for p in manifest["path"]]
    detector = make_detector_ckpt(root / "det.ckpt")
    summaries = au_bridge.bridge_videos(load_au_detector(detector), videos, root / "bridged", "whole", verbose=False)
    bridged = write_manifest(manifest.assign(path=[s["csv"] for s in summaries]), root / "bridged" / "manifest.csv")
    metrics = run_training(["--config", str(ROOT / "configs" / "tests" / "tiny.yaml"), "--data.init_args.manifest",
                            str(bridged), "--data.init_args.channels", f"[{', '.join(CHANNELS)}]",
                            "--data.init_args.window", "8", "--data.init_args.stride", "8", "--trainer.max_epochs", "1",
                            "--run.output_dir", str(root / "runs")])
    return {"root": root, "videos": videos, "detector": detector, "bridged": bridged, "csvs": [s["csv"] for s in summaries],
            "classifier": Path(metrics["best_checkpoint"]), "run_dir": Path(metrics["run_dir"])}


def test_one_row_per_frame_names_thresholds_and_reader(work: dict) -> None:
    loaded = load_au_detector(work["detector"])
    assert any("AD19" in note for note in loaded.notes)
    table = video_to_au_table(loaded, work["videos"][0], faces="whole", batch_size=7)
    n = count_frames(work["videos"][0])
    assert len(table) == n and table["frame"].tolist() == list(range(1, n + 1))
    assert (table["success"] == 1).all() and (table["confidence"] == 1.0).all()
    assert [c for c in table.columns if c.endswith("_c")] == CHANNELS  # AU1 -> AU01, AU2X -> AU26, AU43 -> AU45
    for k, column in enumerate(CHANNELS):
        probs = table[column.replace("_c", "_p")].to_numpy()
        np.testing.assert_array_equal(table[column].to_numpy(dtype=int), (probs >= THRESHOLDS[k]).astype(int))
        np.testing.assert_allclose(table[column.replace("_c", "_r")], 5 * probs, rtol=1e-6)  # pseudo-intensity
    path = write_au_csv(table, work["root"] / "one.csv")
    parsed = read_openface_csv(path)  # the extra _p columns and the missing AUs do not bother the reader
    assert set(parsed.available) == {"AU01_r", "AU26_r", "AU45_r", *CHANNELS}
    assert parsed.num_frames == n and parsed.success.all()
    assert np.isnan(parsed.values[:, parsed.channel_index(["AU04_c"])]).all()


def test_intensity_head_and_stride(work: dict) -> None:
    loaded = load_au_detector(make_detector_ckpt(work["root"] / "det_r.ckpt", intensity=True))
    table = video_to_au_table(loaded, work["videos"][1], faces="whole", stride=3)
    n = count_frames(work["videos"][1])
    assert table["frame"].tolist() == list(range(1, n + 1, 3))
    r, p = table["AU01_r"].to_numpy(), table["AU01_p"].to_numpy()
    assert ((r >= 0) & (r <= 5)).all() and not np.allclose(r, 5 * p)  # the intensity head, not 5 x probability


def test_sequence_datamodule_reads_bridged_csvs(work: dict) -> None:
    from datamodules import AUSequenceDataModule
    from datamodules.io.au_table import DataFormatError

    dm = AUSequenceDataModule(str(work["bridged"]), window=8, channels=CHANNELS, num_folds=3, cache_dir=None)
    dm.setup()
    assert len(dm.datasets["train"]) > 0 and dm.datasets["train"][0]["x"].shape == (8, 3)
    with pytest.raises(DataFormatError, match="AU04_c"):
        AUSequenceDataModule(str(work["bridged"]), window=8, channels=["AU04_c"], num_folds=3, cache_dir=None).setup()


def test_video_to_depression_end_to_end_matches_the_datamodule(work: dict, capsys: pytest.CaptureFixture[str]) -> None:
    out = work["root"] / "predict"
    videos = [str(v) for v in work["videos"]]
    code = video_pipeline.main(["--au-detector", str(work["detector"]), "--classifier", str(work["classifier"]),
                                *videos, "--out", str(out), "--faces", "whole"])
    assert code == 0 and "predictions.csv" in capsys.readouterr().out
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == len(videos) and (table["windows"] > 0).all()
    assert table["class_name"].isin(["healthy", "depressed"]).all() and table["score"].between(0, 1).all()
    assert all((out / f"{Path(v).stem}.aus.csv").exists() for v in videos)
    # The run's own test-video probabilities (same checkpoint, same CSVs) are what the pipeline computes.
    tested = pd.read_csv(work["run_dir"] / "predictions_test_video.csv")
    classifier = video_pipeline.load_sequence_classifier(work["classifier"])
    for name, prob in zip(tested["name"], tested["prob_depressed"]):
        assert video_pipeline.predict_au_csv(classifier, name)["score"] == pytest.approx(prob, abs=1e-5)


def test_classifier_needing_missing_channels_is_refused(work: dict, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = torch.load(work["classifier"], map_location="cpu", weights_only=True)
    checkpoint["datamodule_hyper_parameters"]["channels"] = ["AU01_c", "AU04_c", "AU26_r"]
    path = work["root"] / "needs_au04.ckpt"
    torch.save(checkpoint, path)
    code = video_pipeline.main(["--au-detector", str(work["detector"]), "--classifier", str(path),
                                str(work["videos"][0]), "--out", str(work["root"] / "refused")])
    err = capsys.readouterr().err
    assert code == 2 and "AU04_c" in err and "AU01_c" not in err.split("provide")[0]
    assert not (work["root"] / "refused" / "predictions.csv").exists()
    with pytest.raises(BridgeError, match="not an AU detector"):
        load_au_detector(work["classifier"])


def test_no_face_and_unreadable_videos(work: dict, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        detector = au_bridge.make_detector()
    except Exception as exc:  # noqa: BLE001 (no cached BlazeFace and no network)
        pytest.skip(f"face models unavailable: {exc}")
    blank = write_video(work["root"] / "blank.mp4", frames=12)
    table = video_to_au_table(load_au_detector(work["detector"]), blank, faces="detect", face_detector=detector)
    assert len(table) == 12 and (table["success"] == 0).all() and table["AU01_c"].isna().all()
    assert read_openface_csv(write_au_csv(table, work["root"] / "blank.csv")).notes["unsuccessful_frames"] == 12
    # A video that opens but whose frames cannot be decoded: the container's frame count, all success=0.
    def undecodable(capture: cv2.VideoCapture, source: str, live: bool = False):  # noqa: ANN202
        raise au_bridge.PredictError(f"cannot read any frame from video {source}")
        yield

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(au_bridge, "video_frames", undecodable)
        table = video_to_au_table(load_au_detector(work["detector"]), work["videos"][0], faces="whole", stride=2)
    assert len(table) == math.ceil(count_frames(work["videos"][0]) / 2) and (table["success"] == 0).all()
    broken = work["root"] / "broken.mp4"
    broken.write_text("not a video")
    out = work["root"] / "mixed"
    code = video_pipeline.main(["--au-detector", str(work["detector"]), "--classifier", str(work["classifier"]),
                                str(blank), str(broken), "--out", str(out), "--faces", "detect"])
    assert code == 1 and "broken.mp4" in capsys.readouterr().err
    rows = pd.read_csv(out / "predictions.csv").set_index("video")
    assert rows.loc["blank.mp4", "windows"] == 0 and math.isnan(rows.loc["blank.mp4", "score"])
    assert isinstance(rows.loc["broken.mp4", "error"], str)
    assert au_bridge.main(["--ckpt", str(work["detector"]), str(broken), "--out", str(out)]) == 1
