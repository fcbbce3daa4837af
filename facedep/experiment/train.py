"""Fit, test the best checkpoint, and write ``metrics.json`` and prediction tables for one run.

Example:
    python scripts/train.py --config configs/demo.yaml --trainer.max_epochs 5 --run.name quick
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from pytorch_lightning import Callback
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console
from rich.table import Table

from datamodules.output_folder import OutputFolderError
from facedep.experiment.cli import MONITOR, FacedepCLI
from facedep.evaluation.predictions import write_level_predictions
from facedep.explanations.run import Unsupported, explain_run
from facedep.experiment.privacy import RunPrivacy
from facedep.experiment.quiet import quiet_console
from facedep.experiment.resume import ResumeError, last_checkpoint
from facedep.experiment.tracking import log_checkpoint_artifact, log_subject_predictions
from lightning_modules.thresholds import decision_threshold_of

console = Console()


def _checkpoint_callback(cli: FacedepCLI) -> ModelCheckpoint | None:
    return next((c for c in cli.trainer.callbacks if isinstance(c, ModelCheckpoint)), None)


def _resume_path(cli: FacedepCLI) -> str | None:
    """``last.ckpt`` with ``--run.resume true`` (FacedepCLI has already refused a missing one)."""
    if not cli.config["run"]["resume"]:
        return None
    last = last_checkpoint(cli.run_dir)
    console.print(f"Resuming from {last}")
    return str(last)


def print_metrics(metrics: dict[str, float], stage: str = "test") -> None:
    table = Table(title=f"{stage} metrics")
    table.add_column("metric")
    levels = ("window", "video", "subject")
    for level in levels:
        table.add_column(level, justify="right")
    names = sorted({k.split("/")[-1] for k in metrics if k.startswith(f"{stage}/") and k.count("/") == 2})
    names.sort(key=lambda n: (n != "macro_f1", n))
    for name in names:
        table.add_row(name, *[f"{metrics.get(f'{stage}/{lv}/{name}', float('nan')):.3f}" for lv in levels])
    console.print(table)


def run_training(args: list[str] | None = None, callbacks: Sequence[Callback] = ()) -> dict:
    """Build everything from config + overrides, fit, test, write artefacts; returns ``metrics.json``.

    ``callbacks`` join the trainer's (a tuning trial's pruning callback, which no config can name).
    """
    started = time.perf_counter()
    cli = FacedepCLI(args=args, extra_callbacks=callbacks)
    run_dir = cli.run_dir
    trainer, model, datamodule = cli.trainer, cli.model, cli.datamodule
    trainer.fit(model, datamodule=datamodule, ckpt_path=_resume_path(cli))
    fit_seconds = time.perf_counter() - started

    checkpoint = _checkpoint_callback(cli)
    best = checkpoint.best_model_path if checkpoint and checkpoint.best_model_path else None
    result: dict = {
        "run_dir": str(run_dir),
        "best_checkpoint": best,
        "best_val_score": float(checkpoint.best_model_score) if checkpoint and checkpoint.best_model_score is not None else None,
        "monitor": MONITOR,
        "epochs": trainer.current_epoch,
        "fit_seconds": round(fit_seconds, 2),
    }
    if cli.config["run"]["test"]:
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        result["tested_weights"] = best or "final weights (no validation score to pick a best checkpoint)"
        result["test"] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        result["confusion_matrices"] = {
            level: m.tolist() for level, m in getattr(model, "confusion_matrices", {}).get("test", {}).items()
        }
        if cli.config["run"].get("explain") and trainer.is_global_zero:
            _explain(model, datamodule, run_dir, result, cli.privacy)
    result["class_names"] = list(getattr(model, "class_names", []))
    if hasattr(model, "target_scale"):  # a regressor: the target's scale (mean baseline, range, threshold) or None
        result["target"] = model.target_scale.as_dict() if model.target_scale is not None else None
    result["ordinal"] = bool(getattr(model, "ordinal", False))  # coral/corn: ordered classes, qwk etc. in the CV summary
    result["data"] = getattr(datamodule, "data_report", {})
    result["total_seconds"] = round(time.perf_counter() - started, 2)
    _write_outputs(trainer, model, datamodule, run_dir, result, cli.privacy)
    if cli.config["run"]["log_checkpoints"]:
        _log_checkpoints(trainer, checkpoint, result)
    _finish_trackers(trainer)
    return result


def _explain(model, datamodule, run_dir: Path, result: dict, privacy: RunPrivacy | None) -> None:  # noqa: ANN001
    """``run.explain``: ``result["explanations"]`` (paths under ``<run_dir>/explanations``); an unsupported model or
    data set, or a failure, is a one-line console note: explanations never break a run."""
    try:
        result["explanations"] = explain_run(model, datamodule, run_dir / "explanations",
                                             pseudonym=privacy.pseudonym if privacy is not None else None)
    except Unsupported as exc:
        console.print(f"[yellow]explanations skipped: {exc}[/]")
    except Exception as exc:  # noqa: BLE001 (the run's metrics matter more than its explanations)
        console.print(f"[red]explanations failed: {type(exc).__name__}: {exc}[/]")


@rank_zero_only
def _log_checkpoints(trainer, checkpoint: ModelCheckpoint | None, result: dict) -> None:  # noqa: ANN001
    """Best and last checkpoints as a W&B artifact (``run.log_checkpoints``); its metadata names no path."""
    if checkpoint is None:
        return
    metadata = {"monitor": MONITOR, "best_val_score": result["best_val_score"], "epochs": result["epochs"]}
    log_checkpoint_artifact(trainer.loggers, {"best": checkpoint.best_model_path, "latest": checkpoint.last_model_path}, metadata)


def _finish_trackers(trainer) -> None:  # noqa: ANN001
    """Close W&B runs so the next run in this process (a cross-validation fold) starts a new one."""
    for logger in trainer.loggers:
        if logger.__class__.__name__ == "WandbLogger" and trainer.is_global_zero:
            logger.experiment.finish()


@rank_zero_only
def _write_outputs(trainer, model, datamodule, run_dir: Path, result: dict, privacy: RunPrivacy | None = None) -> None:  # noqa: ANN001
    """Data report, prediction tables, ``metrics.json``; with ``privacy`` their paths are relative (``result`` is not)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if hasattr(datamodule, "write_report"):
        datamodule.write_report(run_dir / "data_report.json")
        if privacy is not None:
            privacy.scrub_json_file(run_dir / "data_report.json")
    names = datamodule.sample_names() if hasattr(datamodule, "sample_names") else {}
    names = privacy.sample_names(names) if privacy is not None else names
    # A model with its own result tables (multi-label AU detection: one row per frame, one per AU) writes those.
    tables = model.result_tables("test", names) if hasattr(model, "result_tables") and "test" in result else {}
    if tables:
        written = {key: run_dir / f"{key}.csv" for key in tables}
        for key, table in tables.items():
            table.to_csv(written[key], index=False)
    else:
        result["decision_threshold"] = decision_threshold_of(model)  # None: argmax; stored in the tables too
        written = write_level_predictions(getattr(model, "predictions", {}).get("test", {}), names, list(model.class_names), "test", run_dir,
                                          threshold=result["decision_threshold"])
    result["predictions"] = {k: str(v) for k, v in written.items()}
    _write_subjects(datamodule, run_dir / "subjects.json", privacy)
    (run_dir / "metrics.json").write_text(json.dumps(privacy.scrub(result) if privacy is not None else result, indent=2))
    _print_data_summary(result.get("data", {}))
    if tables:
        for key in (k for k in tables if k.startswith("metrics_")):
            if not print_against_baseline(tables[key], key):
                _print_frame(tables[key], key)
    elif "test" in result:
        print_metrics(result["test"])
    for logger in trainer.loggers:
        if logger.__class__.__name__ == "WandbLogger":
            logger.experiment.summary.update({k: v for k, v in result.get("test", {}).items()})
    if "subject" in written and not tables:
        log_subject_predictions(trainer.loggers, pd.read_csv(written["subject"], dtype={"name": str}), privacy)
    console.print(f"Run folder: {run_dir}  (metrics.json, config.yaml, metrics.csv, checkpoints/, data_report.json)")


def _write_subjects(datamodule, path: Path, privacy: RunPrivacy | None) -> None:  # noqa: ANN001
    """``subjects.json``: the subject ids of each stage (pseudonyms with ``run.privacy``), to audit the split."""
    subjects = datamodule.stage_subjects() if hasattr(datamodule, "stage_subjects") else {}
    if not subjects:
        return
    if privacy is not None:
        subjects = {stage: sorted(privacy.pseudonym(s) for s in ids) for stage, ids in subjects.items()}
    path.write_text(json.dumps(subjects, indent=1))


def _print_frame(frame, title: str) -> None:  # noqa: ANN001 (a pandas DataFrame)
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


def print_against_baseline(frame, title: str) -> bool:  # noqa: ANN001 (a pandas DataFrame)
    """A regression metrics table with a mean baseline: MAE / RMSE / CCC beside the baseline's (red: the model does
    not beat it), then the other metrics; False (nothing printed) without ``baseline_*`` columns."""
    if "baseline_mae" not in frame.columns:
        return False
    table = Table(title=f"{title}: model vs mean baseline (every sample predicted as the training subjects' mean)")
    table.add_column("level")
    for metric in ("mae", "rmse", "ccc"):
        table.add_column(metric, justify="right")
        table.add_column(f"baseline {metric}", justify="right")
    for row in frame.to_dict("records"):
        cells = []
        for metric in ("mae", "rmse", "ccc"):
            model, baseline = row[metric], row[f"baseline_{metric}"]
            beaten = model > baseline if metric == "ccc" else model < baseline
            cells += [f"{model:.3f}" if beaten else f"[red]{model:.3f}[/]", f"{baseline:.3f}"]
        table.add_row(str(row["level"]), *cells)
    console.print(table)
    compared = {f"{p}{m}" for m in ("mae", "rmse", "ccc") for p in ("", "baseline_")}
    _print_frame(frame[[c for c in frame.columns if c not in compared]], title)
    return True


def _print_data_summary(report: dict) -> None:
    for stage in ("train", "val", "test"):
        part = report.get(stage)
        if not part:
            continue
        counts = ", ".join(f"{v} {k}" for k, v in part.items() if isinstance(v, int))
        line = f"[bold]{stage}[/]: {counts}"
        frames = part.get("frames")
        if isinstance(frames, dict) and "kept" in frames:
            dropped = ", ".join(f"{k.removeprefix('dropped_').replace('_', ' ')} {v}" for k, v in frames.items() if k.startswith("dropped_"))
            line += f"; frames kept {frames['kept']}/{frames['frames']} (dropped: {dropped})"
        console.print(line)
    if report.get("files_skipped"):
        console.print(f"[yellow]skipped {len(report['files_skipped'])} file(s) with no usable frame[/]")
    if report.get("identity_leakage"):
        console.print("[bold red]identity leakage: frames of one person are in several splits (no group column)[/]")


def main(args: list[str] | None = None) -> int:
    """Entry point: 0 on success; 2 with one ``error:`` line for a refused resume or an unwritable run folder."""
    quiet_console()
    torch.set_float32_matmul_precision("high")
    try:
        run_training(args)
    except (ResumeError, OutputFolderError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0
