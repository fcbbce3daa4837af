"""The artefacts of a tuning study (plots, trials.csv, study.json, study.md) and its W&B run, on small Optuna
studies built here with fake objectives (no training)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import optuna
import pandas as pd
import pytest

from facedep.tuning.artefacts import write_study_artefacts
from facedep.tuning.study_plots import _panels, short_labels
from facedep.tuning.study_markdown import redact_url
from facedep.tuning.study_tracking import log_study

LR = "model.init_args.optimizer.init_args.lr"
HIDDEN = "model.init_args.net.init_args.hidden_size"
CELL = "model.init_args.net.init_args.cell"
PNG = b"\x89PNG\r\n\x1a\n"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(objective, n_trials: int, name: str = "demo-tune-fold0") -> optuna.Study:
    study = optuna.create_study(study_name=name, direction="maximize", pruner=optuna.pruners.NopPruner(),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("outer_fold", 0)
    study.set_user_attr("inner_folds", 2)
    study.set_user_attr("identity", {"data": {"manifest": "/private/manifest.csv"}})  # tune.py's stored config
    study.optimize(objective, n_trials=n_trials, catch=(ValueError,))
    return study


def _write(study: optuna.Study, out: Path, **kwargs) -> dict[str, Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plot that fails only warns: make that a test failure here
        return write_study_artefacts(study, out, title="Tuning: demo", storage_label="sqlite:///study.db", **kwargs)


def planted(trial: optuna.Trial) -> float:
    """The objective depends strongly on the learning rate and hardly on the hidden size."""
    lr = trial.suggest_float(LR, 1e-4, 1e-1, log=True)
    hidden = trial.suggest_int(HIDDEN, 4, 64, step=4)
    return -abs(math.log10(lr) + 2.0) + 0.001 * hidden


def mixed(trial: optuna.Trial) -> float:
    """Trial n: complete (n % 3 == 0), pruned after two reports (n % 3 == 1) or failed with an error (n % 3 == 2)."""
    lr = trial.suggest_float(LR, 1e-3, 1e-1, log=True)
    cell = trial.suggest_categorical(CELL, ["gru", "lstm"])
    for epoch in range(4):
        trial.report(lr * (epoch + 1) + (cell == "gru"), step=epoch)
        if trial.number % 3 == 1 and epoch == 1:
            raise optuna.TrialPruned()
        if trial.number % 3 == 2 and epoch == 2:
            error = f"ValueError: trial {trial.number} broke | badly\nTraceback line that stays out of study.md"
            trial.set_user_attr("error", error)
            raise ValueError(error)
    trial.set_user_attr("inner_scores", [lr, 2 * lr])
    return 1.5 * lr + (cell == "gru")


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, Path, dict[str, Path]]:
    study = _study(planted, 30)
    out = tmp_path_factory.mktemp("planted")
    return study, out, _write(study, out, base_config="configs/demo.yaml", best_config=out / "best.yaml")


def test_planted_structure_ranks_the_parameter_that_matters_first(planted_dir) -> None:
    study, out, written = planted_dir
    summary = json.loads((out / "study.json").read_text())
    importances = summary["importances"]
    assert list(importances)[0] == LR and importances[LR] > 0.8 > importances[HIDDEN]
    expected = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    assert importances == pytest.approx({k: float(v) for k, v in expected.items()})
    assert summary["best"]["number"] == study.best_trial.number
    assert summary["best"]["value"] == pytest.approx(study.best_value)
    assert summary["best"]["params"] == pytest.approx(study.best_params)
    assert summary["direction"] == "maximize" and summary["counts"]["complete"] == 30
    assert summary["user_attrs"] == {"outer_fold": 0, "inner_folds": 2}  # scalar attributes only


def test_planted_study_writes_every_plot_and_the_markdown(planted_dir) -> None:
    study, out, written = planted_dir
    plots = ("history", "importances", "parallel_coordinates", "intermediate_values")
    assert set(written) == {*plots[:3], "csv", "json", "markdown"}  # no trial reported intermediate values
    for key in plots[:3]:
        assert written[key] == out / f"{key}.png" and written[key].read_bytes()[:8] == PNG
    text = (out / "study.md").read_text()
    assert "![history](history.png)" in text and "![importances](importances.png)" in text
    assert "intermediate_values.png" not in text
    assert f"python scripts/train.py --config configs/demo.yaml --config {out / 'best.yaml'}" in text
    assert f"`{LR}`" in text  # full keys in the Markdown
    best_row = next(line for line in text.splitlines() if line.startswith("| 1 | "))
    assert best_row.startswith(f"| 1 | {study.best_trial.number} | {study.best_value:.4f} |")


def test_counts_errors_and_csv_of_complete_pruned_and_failed_trials(tmp_path: Path) -> None:
    study = _study(mixed, 9)
    written = _write(study, tmp_path)
    assert {"history", "parallel_coordinates", "intermediate_values"} <= set(written)
    summary = json.loads(written["json"].read_text())
    assert {k: summary["counts"][k] for k in ("complete", "pruned", "fail")} == {"complete": 3, "pruned": 3, "fail": 3}
    text = written["markdown"].read_text()
    assert "- trials: 9 (3 complete, 3 pruned, 3 fail)" in text
    assert "## Failed trials (3)" in text and "## Pruned trials (3)" in text
    assert "ValueError: trial 5 broke \\| badly" in text and "Traceback line" not in text
    frame = pd.read_csv(written["csv"])
    assert list(frame["number"]) == list(range(9))
    assert list(frame["state"]) == ["COMPLETE", "PRUNED", "FAIL"] * 3
    assert frame[LR].tolist() == pytest.approx([t.params[LR] for t in study.trials])
    assert frame[CELL].tolist() == [t.params[CELL] for t in study.trials]
    assert frame["value"].isna().tolist() == [False, True, True] * 3  # a pruned trial has no objective
    assert frame.loc[1, "last_step"] == 1 and json.loads(frame.loc[0, "inner_scores"]) == pytest.approx(
        study.trials[0].user_attrs["inner_scores"])
    assert frame.loc[2, "error"].startswith("ValueError: trial 2 broke")


def test_a_study_of_failed_trials_only_says_there_is_no_complete_trial(tmp_path: Path) -> None:
    def broken(trial: optuna.Trial) -> float:
        trial.suggest_float(LR, 1e-3, 1e-1, log=True)
        trial.set_user_attr("error", "ValueError: no validation subjects")
        raise ValueError("no validation subjects")

    written = _write(_study(broken, 3), tmp_path)
    assert set(written) == {"csv", "json", "markdown"}
    text = written["markdown"].read_text()
    assert "No complete trial" in text and "Every trial failed" in text and "no validation subjects" in text
    summary = json.loads(written["json"].read_text())
    assert summary["best"] is None and summary["counts"]["fail"] == 3 and summary["importances"] is None
    assert len(pd.read_csv(written["csv"])) == 3


@pytest.mark.parametrize("n_trials", [0, 1])
def test_an_empty_or_single_trial_study_does_not_crash(tmp_path: Path, n_trials: int) -> None:
    written = _write(_study(planted, n_trials), tmp_path)
    summary = json.loads(written["json"].read_text())
    assert summary["n_trials"] == n_trials and summary["importances"] is None
    assert "at least 2 complete trials" in summary["importances_note"]
    assert ("history" in written) == (n_trials == 1)
    assert ("No complete trial" in written["markdown"].read_text()) == (n_trials == 0)


def test_importances_fall_back_with_a_note(tmp_path: Path) -> None:
    one = _study(lambda t: t.suggest_float(LR, 0.0, 1.0) + 0 * t.suggest_int(HIDDEN, 8, 8), 4)
    summary = json.loads(_write(one, tmp_path / "one")["json"].read_text())
    assert summary["importances"] is None and "only one parameter varied" in summary["importances_note"]
    flat = _study(lambda t: 1.0 + 0 * t.suggest_float(LR, 0.0, 1.0) + 0 * t.suggest_float("x", 0.0, 1.0), 4)
    written = _write(flat, tmp_path / "flat")
    assert "importances" not in written
    assert "Not computed: importances could not be computed" in written["markdown"].read_text()


def test_short_labels_and_inner_fold_panels() -> None:
    labels = short_labels([LR, "model.init_args.scheduler.init_args.lr", "data.init_args.window"])
    assert labels == {LR: "optimizer.lr", "model.init_args.scheduler.init_args.lr": "scheduler.lr",
                      "data.init_args.window": "data.window"}
    assert short_labels(["a.x.lr", "b.x.lr"]) == {"a.x.lr": "a.x.lr", "b.x.lr": "b.x.lr"}
    assert _panels([0, 1, 2, 1000, 1001, 2000, 2001], None) == [(0, 2), (1000, 1001), (2000, 2001)]
    assert _panels([0, 2, 4, 6], None) == [(0, 6)]  # validation every 2 epochs: one fold
    assert _panels([0, 1, 2, 3, 4, 5], 2) == [(0, 1), (2, 3), (4, 5)]


def test_redact_url_hides_the_password() -> None:
    url = redact_url("postgresql+psycopg2://tuner:s3cr3t@db.example:5432/optuna")
    assert "s3cr3t" not in url and url == "postgresql+psycopg2://tuner:***@db.example:5432/optuna"
    assert redact_url("sqlite:////runs/demo/study.db") == "sqlite:////runs/demo/study.db"


def test_log_study_offline_writes_a_run_and_disabled_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    study = _study(mixed, 3)
    written = write_study_artefacts(study, tmp_path / "off", "Tuning: demo", "sqlite:///study.db")
    artefacts = {**written, "broken": tmp_path / "off" / "missing.png"}
    with pytest.warns(UserWarning, match="could not log image broken"):
        log_study(study, artefacts, "facedep-tests", "demo-study", tmp_path / "off", "auto", private=True)
    runs = list((tmp_path / "off" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    assert (runs[0] / "files" / "study.md").is_file() and list(runs[0].glob("files/media/images/study/history*.png"))
    assert list(runs[0].glob("files/media/table/study/trials*.table.json"))

    log_study(study, written, "facedep-tests", "demo-study", tmp_path / "dis", "disabled", private=False)
    assert not (tmp_path / "dis").exists()
