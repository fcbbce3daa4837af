"""``predict.py`` on an AU-sequence checkpoint: one AU file scored as the DataModule evaluates, ``--explain`` attributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.synthetic.openface_demo import generate_openface_demo
from facedep.experiment.train import run_training
from facedep.inference import predict, predict_aus
from facedep.inference.video_pipeline import load_sequence_classifier, predict_au_csv

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def au_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("predict-aus")
    generate_openface_demo(root / "data", num_subjects=9, frames=(80, 120), effect_size=2.0, seed=0)
    metrics = run_training(["--config", str(ROOT / "configs" / "tests" / "tiny.yaml"), "--data.init_args.manifest",
                            str(root / "data" / "manifest.csv"), "--trainer.max_epochs", "1",
                            "--run.output_dir", str(root / "runs")])
    csv = sorted((root / "data").rglob("*.csv"))
    source = next(p for p in csv if p.name not in ("manifest.csv", "labels.csv"))
    return {"root": root, "ckpt": Path(metrics["best_checkpoint"]), "source": source}


def test_predict_scores_an_au_file_as_the_datamodule_and_explains_it(au_run: dict[str, Path]) -> None:
    out = au_run["root"] / "out"
    assert predict.main([str(au_run["source"]), "--ckpt", str(au_run["ckpt"]), "--out", str(out), "--explain"]) == 0
    row = pd.read_csv(out / "predictions.csv")
    assert len(row) == 1
    expected = predict_au_csv(load_sequence_classifier(au_run["ckpt"]), au_run["source"])
    assert row["score"].iloc[0] == pytest.approx(expected["score"], abs=1e-6) and 0 <= expected["score"] <= 1
    folder = out / "explanations"
    per_frame = pd.read_csv(folder / "temporal_attribution.csv")
    per_au = pd.read_csv(folder / "au_attribution.csv").set_index("channel")
    channels = list(per_au.index)
    assert len(channels) == 17 and (folder / "temporal_attribution.png").is_file() and (folder / "au_attribution.png").is_file()
    frame_columns = [c for c in per_frame.columns if c in channels]
    sums = per_frame[frame_columns].sum(skipna=True)
    np.testing.assert_allclose(per_au.loc[frame_columns, "attribution"], sums, rtol=1e-4, atol=1e-6)
    assert (per_au["abs_attribution"] >= per_au["attribution"].abs() - 1e-6).all()
    assert '"kind": "aus"' in (folder / "explanations.json").read_text()


def test_an_au_checkpoint_refuses_a_source_that_is_not_an_au_file(au_run: dict[str, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert predict_aus.is_au_sequence_datamodule({"_class_path": "datamodules.AUSequenceDataModule"})
    folder = au_run["root"] / "data"
    assert predict.main([str(folder), "--ckpt", str(au_run["ckpt"]), "--out", str(au_run["root"] / "bad")]) == 2
    assert str(folder) in capsys.readouterr().err
    text = au_run["root"] / "notes.csv"
    text.write_text("a,b\n1,2\n")
    assert predict.main([str(text), "--ckpt", str(au_run["ckpt"]), "--out", str(au_run["root"] / "bad")]) == 2
    assert "notes.csv" in capsys.readouterr().err


def test_the_view_options_are_for_multimodal_checkpoints_only(au_run: dict[str, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert predict.main([str(au_run["source"]), "--ckpt", str(au_run["ckpt"]), "--landmarks", "v.npz",
                         "--out", str(au_run["root"] / "bad")]) == 2
    assert "--landmarks: for multimodal checkpoints only" in capsys.readouterr().err
