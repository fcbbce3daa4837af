"""Pruning (facedep/tuning/pruning.py) and the trial budget of tune(): a bad trial is stopped early, inner fold k
reports at step k * max_epochs + epoch, enqueued trials run.

The pruning logic is checked three ways: TrialPruning against a fake trainer, tune() with a stub runner that plays
validation curves through the real callback (fast), and tune() with real training on the tiny data.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
import torch
import yaml
from optuna.trial import TrialState

from facedep.experiment.cli import MONITOR
from facedep.experiment.cross_validate import arg_value
from facedep.tuning.pruning import TrialPruning, epochs_of
from facedep.tuning.study import default_storage, make_pruner, open_study
from facedep.tuning.tune import TuneOptions, tune

pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI's args parameter", "ignore::UserWarning",
                                        "ignore:.*treespec:FutureWarning")

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")
LR = "model.init_args.optimizer.init_args.lr"


# ---- TrialPruning with a fake trainer ---------------------------------------------------------------------------


class FakeTrial:
    def __init__(self, prune: bool = False) -> None:
        self.reports: list[tuple[int, float]] = []
        self.prune = prune

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return self.prune


def fake_trainer(score: float | None, sanity: bool = False, rank_zero: bool = True, world: int = 1,
                 broadcast: bool | None = None) -> SimpleNamespace:
    metrics = {} if score is None else {MONITOR: torch.tensor(score)}
    strategy = SimpleNamespace(broadcast=lambda value: value if broadcast is None else broadcast)
    return SimpleNamespace(sanity_checking=sanity, callback_metrics=metrics, is_global_zero=rank_zero,
                           world_size=world, strategy=strategy)


def module_at(epoch: int) -> SimpleNamespace:
    return SimpleNamespace(current_epoch=epoch)


def test_reports_at_offset_step_and_keeps_going() -> None:
    trial = FakeTrial(prune=False)
    callback = TrialPruning(trial, MONITOR, step_offset=10)
    for epoch, score in enumerate([0.5, 0.75]):
        callback.on_validation_end(fake_trainer(score), module_at(epoch))
    assert trial.reports == [(10, 0.5), (11, 0.75)]
    assert callback.pruned_at is None


def test_prunes_when_the_trial_says_so() -> None:
    trial = FakeTrial(prune=True)
    callback = TrialPruning(trial, MONITOR, step_offset=5)
    with pytest.raises(optuna.TrialPruned, match=r"epoch 2 \(step 7\).*0\.2500"):
        callback.on_validation_end(fake_trainer(0.25), module_at(2))
    assert callback.pruned_at == 7 and trial.reports == [(7, 0.25)]


def test_sanity_check_and_missing_metric_report_nothing() -> None:
    trial = FakeTrial(prune=True)
    callback = TrialPruning(trial, MONITOR)
    callback.on_validation_end(fake_trainer(0.1, sanity=True), module_at(0))
    with pytest.warns(UserWarning, match="was not logged"):
        callback.on_validation_end(fake_trainer(None), module_at(0))
    assert trial.reports == [] and callback.pruned_at is None


def test_ddp_rank_zero_decides_and_broadcasts() -> None:
    rank_zero = FakeTrial(prune=True)
    callback = TrialPruning(rank_zero, MONITOR)
    with pytest.raises(optuna.TrialPruned):
        callback.on_validation_end(fake_trainer(0.3, world=2), module_at(1))  # broadcast: rank zero's decision
    assert rank_zero.reports == [(1, pytest.approx(0.3))]
    for decision in (True, False):  # another rank neither reports nor asks; it follows the broadcast
        other = FakeTrial(prune=not decision)
        callback = TrialPruning(other, MONITOR)
        if decision:
            with pytest.raises(optuna.TrialPruned):
                callback.on_validation_end(fake_trainer(0.3, rank_zero=False, world=2, broadcast=True), module_at(1))
        else:
            callback.on_validation_end(fake_trainer(0.3, rank_zero=False, world=2, broadcast=False), module_at(1))
        assert other.reports == [] and callback.pruned_at == (1 if decision else None)


def test_with_a_real_median_pruner() -> None:
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1))
    good = study.ask()
    for epoch in range(3):
        TrialPruning(good, MONITOR).on_validation_end(fake_trainer(0.9), module_at(epoch))
    study.tell(good, 0.9)
    bad = study.ask()
    callback = TrialPruning(bad, MONITOR)
    callback.on_validation_end(fake_trainer(0.1), module_at(0))  # warm-up step: never pruned
    with pytest.raises(optuna.TrialPruned):
        callback.on_validation_end(fake_trainer(0.1), module_at(1))
    assert callback.pruned_at == 1
    fine = study.ask()
    callback = TrialPruning(fine, MONITOR)
    for epoch in range(3):
        callback.on_validation_end(fake_trainer(0.95), module_at(epoch))  # better than the median: kept
    assert callback.pruned_at is None


def test_epochs_of() -> None:
    assert epochs_of({"max_epochs": 7}) == 7
    assert epochs_of({"max_epochs": None}, default=50) == 50
    assert epochs_of({"max_epochs": -1}) == 1000


# ---- tune() with a stub runner that plays validation curves through the callback ------------------------------


def write_space(path: Path, low: float = 1e-7, high: float = 1e-1) -> Path:
    path.write_text(yaml.safe_dump({LR: {"type": "float", "low": low, "high": high, "log": True}}))
    return path


def curve_runner(curves: dict, calls: list):  # noqa: ANN201
    """A runner for tune(): trial ``n``'s inner fold ``k`` 'validates' ``curves(n, k)`` epoch by epoch through the
    real TrialPruning callback, and writes nothing but its run folder."""

    def runner(args: list[str], callbacks=()) -> dict:  # noqa: ANN001
        trial_dir = Path(arg_value(args, "--run.output_dir", ""))
        number, inner = int(trial_dir.name.split("_")[1]), int(arg_value(args, "--data.init_args.inner_fold", "-1"))
        calls.append((number, inner))
        assert arg_value(args, "--run.test", "") == "false"
        (pruning,) = [c for c in callbacks if isinstance(c, TrialPruning)]
        run_dir = trial_dir / arg_value(args, "--run.name", "")
        run_dir.mkdir(parents=True)
        scores = curves(number, inner)
        for epoch, score in enumerate(scores):
            pruning.on_validation_end(fake_trainer(score), module_at(epoch))
        return {"best_val_score": max(scores), "run_dir": str(run_dir)}

    return runner


def stub_tune(tmp_path: Path, manifest: Path, curves, calls: list, **options) -> object:  # noqa: ANN001
    overrides = ["--data.init_args.manifest", str(manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--trainer.max_epochs", "4"]
    options = {"trials": 3, "inner_folds": 2, "prune_startup": 2, "prune_warmup": 1,
               "study_dir": tmp_path / "study", **options}
    return tune(TINY, str(write_space(tmp_path / "space.yaml")), overrides, TuneOptions(**options),
                runner=curve_runner(curves, calls))


def test_tune_prunes_a_bad_trial_with_the_median_pruner(tmp_path: Path, demo_manifest: Path) -> None:
    def curves(number: int, inner: int) -> list[float]:
        return [0.1] * 4 if number == 2 else [0.6, 0.7, 0.8, 0.9 - 0.1 * number]

    calls: list = []
    result = stub_tune(tmp_path, demo_manifest, curves, calls)
    trials = result.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert calls == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]  # the pruned trial never ran inner fold 1
    # inner fold k reports at k * max_epochs + epoch
    assert sorted(trials[0].intermediate_values) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert trials[0].intermediate_values[5] == pytest.approx(0.7)
    # warm-up 1: step 0 is never pruned, step 1 is
    assert trials[2].intermediate_values == {0: pytest.approx(0.1), 1: pytest.approx(0.1)}
    record = json.loads((result.study_dir / "trials" / "trial_0002" / "trial.json").read_text())
    assert record["state"] == "PRUNED" and "step 1" in record["pruned"] and record["inner_scores"] == []
    assert json.loads((result.study_dir / "trials" / "trial_0000" / "trial.json").read_text())["value"] == pytest.approx(0.9)
    assert result.best_number == 0 and result.counts["pruned"] == 1


def test_tune_without_pruner_completes_the_bad_trial(tmp_path: Path, demo_manifest: Path) -> None:
    calls: list = []
    result = stub_tune(tmp_path, demo_manifest, lambda n, k: [0.1] * 4 if n == 2 else [0.9] * 4, calls, pruner="none")
    assert [t.state for t in result.study.trials] == [TrialState.COMPLETE] * 3
    assert (2, 1) in calls


def test_enqueued_trials_within_the_budget_run(tmp_path: Path, demo_manifest: Path) -> None:
    """``--trials 3`` on a study holding 3 enqueued (WAITING) trials runs those 3 trials."""
    storage = default_storage(tmp_path / "study")
    (tmp_path / "study").mkdir()
    study = open_study("queued", storage, make_pruner("none"))
    for lr in (0.01, 0.02, 0.03):
        study.enqueue_trial({LR: lr})
    calls: list = []
    result = stub_tune(tmp_path, demo_manifest, lambda n, k: [0.5 + 0.1 * n] * 4, calls, study="queued", pruner="none")
    assert [t.state for t in result.study.trials] == [TrialState.COMPLETE] * 3
    assert [t.params[LR] for t in result.study.trials] == [0.01, 0.02, 0.03]
    assert result.ran == 3 and result.best_params == {LR: 0.03}


def test_tuned_max_epochs_inner_folds_never_share_a_step(tmp_path: Path, demo_manifest: Path) -> None:
    """With ``trainer.max_epochs`` in the space the stride between inner folds is its largest value, so a long
    trial's inner fold 0 never reports at the steps of its inner fold 1 (Optuna would drop those reports)."""
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"trainer.max_epochs": {"type": "int", "low": 2, "high": 6, "step": 2}}))
    seen: list = []

    def runner(args: list[str], callbacks=()) -> dict:  # noqa: ANN001
        epochs = int(arg_value(args, "--trainer.max_epochs", "0"))
        (pruning,) = [c for c in callbacks if isinstance(c, TrialPruning)]
        seen.append((epochs, pruning.step_offset))
        for epoch in range(epochs):
            pruning.on_validation_end(fake_trainer(0.5 + 0.01 * epoch), module_at(epoch))
        return {"best_val_score": 0.5, "run_dir": str(tmp_path)}

    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--trainer.max_epochs", "3"]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="The reported value is ignored")  # optuna: a step reported twice
        result = tune(TINY, str(space), overrides, TuneOptions(trials=4, inner_folds=2, pruner="none",
                                                               study_dir=tmp_path / "study"), runner=runner)
    assert {offset for _, offset in seen} == {0, 6}  # stride: the space's largest max_epochs, not the config's 3
    for trial in result.study.trials:
        epochs = trial.params["trainer.max_epochs"]
        assert sorted(trial.intermediate_values) == [*range(epochs), *range(6, 6 + epochs)]


# ---- tune() with real training on the tiny data --------------------------------------------------------------

MAX_EPOCHS = 4


def _epochs(metrics_csv: Path) -> list[int]:
    frame = pd.read_csv(metrics_csv)
    return sorted(frame.loc[frame[MONITOR].notna(), "epoch"].astype(int).unique().tolist())


def _tune_for_real(tmp_path: Path, manifest: Path, space: Path, runner=None, **options) -> object:  # noqa: ANN001
    overrides = ["--data.init_args.manifest", str(manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--trainer.max_epochs", str(MAX_EPOCHS)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny GRU: one thread is faster than two contending ones on a busy machine
    try:
        return tune(TINY, str(space), overrides,
                    TuneOptions(trials=3, inner_folds=2, pruner="median", prune_startup=2, prune_warmup=1,
                                study_dir=tmp_path / "study", **options), runner=runner)
    finally:
        torch.set_num_threads(threads)


def _check_bad_trial_pruned(result, study_dir: Path) -> None:  # noqa: ANN001
    """Trials 0 and 1 complete with every epoch of both inner folds; trial 2 pruned early in inner fold 0."""
    trials = result.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    for good in trials[:2]:
        # inner fold k reports at k * max_epochs + epoch
        assert sorted(good.intermediate_values) == list(range(2 * MAX_EPOCHS))
        for inner in range(2):
            run = study_dir / "trials" / f"trial_{good.number:04d}" / f"inner{inner}"
            assert _epochs(run / "metrics.csv") == list(range(MAX_EPOCHS))
            curve = pd.read_csv(run / "metrics.csv").dropna(subset=[MONITOR])[MONITOR].tolist()
            stored = [good.intermediate_values[inner * MAX_EPOCHS + e] for e in range(MAX_EPOCHS)]
            assert stored == pytest.approx(curve)
    bad = trials[2]
    assert sorted(bad.intermediate_values) == [0, 1]  # warm-up 1: never pruned at step 0, pruned at step 1
    bad_dir = study_dir / "trials" / "trial_0002"
    assert _epochs(bad_dir / "inner0" / "metrics.csv") == [0, 1]  # fewer than MAX_EPOCHS epochs ran
    assert not (bad_dir / "inner1").exists()
    record = json.loads((bad_dir / "trial.json").read_text())
    assert record["state"] == "PRUNED" and record["inner_scores"] == []
    assert result.best_number in (0, 1) and (result.counts["complete"], result.counts["pruned"]) == (2, 1)


def test_pruning_stops_a_bad_trial_early(tmp_path: Path, demo_manifest: Path) -> None:
    """Real training; trial 2 trains with lr 1e-7 (the runner appends it after the tuned value: the last wins)."""
    from facedep.experiment.train import run_training

    def runner(args: list[str], callbacks=()) -> dict:  # noqa: ANN001
        bad = Path(arg_value(args, "--run.output_dir", "")).name == "trial_0002"
        return run_training(args + (["--" + LR, "1e-7"] if bad else []), callbacks=callbacks)

    space = write_space(tmp_path / "space.yaml", low=0.01, high=0.05)
    result = _tune_for_real(tmp_path, demo_manifest, space, runner=runner)
    config = yaml.safe_load((tmp_path / "study" / "trials" / "trial_0002" / "inner0" / "config.yaml").read_text())
    assert config["model"]["init_args"]["optimizer"]["init_args"]["lr"] == pytest.approx(1e-7)
    _check_bad_trial_pruned(result, tmp_path / "study")


def test_pruning_stops_an_enqueued_bad_trial(tmp_path: Path, demo_manifest: Path) -> None:
    """Real training; the study is created first (as tune() opens it) with two good and one terrible trial queued."""
    study_dir = tmp_path / "study"
    study_dir.mkdir()
    study = open_study("prune", default_storage(study_dir), make_pruner("median", 2, 1))
    for lr in (0.03, 0.02, 1e-7):
        study.enqueue_trial({LR: lr})
    result = _tune_for_real(tmp_path, demo_manifest, write_space(tmp_path / "space.yaml"), study="prune")
    _check_bad_trial_pruned(result, study_dir)
    assert [t.params[LR] for t in result.study.trials] == [0.03, 0.02, 1e-7]
