"""``scripts/benchmark.py overhead`` and ``data``: tiny runs complete and write the expected JSON (no speed asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facedep.benchmarks import build_parser, main


def test_subcommands_are_registered() -> None:
    parser = build_parser()
    assert parser.parse_args(["overhead", "--net", "lstm"]).net == "lstm"
    assert parser.parse_args(["data", "--rows", "5"]).rows == 5
    assert parser.parse_args(["extraction", "--workers", "1", "2"]).workers == [1, 2]


def test_overhead_tiny_run_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    assert main(["overhead", "--subjects", "8", "--epochs", "1", "--frames", "120", "200", "--profile",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {"ours", "plain", "ratio", "samples_per_epoch", "epoch_seconds", "machine", "train_windows"} <= set(result)
    assert result["ours"] > 0 and result["plain"] > 0 and result["ratio"] > 0
    assert len(result["epoch_seconds"]["ours"]) == len(result["epoch_seconds"]["plain"]) == 2  # warm-up + 1
    assert result["machine"]["torch_threads"] >= 1 and result["machine"]["cpu"]
    control = result["control"]  # the minimal LightningModule, against its own interleaved plain epochs
    assert len(control["epoch_seconds"]["ours"]) == 2 and control["ratio"] > 0
    assert result["ours_over_minimal"] == pytest.approx(result["ratio"] / control["ratio"])
    per_step = result["profile"]["ms_per_step"]
    assert set(per_step) == {"plain", "control", "ours"}
    # the plain loop enters Lightning only for the DataModule's batch hook
    assert per_step["plain"].get("lightning", 0.0) < 0.1 * min(per_step["control"]["lightning"], per_step["ours"]["lightning"])
    assert per_step["ours"]["torchmetrics"] > 0 and per_step["control"].get("torchmetrics", 0.0) == 0.0
    assert all(row["ms_per_step"] > 0 for row in result["profile"]["top_functions_ours"])


def test_overhead_rounds_report_the_median_run(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    assert main(["overhead", "--subjects", "8", "--epochs", "1", "--frames", "120", "200", "--rounds", "3",
                 "--no-control", "--net", "lstm", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["rounds"] == 3 and len(result["ratios"]) == 3 and "control" not in result
    assert result["ratio"] == sorted(result["ratios"])[1]


def test_data_tiny_run_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "data.json"
    assert main(["data", "--rows", "2000", "--subjects", "20", "--json", str(out)]) == 0  # 5 per class: all 4 in every test fold
    result = json.loads(out.read_text())
    assert {"rows", "parse", "cold", "warm", "cold_over_warm", "target", "machine"} <= set(result)
    for step in ("parse", "cold", "warm"):
        assert result[step]["seconds"] > 0 and result[step]["peak_mb"] > 0
    assert result["parse"]["rows"] == 2000
    assert result["cold"]["cache_misses"] == 1 and result["warm"]["cache_hits"] == 1
    assert result["warm"]["frames"] == 2000 and result["cold_over_warm"] > 0


def test_overhead_image_net_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "overhead_image.json"
    assert main(["overhead", "--net", "image", "--backbone", "test_resnet", "--images", "24", "--image-size", "32",
                 "--batch-size", "8", "--epochs", "1", "--precision", "bf16-mixed", "--channels-last",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["net"] == "test_resnet" and result["precision"] == "bf16-mixed" and result["channels_last"]
    assert result["ours"] > 0 and result["plain"] > 0
    assert len(result["epoch_seconds"]["ours"]) == len(result["epoch_seconds"]["plain"]) == 2


def test_plain_side_reuses_one_loader(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Both sides keep their loader (and so their persistent workers) across epochs."""
    from facedep.benchmarks import overhead

    made = []
    dm = overhead.make_datamodule(tmp_path, 8, (120, 200), 16, 64, 0)
    original = dm.train_dataloader
    monkeypatch.setattr(dm, "train_dataloader", lambda: made.append(1) or original())
    overhead.run_ours_and_plain(dm, "lstm", 2, overhead.torch.device("cpu"), 0)
    assert len(made) == 2  # one for Lightning, one for all three plain epochs


@pytest.mark.slow
def test_tuning_tiny_run_checks_both_studies(tmp_path: Path) -> None:
    """1 worker vs 2 workers sharing one SQLite study: both studies hold every trial once, the JSON has the ratio."""
    out = tmp_path / "tuning.json"
    assert main(["tuning", "--trials", "2", "--epochs", "1", "--no-oversubscribed", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [row["workers"] for row in result["rows"]] == [1, 2]
    for row in result["rows"]:
        assert row["ok"] and row["complete"] == 2 and row["distinct_params"] == 2 and row["wall_s"] > 0
    assert result["rows"][0]["speedup"] == 1.0 and result["rows"][1]["speedup"] > 0


def test_extraction_tiny_run_writes_json(tmp_path: Path) -> None:
    """Two tiny synthetic videos cycled into a folder of 3; 1 vs 2 workers give the same report."""
    from datamodules.preprocessing import face_models
    from test_extract_landmarks import write_video

    try:
        face_models.ensure_face_models()
        face_models.ensure_attention_model()
    except face_models.FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", frames=3)
    write_video(videos / "b.mp4", frames=2)
    out = tmp_path / "extraction.json"
    assert main(["extraction", "--videos", str(videos), "--count", "3", "--workers", "1", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [row["workers"] for row in result["rows"]] == [1, 2]
    for row in result["rows"]:
        assert row["videos"] == 3 and row["frames"] == 8 and row["wall_s"] > 0 and row["same_report"]
    assert result["rows"][0]["speedup"] == 1.0 and result["rows"][1]["per_core"] > 0
