"""W&B of a study: one run per trial (group = the study, job_type = trial, the sampled values as config, the inner
folds' validation curves) and one study run (job_type = study) with the plots; nothing when W&B is disabled."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from facedep.experiment.config_values import arg_value
from facedep.tuning.tune import TuneOptions, tune

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")
LR = "model.init_args.optimizer.init_args.lr"


def _runner(args: list[str], callbacks=()) -> dict:  # noqa: ANN001
    """A trial's inner run without training: a metrics.csv whose validation score rises with the learning rate."""
    run_dir = Path(arg_value(args, "--run.output_dir", "")) / arg_value(args, "--run.name", "")
    run_dir.mkdir(parents=True)
    lr = float(arg_value(args, "--" + LR, "nan"))
    scores = [0.5 + lr * epoch for epoch in range(3)]
    pd.DataFrame({"epoch": range(3), "val/selection_score": scores}).to_csv(run_dir / "metrics.csv", index=False)
    return {"best_val_score": max(scores), "run_dir": str(run_dir)}


def _tune(tmp_path: Path, manifest: Path, mode: str) -> object:
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({LR: {"type": "float", "low": 0.01, "high": 0.1, "log": True}}))
    overrides = ["--data.init_args.manifest", str(manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--tracking.wandb", mode, "--tracking.project", "tuning-test", "--trainer.max_epochs", "3"]
    options = TuneOptions(trials=3, inner_folds=2, pruner="none", study="lrsearch", study_dir=tmp_path / "study")
    return tune(TINY, str(space), overrides, options, runner=_runner)


def test_each_trial_is_a_wandb_run_in_the_study_group(tmp_path: Path, demo_manifest: Path,
                                                      wandb_init_calls: list[dict]) -> None:
    calls = wandb_init_calls
    result = _tune(tmp_path, demo_manifest, "offline")

    trials = [c for c in calls if c.get("job_type") == "trial"]
    studies = [c for c in calls if c.get("job_type") == "study"]
    assert len(trials) == 3 and len(studies) == 1 and len(calls) == 4
    assert {c["group"] for c in calls} == {"lrsearch"}
    assert {c["project"] for c in calls} == {"tuning-test"}
    sampled = sorted(t.params[LR] for t in result.study.trials)
    assert sorted(c["config"][LR] for c in trials) == pytest.approx(sampled)
    assert sorted(c["config"]["trial"] for c in trials) == [0, 1, 2]
    assert all(c["config"]["inner_folds"] == 2 for c in trials)
    # each trial run holds both inner folds' validation curves, at the steps the pruner saw (k * max_epochs + epoch)
    logged = sorted((tmp_path / "study" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logged) == 4
    trial_runs = [p.read_bytes() for p in logged if b"trial_000" in p.read_bytes()]
    assert len(trial_runs) == 3
    assert all(b"inner0/val/selection_score" in data and b"inner1/val/selection_score" in data for data in trial_runs)
    (study_run,) = [p.read_bytes() for p in logged if b"lrsearch-study" in p.read_bytes()]
    assert b"history" in study_run


def test_disabled_tracking_starts_no_run(tmp_path: Path, demo_manifest: Path, wandb_init_calls: list[dict]) -> None:
    calls = wandb_init_calls
    result = _tune(tmp_path, demo_manifest, "disabled")
    assert calls == [] and not (tmp_path / "study" / "wandb").exists()
    assert result.best_config is not None and result.best_config.is_file()
