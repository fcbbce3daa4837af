"""One fold of a classic baseline under exactly the deep models' protocol.

The same config, DataModule, subject-level fold, training-only scaler and windows as
``scripts/train.py``; the model is a scikit-learn pipeline fitted on the training windows and
scored on the test windows; predictions are aggregated to video and subject level and written in
the same files (``metrics.json``, ``predictions_test_<level>.csv``, ``data_report.json``). When the
config's model tunes a decision threshold (``model.init_args.tune_threshold: true``, binary), the
baseline tunes its own on the validation subjects in the same way and decides at it everywhere.
With a score target (``target: score``) :func:`run_regression_fold` fits a regressor instead and writes the
deep regressor's files (``lightning_modules.regression_evaluation``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from facedep.baselines.classic import make_classic_model, scores
from facedep.baselines.regression import make_regression_model, predict_scores
from facedep.evaluation.classification_metrics import compute_metrics
from facedep.experiment.cli import FacedepCLI
from facedep.evaluation.predictions import write_level_predictions
from lightning_modules.aggregation import three_levels
from lightning_modules.ordinal import ORDINAL_LOSSES, check_ordinal_classes
from lightning_modules.regression_evaluation import TargetScale, evaluate_regression, regression_tables
from lightning_modules.thresholds import best_threshold


def run_classic_fold(args: list[str], model_name: str, **model_kwargs: object) -> dict:
    """Fit ``model_name`` on one fold described by training ``args``; returns the run's ``metrics.json``."""
    started = time.perf_counter()
    cli = _fold_cli(args)
    datamodule, run_dir = cli.datamodule, cli.run_dir
    # The config's model treats the classes as ordered (loss: coral | corn): check them, score the baseline the same way.
    loss = (cli.config["model"].get("init_args") or {}).get("loss")
    ordinal = loss in ORDINAL_LOSSES
    if ordinal:
        check_ordinal_classes(datamodule.classes, datamodule.class_names, loss)
    _set_up(datamodule)
    train, test = datamodule.datasets["train"].arrays(), datamodule.datasets["test"].arrays()
    model = make_classic_model(model_name, seed=int(cli.config["seed_everything"] or 0), **model_kwargs)
    model.fit(train["x"], train["y"])
    levels = _scored_levels(model, test, datamodule.num_classes)
    threshold = _validation_threshold(cli, model, datamodule)
    names = datamodule.class_names if ordinal else None
    test_metrics = {
        f"test/{level}/{name}": value
        for level, pred in levels.items()
        for name, value in compute_metrics(pred["y"].numpy(), pred["probs"].numpy(), datamodule.num_classes, names,
                                           threshold=threshold, ordinal=ordinal).items()
    }
    privacy = cli.privacy
    names = _write_data_report(datamodule, run_dir, privacy)
    written = write_level_predictions(levels, names, datamodule.class_names, "test", run_dir, threshold=threshold)
    result = {
        "run_dir": str(run_dir),
        "model": model_name,
        "decision_threshold": threshold,
        "ordinal": ordinal,
        "test": {k: float(v) for k, v in test_metrics.items() if np.isfinite(v)},
        "class_names": datamodule.class_names,
        "data": datamodule.data_report,
        "predictions": {k: str(v) for k, v in written.items()},
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    (run_dir / "metrics.json").write_text(json.dumps(privacy.scrub(result) if privacy is not None else result, indent=2))
    return result


def _fold_cli(args: list[str]) -> FacedepCLI:
    """The CLI of one fold, without tracker or logger (nothing is set up yet)."""
    return FacedepCLI(args=args + ["--tracking.wandb", "disabled", "--trainer.logger", "false"])


def _set_up(datamodule: object) -> None:
    datamodule.prepare_data()
    datamodule.setup("fit")


def _fold_setup(args: list[str]) -> tuple[FacedepCLI, object, Path]:
    """The CLI (no tracker, no logger), its DataModule set up for fitting, and the run folder."""
    cli = _fold_cli(args)
    _set_up(cli.datamodule)
    return cli, cli.datamodule, cli.run_dir


def _write_data_report(datamodule: object, run_dir: Path, privacy: object | None) -> dict[str, dict[int, str]]:
    """``data_report.json`` in the (new) run folder, scrubbed with ``privacy``; returns the sample names to write."""
    run_dir.mkdir(parents=True, exist_ok=True)
    datamodule.write_report(run_dir / "data_report.json")
    names = datamodule.sample_names()
    if privacy is not None:
        privacy.scrub_json_file(run_dir / "data_report.json")
        names = privacy.sample_names(names)
    return names


def run_regression_fold(args: list[str], model_name: str, **model_kwargs: object) -> dict:
    """Fit the regressor ``model_name`` on one fold's TRAINING windows (float score targets), predict the test
    windows (clipped to the target range) and write what the deep regressor writes: ``metrics.json``
    (``test/<level>/<metric>`` incl. binary and ``baseline_*``, ``"target"``), ``predictions_test_<level>.csv``
    and ``metrics_test.csv``."""
    started = time.perf_counter()
    cli, datamodule, run_dir = _fold_setup(args)
    stats = getattr(datamodule, "target_stats", None)
    if datamodule.num_classes != 1 or stats is None:
        raise ValueError(f"{run_dir}: a regression baseline needs a score target (data.init_args.target: score), "
                         f"the DataModule gives num_classes={datamodule.num_classes} and no target_stats")
    scale = TargetScale.from_stats(stats)
    train, test = datamodule.datasets["train"].arrays(), datamodule.datasets["test"].arrays()
    model = make_regression_model(model_name, seed=int(cli.config["seed_everything"] or 0), **model_kwargs)
    model.fit(train["x"], np.asarray(train["y"], dtype=np.float64))
    pred = predict_scores(model, test["x"], scale.low, scale.high)
    levels, level_scores = evaluate_regression(pred, test["y"], test["video"], test["subject"], np.arange(len(pred)), scale)
    privacy = cli.privacy
    names = _write_data_report(datamodule, run_dir, privacy)
    written = {}
    for key, table in regression_tables(levels, level_scores, names, "test").items():
        written[key] = run_dir / f"{key}.csv"
        table.to_csv(written[key], index=False)
    result = {
        "run_dir": str(run_dir),
        "model": model_name,
        "target": scale.as_dict(),
        "test": {f"test/{lv}/{m}": float(v) for lv, s in level_scores.items() for m, v in s.items() if np.isfinite(v)},
        "class_names": datamodule.class_names,
        "data": datamodule.data_report,
        "predictions": {k: str(v) for k, v in written.items() if k.startswith("predictions_")},
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    (run_dir / "metrics.json").write_text(json.dumps(privacy.scrub(result) if privacy is not None else result, indent=2))
    return result


def _scored_levels(model: object, arrays: dict[str, np.ndarray], num_classes: int) -> dict[str, dict[str, torch.Tensor]]:
    """The model's class probabilities on ``arrays`` windows, aggregated to window, video and subject level."""
    probs = torch.from_numpy(scores(model, arrays["x"], num_classes))
    return three_levels(probs, *(torch.from_numpy(arrays[k]) for k in ("y", "video", "subject")), torch.arange(len(probs)))


def _validation_threshold(cli: FacedepCLI, model: object, datamodule: object) -> float | None:
    """The macro-F1-best threshold on the validation subjects when the config's model tunes one, else None (argmax)."""
    init_args = cli.config["model"].get("init_args") or {}
    if not init_args.get("tune_threshold") or datamodule.num_classes != 2:
        return None
    val = datamodule.datasets["val"].arrays()
    if len(val["y"]) == 0:
        raise ValueError(f"{cli.run_dir}: tune_threshold needs validation subjects, the validation split is empty")
    chosen = _scored_levels(model, val, 2)[init_args.get("threshold_level", "subject")]
    return best_threshold(chosen["probs"][:, 1], chosen["y"])
