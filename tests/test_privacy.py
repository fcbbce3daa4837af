"""run.privacy: no absolute data/cache path, host name or command line in a run folder; subject pseudonyms."""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from facedep.experiment.privacy import PrivateCheckpointPaths, RunPrivacy, load_salt, pseudonym, relative_to
from facedep.experiment.train import run_training

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA_CONFIGS = ("au/daic_woz_gru.yaml", "au/opendbm_inception.yaml", "au/severity_mlp.yaml",
                     "landmarks/cnn_lstm_daic.yaml", "landmarks/temporal_daic.yaml", "images/hybrid_affectnet.yaml",
                     "images/resnet50.yaml")
DEMO_CONFIGS = ("demo.yaml", "landmarks/demo.yaml", "images/demo.yaml", "au/detector_demo.yaml", "au/bridge_demo.yaml",
                "au/hrm_atypicality_gru.yaml", "tests/tiny.yaml")


# ---- pseudonyms and paths -----------------------------------------------------------------------
def test_pseudonyms_are_stable_per_salt_and_differ_between_ids(tmp_path: Path) -> None:
    salt_file = tmp_path / "runs" / ".privacy_salt"
    first = RunPrivacy(tmp_path / "m.csv", tmp_path / "runs" / "a", salt_file)
    second = RunPrivacy(tmp_path / "m.csv", tmp_path / "runs" / "b" / "fold1", salt_file)  # another run, same salt
    assert first.pseudonym("sub003") == second.pseudonym("sub003")
    assert re.fullmatch(r"subj-[0-9a-f]{12}", first.pseudonym("sub003"))
    assert first.pseudonym("sub003") != first.pseudonym("sub004")
    assert first.pseudonym("sub003") != pseudonym("sub003", b"another salt, another project")
    assert salt_file.stat().st_mode & 0o777 == 0o600
    assert load_salt(salt_file) == first.salt  # the file is read back, not replaced
    # hand-checked HMAC-SHA256(b"k" * 32, b"sub003"), first 12 hex digits
    assert pseudonym("sub003", b"k" * 32) == "subj-0487ad716a22"


def test_short_salt_file_is_rejected_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "salt.txt"
    bad.write_text("abc\n")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        load_salt(bad)


def test_relative_to_manifest_folder_home_and_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/alice")
    assert relative_to("/data/daic/openface/s1.csv", "/data/daic") == "openface/s1.csv"
    assert relative_to("/data/daic", "/data/daic") == "."
    assert relative_to("/home/alice/.cache/facedep", "/data/daic") == "~/.cache/facedep"  # no user name
    assert relative_to("/home/alice/.cache/facedep", "/home/alice/data") == "../.cache/facedep"
    assert relative_to("/scratch/cache", "/data/daic") == "../../scratch/cache"


def test_checkpoint_callback_paths_saved_relative_and_resolved_back(tmp_path: Path) -> None:
    run_dir = (tmp_path / "runs" / "r").resolve()
    best = str(run_dir / "checkpoints" / "best-epoch001.ckpt")
    state = {"dirpath": str(run_dir / "checkpoints"), "best_model_path": best, "last_model_path": "",
             "best_k_models": {best: torch.tensor(0.5)}, "monitor": "val/selection_score"}
    checkpoint = {"callbacks": {"ModelCheckpoint{...}": dict(state)}}
    callback = PrivateCheckpointPaths(run_dir)
    callback.on_save_checkpoint(None, None, checkpoint)
    saved = checkpoint["callbacks"]["ModelCheckpoint{...}"]
    assert saved["dirpath"] == "checkpoints" and saved["best_model_path"] == "checkpoints/best-epoch001.ckpt"
    assert list(saved["best_k_models"]) == ["checkpoints/best-epoch001.ckpt"] and saved["last_model_path"] == ""
    assert saved["monitor"] == "val/selection_score"
    callback.on_load_checkpoint(None, None, checkpoint)
    assert checkpoint["callbacks"]["ModelCheckpoint{...}"] == {**state, "best_k_models": state["best_k_models"]}


def test_run_privacy_from_config_salt_file_default_and_missing_manifest(tmp_path: Path) -> None:
    from jsonargparse import Namespace

    from facedep.experiment.cli import run_privacy

    config = Namespace(run=Namespace(privacy=True, output_dir=str(tmp_path / "runs"), name="cv/fold0", salt_file=None),
                       data=Namespace(init_args=Namespace(manifest=str(tmp_path / "d" / "m.csv"))))
    privacy = run_privacy(config)
    assert privacy.manifest_dir == tmp_path / "d" and privacy.run_dir == tmp_path / "runs" / "cv" / "fold0"
    assert privacy.salt_file == tmp_path / "runs" / ".privacy_salt"  # shared by every run and fold in output_dir
    config.run.salt_file = str(tmp_path / "project.salt")
    assert run_privacy(config).salt_file == tmp_path / "project.salt"
    config.data.init_args.manifest = None
    with pytest.raises(ValueError, match="run.privacy needs data.init_args.manifest"):
        run_privacy(config)
    config.run.privacy = False
    assert run_privacy(config) is None


def test_wandb_dryrun_environment_means_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from facedep.experiment.tracking import resolve_wandb_mode

    monkeypatch.setenv("WANDB_MODE", "dryrun")  # what Lightning's WandbLogger leaves after an offline run
    assert resolve_wandb_mode("auto") == "offline" and resolve_wandb_mode("disabled") == "disabled"


# ---- a private run folder -------------------------------------------------------------------------
def _train(tiny_args: list[str], tmp_path: Path, *extra: str) -> tuple[dict, Path, Path]:
    cache = tmp_path / "feature-cache"
    result = run_training(tiny_args + ["--tracking.wandb", "offline", "--trainer.max_epochs", "1",
                                       "--data.init_args.cache_dir", str(cache), *extra])
    return result, tmp_path / "runs" / "tiny", cache


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _subject_table(run_dir: Path) -> pd.DataFrame:
    (table,) = run_dir.glob("wandb/offline-run-*/files/media/table/test/predictions_subject_*.table.json")
    body = json.loads(table.read_text())
    return pd.DataFrame(body["data"], columns=body["columns"])


def _tracker_bytes(run_dir: Path) -> bytes:
    """What W&B syncs: the run's record file and its files/ folder (not the local debug logs)."""
    return b"".join(p.read_bytes() for p in _files(run_dir / "wandb") if "logs" not in p.parts and p.suffix != ".log")


def test_private_run_folder_has_no_absolute_path_host_or_subject_id(
    tiny_args: list[str], tmp_path: Path, demo_manifest: Path
) -> None:
    result, run_dir, cache = _train(tiny_args, tmp_path, "--run.privacy", "true")
    data_dir = demo_manifest.parent
    assert result["run_dir"] == str(tmp_path / "runs" / "tiny")  # the in-process result keeps usable paths
    for path in _files(run_dir):
        content = path.read_bytes()
        for secret in (str(data_dir), str(cache)):
            assert secret.encode() not in content, f"{secret} in {path}"
    subjects = json.loads((run_dir / "data_report.json").read_text())["test"]["subject_ids"]
    tracker = _tracker_bytes(run_dir)
    host = socket.gethostname()
    assert bytes([len(host)]) + host.encode() not in tracker  # no protobuf string field holding the host name
    assert str(tmp_path).encode() not in tracker  # nor the run folder's location (W&B "root")
    for program in (sys.argv[0], Path(sys.argv[0]).name, "pytest.__main__"):  # ``python -m pytest`` -> "-m pytest.__main__"
        assert program.encode() not in tracker, program
    for arg in (a for a in sys.argv[1:] if len(a) >= 3):  # the command line, one protobuf string per argument
        assert bytes([len(arg)]) + arg.encode() not in tracker, arg
    for subject in subjects:
        assert subject.encode() not in tracker, subject

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["data"]["init_args"]["manifest"] == demo_manifest.name
    assert (data_dir / config["data"]["init_args"]["cache_dir"]).resolve() == cache.resolve()
    assert (run_dir / config["run"]["output_dir"]).resolve() == (tmp_path / "runs").resolve()
    hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    assert hparams["manifest"] == demo_manifest.name and hparams["cache_dir"] == config["data"]["init_args"]["cache_dir"]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["run_dir"] == "." and metrics["best_checkpoint"] == "checkpoints/best-epoch000.ckpt"
    assert metrics["predictions"]["video"] == "predictions_test_video.csv" and metrics["data"]["manifest"] == demo_manifest.name
    videos = pd.read_csv(run_dir / "predictions_test_video.csv")
    assert all(not Path(n).is_absolute() and (data_dir / n).is_file() for n in videos["name"])

    checkpoint = torch.load(run_dir / metrics["best_checkpoint"], weights_only=True)
    assert checkpoint["datamodule_hyper_parameters"]["manifest"] == demo_manifest.name
    (state,) = [s for k, s in checkpoint["callbacks"].items() if k.startswith("ModelCheckpoint")]
    assert state["dirpath"] == "checkpoints" and state["best_model_path"] == "checkpoints/best-epoch000.ckpt"

    table = _subject_table(run_dir)
    salt = load_salt(tmp_path / "runs" / ".privacy_salt")
    assert sorted(table["subject"]) == sorted(pseudonym(s, salt) for s in subjects)

    from facedep.inference.video_pipeline import load_sequence_classifier

    classifier = load_sequence_classifier(run_dir / metrics["best_checkpoint"])  # needs channels and window, not paths
    assert classifier.window == 32 and len(classifier.channels) == 17


def test_without_privacy_run_folder_keeps_absolute_paths_and_ids(
    tiny_args: list[str], tmp_path: Path, demo_manifest: Path
) -> None:
    _, run_dir, cache = _train(tiny_args, tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["data"]["init_args"]["manifest"] == str(demo_manifest) and config["run"]["privacy"] is False
    assert config["data"]["init_args"]["cache_dir"] == str(cache)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["best_checkpoint"].startswith(str(run_dir / "checkpoints"))
    assert all(Path(n).is_absolute() for n in pd.read_csv(run_dir / "predictions_test_video.csv")["name"])
    subjects = json.loads((run_dir / "data_report.json").read_text())["test"]["subject_ids"]
    assert sorted(_subject_table(run_dir)["subject"]) == sorted(subjects)
    assert not (tmp_path / "runs" / ".privacy_salt").exists()


def test_cross_validation_folds_share_pseudonyms_and_report_relative_runs(
    demo_manifest: Path, tmp_path: Path
) -> None:
    from facedep.experiment.cross_validate import cross_validate

    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--run.name", "cv", "--trainer.max_epochs", "1", "--tracking.wandb", "offline", "--run.privacy", "true"]
    cross_validate(str(ROOT / "configs" / "tests" / "tiny.yaml"), folds=2, overrides=overrides, n_boot=20)
    cv_dir = tmp_path / "runs" / "cv"
    assert json.loads((cv_dir / "report.json").read_text())["runs"] == ["fold0", "fold1"]
    salt = load_salt(tmp_path / "runs" / ".privacy_salt")
    for fold in (0, 1):
        subjects = pd.read_csv(cv_dir / f"fold{fold}" / "predictions_test_subject.csv", dtype={"name": str})["name"]
        assert sorted(_subject_table(cv_dir / f"fold{fold}")["subject"]) == sorted(pseudonym(s, salt) for s in subjects)
    host = socket.gethostname()
    (cv_run,) = cv_dir.glob("wandb/offline-run-*")
    assert bytes([len(host)]) + host.encode() not in b"".join(p.read_bytes() for p in _files(cv_run) if p.suffix != ".log")


# ---- shipped configs ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", REAL_DATA_CONFIGS)
def test_real_data_configs_turn_privacy_on(name: str) -> None:
    assert yaml.safe_load((ROOT / "configs" / name).read_text())["run"]["privacy"] is True


@pytest.mark.parametrize("name", DEMO_CONFIGS)
def test_demo_configs_keep_privacy_off(name: str) -> None:
    assert not (yaml.safe_load((ROOT / "configs" / name).read_text()).get("run") or {}).get("privacy", False)
