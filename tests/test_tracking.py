"""Tracking: a quiet console, grouped W&B runs of a cross-validation, checkpoints as artifacts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

NOISE = (
    "Tip: For seamless cloud logging",  # Lightning's litlogger advertisement
    "LeafSpec)` is deprecated",  # torch's pytree deprecation, raised inside Lightning
    "exists and is not empty",  # Lightning's CSVLogger on our (already populated) run folder
    "The anonymous setting has no effect",  # W&B on Lightning's default anonymous=None
)


def test_training_console_has_no_third_party_noise(tiny_args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline"}
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), *tiny_args, "--trainer.max_epochs", "1", "--tracking.wandb", "offline"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Run folder:" in output
    for message in NOISE:
        assert message not in output, message


def test_cross_validation_groups_its_runs(demo_manifest: Path, tmp_path: Path, wandb_init_calls: list[dict]) -> None:
    from facedep.experiment.cross_validate import cross_validate
    from facedep.experiment.cv_tracking import summary_tables

    config = yaml.safe_load((ROOT / "configs" / "tests" / "tiny.yaml").read_text())
    config["tracking"] = {"wandb": "offline", "tags": ["tiny", "grouped"]}
    config_path = tmp_path / "tagged.yaml"
    config_path.write_text(yaml.safe_dump(config))
    calls = wandb_init_calls
    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--run.name", "cvgroup14", "--trainer.max_epochs", "1", "--run.privacy", "true"]
    summary = cross_validate(str(config_path), 2, overrides, n_boot=10)

    assert [(c["group"], c["job_type"], c["tags"]) for c in calls] == [
        ("cvgroup14", "fold", ["tiny", "grouped"]), ("cvgroup14", "fold", ["tiny", "grouped"]),
        ("cvgroup14", "summary", ["tiny", "grouped"]),
    ]
    named = [str(c.get(key)) for c in calls for key in ("name", "group", "job_type", "tags")]
    assert not any(str(tmp_path) in text for text in named)  # run.privacy: no path in what names the runs
    for fold in (0, 1):
        (run,) = (tmp_path / "runs" / "cvgroup14" / f"fold{fold}" / "wandb").glob("offline-run-*/run-*.wandb")
        assert b"cvgroup14" in run.read_bytes()
    tables = summary_tables(summary)
    assert {"cv/metrics", "cv/trainer_metrics", "cv/au_importance"} <= set(tables)  # AU explanations on by default
    assert {"level", "metric", "mean", "std", "fold0", "fold1"} <= set(tables["cv/metrics"].columns)


@pytest.mark.parametrize("log_checkpoints", [True, False])
def test_checkpoints_as_wandb_artifact_only_when_asked(
    tiny_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_checkpoints: bool
) -> None:
    from wandb.sdk.wandb_run import Run

    from facedep.experiment.train import run_training

    logged: list[tuple[str, list[str]]] = []
    real = Run.log_artifact

    def record(self: Run, artifact, *args: object, **kwargs: object):  # noqa: ANN001, ANN202
        logged.append((artifact.type, sorted(artifact.manifest.entries)))
        return real(self, artifact, *args, **kwargs)

    monkeypatch.setattr(Run, "log_artifact", record)
    run_training(tiny_args + ["--tracking.wandb", "offline", "--trainer.max_epochs", "1", "--run.test", "false",
                              "--run.log_checkpoints", str(log_checkpoints).lower()])
    if not log_checkpoints:
        assert logged == []
        return
    ((kind, files),) = logged
    assert kind == "model" and files == ["best-epoch000.ckpt", "last.ckpt"]
