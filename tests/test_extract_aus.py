"""scripts/extract_aus.py: backends (mesh, openface, detector via video_to_depression), sharding, the report,
bad videos, and the written CSVs in the readers, make_manifest and an AU-sequence config."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from datamodules.io.au_table import INTENSITY_AUS
from datamodules.io.openface import read_openface_csv
from datamodules.preprocessing.openface_layout import openface_table, write_openface_csv
from datamodules.preprocessing.sharding import ShardError, parse_shard, select_shard
from datamodules.synthetic.openface_csv import make_openface_csv
from facedep.inference import au_backends
from facedep.inference.extract_aus import main
from test_openface_layout import synthetic_aus, synthetic_sequence

ROOT = Path(__file__).resolve().parents[1]


# ---- sharding ------------------------------------------------------------------------------------
def test_parse_shard_and_errors() -> None:
    assert parse_shard("1/1") == (1, 1) and parse_shard(" 3/8 ") == (3, 8)
    for bad in ("0/4", "5/4", "1/0", "2", "a/b", "1/2/3", "-1/4"):
        with pytest.raises(ShardError, match="--shard"):
            parse_shard(bad)


def test_shards_partition_the_sorted_list_whatever_the_input_order() -> None:
    items = [f"v{i:02d}.mp4" for i in range(11)]
    shuffled = list(np.random.default_rng(0).permutation(items))
    for count in (1, 2, 3, 5, 11, 13):
        shards = [select_shard(shuffled, k, count) for k in range(1, count + 1)]
        assert sorted(sum(shards, [])) == items  # every item once
        assert all(shard == items[k::count] for k, shard in enumerate(shards))  # sorted position i -> shard i % N + 1
    assert select_shard(items, 2, 3) == ["v01.mp4", "v04.mp4", "v07.mp4", "v10.mp4"]  # i % N + 1 == K


# ---- fakes ---------------------------------------------------------------------------------------
def fake_estimators():
    """AU estimate: AU rank/2 + 0.1 x (frame % 7), NaN without a face; a constant head pose."""

    def estimate(points: np.ndarray, valid: np.ndarray, calibration=None) -> pd.DataFrame:
        t = np.arange(len(valid)) % 7
        data = {f"{au}_r": np.where(valid, k / 4 + 0.1 * t, np.nan) for k, au in enumerate(INTENSITY_AUS)}
        data.update({f"{au}_c": np.where(valid, float(k % 2), np.nan) for k, au in enumerate(INTENSITY_AUS)})
        return pd.DataFrame(data)

    return estimate, (lambda points, valid: np.tile([0.1, 0.2, 0.3], (len(valid), 1))), None


@pytest.fixture()
def fake_mesh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mesh backend with the real landmark extraction and fake AU/pose estimators; skips without face models."""
    from datamodules.preprocessing.face_models import FaceModelError, ensure_face_models

    try:
        ensure_face_models()
    except FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")
    monkeypatch.setattr(au_backends, "geometry_estimators", fake_estimators)


def corrupt_video(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def noise_video(path: Path, frames: int = 12) -> Path:
    """Random-noise frames: readable, but no face."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (128, 128))
    rng = np.random.default_rng(2)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    writer.release()
    return path


def real_cut(realdata: Path, path: Path, frames: int = 60) -> Path:
    """The first ``frames`` frames of the shared OpenDBM video (re-encoded), for a fast real run."""
    capture = cv2.VideoCapture(str(realdata / "opendbm" / "subj01_timepoint01.mp4"))
    writer = None
    for _ in range(frames):
        ok, image = capture.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (image.shape[1], image.shape[0]))
        writer.write(image)
    capture.release()
    writer.release()
    return path


def report(out: Path, name: str = "extraction_report.csv") -> pd.DataFrame:
    return pd.read_csv(out / name, keep_default_na=False, dtype=str).assign(name=lambda t: [Path(v).name for v in t["video"]])


# ---- mesh backend --------------------------------------------------------------------------------
def test_corrupt_and_faceless_videos_are_reported_and_skipped(fake_mesh: None, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    corrupt_video(folder / "broken.mp4")
    noise_video(folder / "noise.mp4")
    assert main([str(folder), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "noise.mp4" in err
    rows = report(tmp_path / "out").set_index("name")
    assert "no face found in any of its 12" in rows.loc["noise.mp4", "error"]
    assert "broken.mp4" in rows.loc["broken.mp4", "error"] and (rows["backend"] == "mesh").all()
    assert not list((tmp_path / "out").glob("*.mp4.csv")) and not (tmp_path / "out" / "noise.csv").exists()


def test_mesh_backend_on_a_real_cut_round_trips(fake_mesh: None, realdata: Path, tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    real_cut(realdata, folder / "subj01_cut.mp4")
    corrupt_video(folder / "zz_broken.mp4")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "subj01_cut.csv").write_text("stale\n")  # an earlier run's output is overwritten
    assert main([str(folder), "--out", str(out), "--stride", "2", "--no-progress"]) == 1
    rows = report(out).set_index("name")
    assert rows.loc["subj01_cut.mp4", "error"] == "" and rows.loc["zz_broken.mp4", "error"] != ""
    assert rows.loc["subj01_cut.mp4", "frames"] == "30" and rows.loc["subj01_cut.mp4", "frames_with_face"] == "30"
    assert float(rows.loc["subj01_cut.mp4", "fps_video"]) == pytest.approx(30.0)
    table = read_openface_csv(out / "subj01_cut.csv")
    assert table.frame.tolist() == list(range(1, 61, 2)) and table.success.all()
    expected = fake_estimators()[0](None, np.ones(30, dtype=bool))
    np.testing.assert_allclose(table.values[:, table.channel_index(list(expected.columns))], expected.to_numpy(), atol=0.005)
    raw = pd.read_csv(out / "subj01_cut.csv", skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    truth = pd.read_csv(realdata / "opendbm" / "subj01_timepoint01_openface.csv", skipinitialspace=True)
    truth.columns = [c.strip() for c in truth.columns]
    truth = truth.set_index("frame").loc[raw["frame"]]
    assert np.abs(raw["x_30"].to_numpy() - truth["x_30"].to_numpy()).max() < 15  # nose tip within 15 px of OpenFace's
    assert np.abs(raw["pose_Tz"].to_numpy() - truth["pose_Tz"].to_numpy()).max() < 40  # depth within 10 %


def test_mesh_backend_with_the_real_estimators(realdata: Path, tmp_path: Path) -> None:
    video = real_cut(realdata, tmp_path / "cut.mp4", frames=40)
    assert main([str(video), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    table = read_openface_csv(tmp_path / "out" / "cut.csv")
    columns = [f"{au}_r" for au in INTENSITY_AUS]
    values = table.values[:, table.channel_index(columns)]
    assert table.success.all() and np.isfinite(values).all() and ((values >= 0) & (values <= 5)).all()
    assert set(columns) <= set(table.available) and "AU45_c" in table.available


# ---- layout in make_manifest and an AU-sequence config -------------------------------------------
def test_manifest_and_au_sequence_config_take_our_csvs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datamodules import AUSequenceDataModule
    from datamodules.make_manifest import main as make_manifest

    data = tmp_path / "aus"
    rng = np.random.default_rng(0)
    for s in range(6):
        sequence = synthetic_sequence(frames=40, invalid=(3,), seed=s)
        aus = synthetic_aus(sequence.valid) * rng.uniform(0.5, 1.0)
        aus[[c for c in aus.columns if c.endswith("_c")]] = rng.integers(0, 2, size=(40, len(INTENSITY_AUS)))
        write_openface_csv(openface_table(sequence, aus.clip(0, 5), np.zeros((40, 3))), data / f"p{s}_session1.csv")
    labels = tmp_path / "labels.csv"
    labels.write_text("subject_id,label\n" + "".join(f"p{s},{s % 2}\n" for s in range(6)))
    manifest = tmp_path / "manifest.csv"
    assert make_manifest(["--format", "openface-dir", str(data), "--out", str(manifest), "--labels", str(labels)]) == 0
    listed = pd.read_csv(manifest)
    assert sorted(listed["subject_id"]) == [f"p{s}" for s in range(6)] and "skipped: 0" in capsys.readouterr().out
    config = yaml.safe_load((ROOT / "configs" / "au" / "bridge_demo.yaml").read_text())["data"]["init_args"]
    config.update(manifest=str(manifest), cache_dir=None, window=8, stride=8, num_folds=3)
    dm = AUSequenceDataModule(**config)
    dm.setup("fit")
    assert dm.datasets["train"][0]["x"].shape == (8, len(config["channels"]))
    assert dm.data_report["train"]["videos"] + dm.data_report["val"]["videos"] + dm.data_report["test"]["videos"] == 6


# ---- openface backend ----------------------------------------------------------------------------
def fake_openface(folder: Path, success: int = 1) -> Path:
    """A ``FeatureExtraction`` stand-in: logs its arguments, writes ``<out_dir>/<stem>.csv`` (5 frames)."""
    folder.mkdir(parents=True, exist_ok=True)
    template = make_openface_csv(folder / "template.csv", np.full((5, 35), 1.0), success=np.full(5, success))
    script = folder / "FeatureExtraction"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import shutil, sys
        from pathlib import Path
        args = sys.argv[1:]
        open({str(folder / 'calls.log')!r}, "a").write(" ".join(args) + "\\n")
        video = Path(args[args.index("-f") + 1])
        if video.read_bytes()[:4] == b"BAD!":
            sys.exit("Could not open " + str(video))
        shutil.copy({str(template)!r}, Path(args[args.index("-out_dir") + 1]) / (video.stem + ".csv"))
        """))
    script.chmod(0o755)
    return script


def dummy_videos(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"BAD!" if "bad" in name else b"video")
    return sorted(folder / n for n in names)


def test_openface_backend_runs_the_executable(tmp_path: Path) -> None:
    binary = fake_openface(tmp_path / "bin")
    dummy_videos(tmp_path / "videos", ["a.mp4", "b_bad.mp4"])
    out = tmp_path / "out"
    assert main([str(tmp_path / "videos"), "--out", str(out), "--backend", "openface", "--openface-bin", str(binary),
                 "--no-progress"]) == 1
    calls = (tmp_path / "bin" / "calls.log").read_text().splitlines()
    assert len(calls) == 2 and calls[0].startswith(f"-f {tmp_path / 'videos' / 'a.mp4'} -out_dir ")
    assert calls[0].endswith("-aus -pose -2Dfp -3Dfp")
    assert (out / "a.csv").read_text() == (tmp_path / "bin" / "template.csv").read_text()  # moved unchanged
    rows = report(out).set_index("name")
    assert rows.loc["a.mp4", "frames"] == "5" and rows.loc["a.mp4", "frames_with_face"] == "5"
    assert "Could not open" in rows.loc["b_bad.mp4", "error"] and "exited with 1" in rows.loc["b_bad.mp4", "error"]
    assert not [p for p in out.iterdir() if p.name.startswith(".openface-")]  # its temporary folders are gone


def test_openface_faceless_output_is_skipped(tmp_path: Path) -> None:
    binary = fake_openface(tmp_path / "bin", success=0)
    dummy_videos(tmp_path / "videos", ["dark.mp4"])
    assert main([str(tmp_path / "videos"), "--out", str(tmp_path / "out"), "--backend", "openface",
                 "--openface-bin", str(binary), "--no-progress"]) == 1
    assert "no face found in any of its 5" in report(tmp_path / "out").loc[0, "error"]
    assert not (tmp_path / "out" / "dark.csv").exists()


def test_openface_backend_without_the_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    dummy_videos(tmp_path / "videos", ["a.mp4"])
    missing = tmp_path / "nowhere" / "FeatureExtraction"
    args = [str(tmp_path / "videos"), "--out", str(tmp_path / "out"), "--backend", "openface"]
    assert main([*args, "--openface-bin", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "'FeatureExtraction' on PATH" in err and "--openface-bin" in err
    assert not (tmp_path / "out").exists()


def test_shards_of_a_job_array_cover_the_folder_once(tmp_path: Path) -> None:
    binary = fake_openface(tmp_path / "bin")
    videos = dummy_videos(tmp_path / "videos", [f"v{i}.mp4" for i in range(5)])
    out = tmp_path / "out"
    for k in (1, 2):
        assert main([str(tmp_path / "videos"), "--out", str(out), "--backend", "openface", "--openface-bin", str(binary),
                     "--shard", f"{k}/2", "--no-progress"]) == 0
    first, second = report(out, "extraction_report.shard1of2.csv"), report(out, "extraction_report.shard2of2.csv")
    assert first["name"].tolist() == ["v0.mp4", "v2.mp4", "v4.mp4"] and second["name"].tolist() == ["v1.mp4", "v3.mp4"]
    assert sorted(p.name for p in out.glob("*.csv") if not p.name.startswith("extraction")) == [f"{v.stem}.csv" for v in videos]
    assert main([str(tmp_path / "videos"), "--out", str(out), "--backend", "openface", "--shard", "3/2"]) == 2
    assert main([str(tmp_path / "videos"), "--out", str(out), "--backend", "openface", "--openface-bin", str(binary),
                 "--stride", "2"]) == 2


# ---- video_to_depression --backend ---------------------------------------------------------------
def test_video_to_depression_with_the_openface_backend(tmp_path: Path, tiny_args: list[str], demo_manifest: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from facedep.experiment.train import run_training
    from facedep.inference import video_pipeline

    metrics = run_training([*tiny_args, "--trainer.max_epochs", "1"])
    classifier = Path(metrics["best_checkpoint"])
    binary = fake_openface(tmp_path / "bin")
    videos = dummy_videos(tmp_path / "videos", ["c1.mp4", "c2_bad.mp4"])
    out = tmp_path / "pred"
    code = video_pipeline.main(["--backend", "openface", "--openface-bin", str(binary), "--classifier", str(classifier),
                                *map(str, videos), "--out", str(out)])
    assert code == 1  # one video failed
    table = pd.read_csv(out / "predictions.csv").set_index("video")
    expected = video_pipeline.predict_au_csv(video_pipeline.load_sequence_classifier(classifier), out / "c1.aus.csv")
    assert table.loc["c1.mp4", "frames"] == 5 and table.loc["c1.mp4", "score"] == pytest.approx(expected["score"], abs=1e-4)
    assert "Could not open" in table.loc["c2_bad.mp4", "error"]
    assert (out / "c1.aus.csv").exists() and (out / "extraction_report.csv").exists()
    assert video_pipeline.main(["--classifier", str(classifier), str(videos[0]), "--out", str(out)]) == 2
    assert "--au-detector" in capsys.readouterr().err


# ---- detector backend ----------------------------------------------------------------------------
def test_detector_backend_writes_the_bridge_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from facedep.inference.au_bridge import load_au_detector, video_to_au_table
    from test_au_bridge import make_detector_ckpt
    from video_helpers import write_video

    ckpt = make_detector_ckpt(tmp_path / "det.ckpt")
    video = write_video(tmp_path / "grey.mp4", frames=6)
    out = tmp_path / "out"
    assert main([str(video), "--out", str(out), "--backend", "detector", "--ckpt", str(ckpt), "--faces", "whole",
                 "--batch-size", "4", "--no-progress"]) == 0
    written = pd.read_csv(out / "grey.csv")
    expected = video_to_au_table(load_au_detector(ckpt), video, faces="whole")
    assert list(written.columns) == list(expected.columns)
    np.testing.assert_allclose(written["AU01_p"], expected["AU01_p"], atol=1e-4)
    assert report(out).loc[0, "frames"] == "6" and report(out).loc[0, "backend"] == "detector"
    assert main([str(video), "--out", str(out), "--backend", "detector"]) == 2
    assert "--ckpt" in capsys.readouterr().err


def test_video_to_depression_with_the_mesh_backend(fake_mesh: None, realdata: Path, tmp_path: Path,
                                                   tiny_args: list[str]) -> None:
    from facedep.experiment.train import run_training
    from facedep.inference import video_pipeline

    classifier = Path(run_training([*tiny_args, "--trainer.max_epochs", "1"])["best_checkpoint"])  # intensity channels
    video = real_cut(realdata, tmp_path / "cut.mp4", frames=64)
    out = tmp_path / "pred"
    assert video_pipeline.main(["--backend", "mesh", "--model", "mesh", "--classifier", str(classifier), str(video),
                                "--out", str(out)]) == 0
    row = pd.read_csv(out / "predictions.csv").iloc[0]
    expected = video_pipeline.predict_au_csv(video_pipeline.load_sequence_classifier(classifier), out / "cut.aus.csv")
    assert row["frames_used"] == 64 and row["windows"] == expected["windows"] > 0
    assert row["score"] == pytest.approx(expected["score"], abs=1e-4)


def test_bad_calibration_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("datamodules.preprocessing.aus")
    bad = tmp_path / "calibration.json"
    bad.write_text("not json")
    video = noise_video(tmp_path / "noise.mp4")
    assert main([str(video), "--out", str(tmp_path / "out"), "--calibration", str(bad), "--no-progress"]) == 2
    assert f"--calibration {bad}" in capsys.readouterr().err
    assert not (tmp_path / "out" / "extraction_report.csv").exists()
