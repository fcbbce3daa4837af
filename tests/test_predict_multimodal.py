"""``predict.py`` on a multimodal (fusion) checkpoint: manifest rows and ``-`` videos scored as the DataModule evaluates,
missing views masked and said, view-masking explanations, refusals naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules import MultimodalDataModule
from datamodules.synthetic.multimodal import make_multimodal_demo
from facedep.experiment.train import run_training
from facedep.inference import predict, predict_multimodal
from facedep.inference.common import read_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fusion_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("predict-fusion")
    manifest = make_multimodal_demo(root / "data", num_subjects=9, frames=(40, 60), seed=1)
    metrics = run_training(["--config", str(ROOT / "configs" / "fusion" / "demo.yaml"), "--data.init_args.manifest",
                            str(manifest), "--trainer.max_epochs", "1", "--run.output_dir", str(root / "runs"),
                            "--tracking.wandb", "disabled", "--data.init_args.num_folds", "3"])
    ckpt = Path(metrics["best_checkpoint"])
    out = root / "all"
    assert predict.main([str(manifest), "--ckpt", str(ckpt), "--out", str(out)]) == 0
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    return {"root": root, "manifest": manifest, "ckpt": ckpt, "run": Path(metrics["run_dir"]), "rows": table,
            "predictions": pd.read_csv(out / "predictions.csv", keep_default_na=False).set_index("video")}


def _files(run: dict, subject: str) -> dict[str, str]:
    row = run["rows"].set_index("subject_id").loc[subject]
    folder = run["manifest"].parent
    return {view: str(folder / row[column]) if row[column] else ""
            for view, column in (("aus", "au_path"), ("landmarks", "landmarks_path"), ("faces", "faces_path"))}


def test_one_row_per_video_equal_to_the_runs_own_test_windows(fusion_run: dict) -> None:
    table = fusion_run["predictions"]
    assert len(table) == 9 and table.index.is_unique
    assert {"frames", "windows", "views_present", "views_missing", "present_aus", "present_landmarks", "present_faces",
            "score", "predicted_class", "class_name", "p_healthy", "p_depressed"} <= set(table.columns)
    no_faces = fusion_run["rows"]["faces_path"] == ""
    assert no_faces.any()  # the demo drops some videos' crops: absent, and said
    for stem, lacks in zip(fusion_run["rows"]["au_path"].map(lambda p: Path(p).stem), no_faces):
        row = table.loc[stem]
        assert row["views_present"] == ("aus,landmarks" if lacks else "aus,landmarks,faces")
        assert row["views_missing"] == ("faces" if lacks else "")
        assert float(row["present_faces"]) == (0.0 if lacks else 1.0)
        assert row["score"] == pytest.approx(row["p_depressed"]) and row["p_healthy"] + row["p_depressed"] == pytest.approx(1)

    # by hand: the run's own DataModule (its saved settings, set up again on the same manifest and fold) -> the test
    # windows of one test video -> the model's mean window probability
    checkpoint = read_checkpoint(fusion_run["ckpt"])
    settings = {k: v for k, v in checkpoint.dm_hparams.items() if not k.startswith("_")}
    dm = MultimodalDataModule(**{**settings, "cache_dir": None})
    dm.setup("test")
    loaded = predict_multimodal.load_fusion_model(fusion_run["ckpt"])
    for view in dm.views:
        np.testing.assert_allclose(dm.scalers[view].mean, loaded.datamodule.scalers[view].mean, rtol=1e-12)
    test = dm.datasets["test"]
    rows = np.flatnonzero(test.index[:, 0] == 0).tolist()
    video_index = int(test.video_ids[0])
    name = Path(dm.videos.loc[dm.videos["video_index"] == video_index, "path"].iloc[0]).stem
    with torch.no_grad():
        probs = loaded.model.loss_fn.probabilities(loaded.model(test.batch_of(rows)["x"])).double().mean(dim=0)
    assert table.loc[name, "windows"] == len(rows)
    assert [table.loc[name, "p_healthy"], table.loc[name, "p_depressed"]] == pytest.approx(probs.tolist(), abs=1e-6)
    # and Lightning's test loop of the run (its predictions_test_video.csv), every test video
    lightning = pd.read_csv(fusion_run["run"] / "predictions_test_video.csv")
    assert len(lightning) == len(np.unique(test.video_ids))
    for _, video in lightning.iterrows():
        assert table.loc[Path(video["name"]).stem, "p_depressed"] == pytest.approx(video["prob_depressed"], abs=1e-6)


def test_a_video_lacking_landmarks_is_masked_said_and_explained(fusion_run: dict) -> None:
    rows = fusion_run["rows"]
    subject = rows.loc[rows["faces_path"] != "", "subject_id"].iloc[0]
    no_faces = rows.loc[rows["faces_path"] == "", "subject_id"].iloc[0]
    lacking = rows[rows["subject_id"].isin([subject, no_faces])].copy()
    lacking.loc[lacking["subject_id"] == subject, "landmarks_path"] = ""
    manifest = fusion_run["manifest"].parent / "lacking.csv"
    lacking.to_csv(manifest, index=False)
    out = fusion_run["root"] / "lacking"
    assert predict.main([str(manifest), "--ckpt", str(fusion_run["ckpt"]), "--out", str(out), "--explain"]) == 0
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False).set_index("subject_id")
    row = table.loc[subject]
    assert row["views_present"] == "aus,faces" and row["views_missing"] == "landmarks"
    assert float(row["present_landmarks"]) == 0.0 and row["windows"] > 0
    assert table.loc[no_faces, "views_missing"] == "faces"

    folder = out / "explanations"
    views = pd.read_csv(folder / "view_contribution.csv")
    assert (folder / "view_contribution.png").is_file()
    assert len(views) == 2 * 3 and set(views["view"]) == {"aus", "landmarks", "faces"}
    absent = views[((views["video"] == row["video"]) & (views["view"] == "landmarks"))
                   | ((views["video"] == table.loc[no_faces, "video"]) & (views["view"] == "faces"))]
    assert len(absent) == 2
    assert (absent["change"] == 0.0).all() and (absent["mean_abs_window_change"] == 0.0).all()
    assert (absent["masked_score"] == absent["video_score"]).all() and absent["attention_received"].isna().all()
    assert (absent["present_fraction"] == 0.0).all()
    present = views.drop(absent.index)
    assert (present["present_fraction"] > 0).all() and present["attention_received"].between(0, 1).all()
    assert present["video_score"].tolist() == pytest.approx(
        [table.set_index("video").loc[v, "score"] for v in present["video"]], abs=1e-9)
    info = json.loads((folder / "explanations.json").read_text())
    assert info["kind"] == "fusion" and info["view_contribution"]["labels"] == "none involved"

    # the same video with its landmarks, given by '-' and the options: the manifest's row; masking its landmarks in
    # every window gives the score of the video without landmarks (same windows: none had landmarks alone)
    files = _files(fusion_run, subject)
    one = fusion_run["root"] / "one"
    assert predict.main(["-", "--au", files["aus"], "--landmarks", files["landmarks"], "--faces", files["faces"],
                         "--ckpt", str(fusion_run["ckpt"]), "--out", str(one), "--explain"]) == 0
    single = pd.read_csv(one / "predictions.csv", keep_default_na=False)
    name = Path(files["aus"]).stem
    assert len(single) == 1 and single["video"].iloc[0] == name and single["views_missing"].iloc[0] == ""
    full = fusion_run["predictions"].loc[name]
    for column in ("windows", "frames", "views_present", "predicted_class", "class_name"):
        assert single[column].iloc[0] == full[column]
    assert single[["p_healthy", "p_depressed"]].iloc[0].tolist() == pytest.approx(
        [full["p_healthy"], full["p_depressed"]], abs=1e-7)
    masked = pd.read_csv(one / "explanations" / "view_contribution.csv").set_index("view").loc["landmarks"]
    assert masked["windows_only_view"] == 0 and row["windows"] == single["windows"].iloc[0]
    assert masked["masked_score"] == pytest.approx(row["score"], abs=1e-6)
    assert masked["change"] != 0.0


def test_missing_or_unreadable_files_are_refused_naming_them(fusion_run: dict, capsys: pytest.CaptureFixture[str]) -> None:
    rows, folder, ckpt = fusion_run["rows"], fusion_run["manifest"].parent, str(fusion_run["ckpt"])
    bad = rows.head(2).copy()
    bad.loc[bad.index[1], "landmarks_path"] = "landmarks/nope.npz"
    (folder / "missing.csv").write_text(bad.to_csv(index=False))
    assert predict.main([str(folder / "missing.csv"), "--ckpt", ckpt, "--out", str(folder / "x")]) == 2
    err = capsys.readouterr().err
    assert "nope.npz" in err and "does not exist" in err and not (folder / "x" / "predictions.csv").exists()

    (folder / "landmarks" / "broken.npz").write_bytes(b"not an npz")
    bad.loc[bad.index[1], "landmarks_path"] = "landmarks/broken.npz"
    (folder / "broken.csv").write_text(bad.to_csv(index=False))
    assert predict.main([str(folder / "broken.csv"), "--ckpt", ckpt, "--out", str(folder / "x")]) == 2
    assert "broken.npz" in capsys.readouterr().err

    files = _files(fusion_run, rows["subject_id"].iloc[0])
    assert predict.main(["-", "--au", files["aus"], "--faces", str(folder / "nowhere_aligned"), "--ckpt", ckpt]) == 2
    assert "nowhere_aligned" in capsys.readouterr().err
    assert predict.main(["-", "--ckpt", ckpt]) == 2
    assert "--au" in capsys.readouterr().err
    assert predict.main([str(fusion_run["manifest"]), "--au", files["aus"], "--ckpt", ckpt]) == 2
    assert "'-'" in capsys.readouterr().err
    rows.drop(columns=["landmarks_path"]).to_csv(folder / "no_column.csv", index=False)
    assert predict.main([str(folder / "no_column.csv"), "--ckpt", ckpt, "--out", str(folder / "x")]) == 2
    assert "landmarks_path" in capsys.readouterr().err
    assert predict.main([files["aus"], "--ckpt", ckpt, "--out", str(folder / "x")]) == 2  # an AU CSV, not a manifest
    assert "manifest" in capsys.readouterr().err


def test_a_checkpoint_without_the_datamodule_statistics_is_refused(fusion_run: dict,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = torch.load(fusion_run["ckpt"], map_location="cpu", weights_only=True)
    data.pop("MultimodalDataModule")
    stripped = fusion_run["root"] / "stripped.ckpt"
    torch.save(data, stripped)
    assert predict.main([str(fusion_run["manifest"]), "--ckpt", str(stripped), "--out", str(fusion_run["root"] / "s")]) == 2
    assert "statistics" in capsys.readouterr().err


def test_a_regressor_checkpoint_predicts_the_score_in_target_units(fusion_run: dict) -> None:
    root = fusion_run["root"]
    metrics = run_training(["--config", str(ROOT / "configs" / "fusion" / "demo.yaml"), "--data.init_args.manifest",
                            str(fusion_run["manifest"]), "--trainer.max_epochs", "1", "--run.output_dir",
                            str(root / "runs-severity"), "--tracking.wandb", "disabled", "--data.init_args.num_folds",
                            "3", "--model.class_path", "lightning_modules.MultimodalRegressor",
                            "--data.init_args.target", "score"])
    lightning = pd.read_csv(Path(metrics["run_dir"]) / "predictions_test_video.csv").iloc[0]
    files = _files(fusion_run, lightning["subject"])
    out = root / "severity"
    options = [f"--{option}={files[view]}" for view, option in predict_multimodal.CLI_OPTIONS.items() if files[view]]
    assert predict.main(["-", *options, "--ckpt", metrics["best_checkpoint"], "--out", str(out), "--explain"]) == 0
    row = pd.read_csv(out / "predictions.csv", keep_default_na=False).iloc[0]
    assert row["score"] == pytest.approx(lightning["prediction"], abs=1e-5)  # mean window prediction, target units
    assert row["predicted_class"] == "" and not any(c.startswith("p_") for c in row.index)
    views = pd.read_csv(out / "explanations" / "view_contribution.csv")
    assert views["video_score"].tolist() == pytest.approx([row["score"]] * len(views), abs=1e-9)
