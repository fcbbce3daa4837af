"""Subject-level k-fold cross-validation: one training run per fold, then one report.

A config with a fixed split (``split: column``, e.g. DAIC-WOZ's official partition) is not
cross-validated (k folds would train the same partition k times and count each test subject k
times); it is trained once per seed instead (``--seeds``), and the report gives mean ± std over
seeds with each test subject counted once in every pooled statistic.

Example:
    python scripts/cross_validate.py --config configs/demo.yaml --folds 5
    # -> runs/<name>/fold0..fold4/ and runs/<name>/report.{md,json}, confusion_*.png, roc_*.png
    python scripts/cross_validate.py --config configs/au/daic_woz_gru.yaml --seeds 0 1 2 3 4
    # -> runs/<name>/seed0..seed4/ and runs/<name>/report.{md,json}
    python scripts/cross_validate.py --config configs/demo.yaml --folds 5 --tune configs/search/demo.yaml --trials 20
    # -> nested CV: runs/<name>/tuning/fold0..fold4/ (one study each), then fold0..fold4/ trained with the best values
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from facedep.evaluation.console import format_metrics_table, format_trainer_table
from facedep.evaluation.levels import LEVELS, FoldResult
from facedep.evaluation.predictions import read_level_predictions
from facedep.evaluation.regression_markdown import regression_markdown
from facedep.evaluation.regression_plots import write_regression_plots
from facedep.evaluation.regression_report import regression_report
from facedep.evaluation.regression_summary import markdown_lines, pooled_from_runs
from facedep.evaluation.report import write_report
from facedep.evaluation.summary import jsonable, summarize_folds
from facedep.explanations.summary import IMAGE as AU_IMAGE
from facedep.explanations.summary import write_cv_explanations
from facedep.experiment.config_values import arg_value, config_value, resolved_data_args, tracking_tags  # noqa: F401 (re-exported)
from facedep.experiment.cv_tracking import log_cv_summary
from facedep.experiment.privacy import relative_to
from facedep.experiment.quiet import quiet_console
from facedep.experiment.train import run_training

if TYPE_CHECKING:
    from facedep.tuning.nested import FoldTuner

console = Console()


class DesignError(ValueError):
    """The evaluation design does not fit the split (k-fold on a fixed split, seeds on k-fold)."""


def check_design(config: str | None, overrides: list[str], seeds: Sequence[int] | None) -> dict[str, Any]:
    """Refuse k-fold on a fixed split and seeds on k-fold splits, before any training; returns the data init_args.

    Example:
        >>> check_design("configs/au/daic_woz_gru.yaml", [], None)  # doctest: +SKIP
        Traceback (most recent call last):
        facedep.experiment.cross_validate.DesignError: ... --seeds 0 1 2 3 4 ...
    """
    data = resolved_data_args(config, overrides)
    split = data.get("split", "kfold")
    where = f"{config or 'the command line'} (resolved data.init_args.split = {split!r})"
    if seeds is None and split == "column":
        raise DesignError(
            f"{where}: a fixed split (the manifest's split column) cannot be cross-validated: every fold would train "
            "and test the same partition and count each test subject once per fold. Evaluate it with repeated "
            "seeds instead: --seeds 0 1 2 3 4 (mean ± std over seeds, each test subject counted once)."
        )
    if seeds is not None and split != "column":
        raise DesignError(f"{where}: --seeds repeats one fixed split (split: column); for k-fold splits use --folds K")
    if seeds is not None and len(set(seeds)) != len(seeds):
        raise DesignError(f"--seeds must be distinct, got {list(seeds)}")
    return data


def _run_plan(config: str | None, folds: int, overrides: list[str], seeds: Sequence[int] | None, name: str) -> list[tuple[int, list[str]]]:
    """``(fold or seed, run-specific arguments)`` of every run: one per fold, or one per seed of the fixed split."""
    data = check_design(config, overrides, seeds)
    if seeds is None:
        return [(fold, ["--data.init_args.fold", str(fold), "--data.init_args.num_folds", str(folds),
                        "--run.name", f"{name}/fold{fold}"]) for fold in range(folds)]

    def seed_args(seed: int) -> list[str]:
        data_seed = ["--data.init_args.seed", str(seed)] if "seed" in data else []
        return ["--seed_everything", str(seed), *data_seed, "--run.name", f"{name}/seed{seed}"]

    return [(seed, seed_args(seed)) for seed in seeds]


def cross_validate(
    config: str | None,
    folds: int,
    overrides: list[str],
    n_boot: int = 1000,
    runner: Callable[[list[str]], dict] = run_training,
    title: str | None = None,
    seeds: Sequence[int] | None = None,
    tuning: FoldTuner | None = None,
    explain: bool = True,
) -> dict:
    """Train fold 0..K-1 (each fold's test subjects are held out), then summarise and write the report.

    With ``seeds`` the config must have a fixed split (``split: column``): it is trained once per seed
    (``seed_everything`` and the data seed) and summarised over seeds; k-fold on a fixed split is refused
    before any training. ``runner`` runs one fold from training arguments and returns its ``metrics.json``
    content (:func:`facedep.experiment.train.run_training` for deep models, a classic baseline's fold runner otherwise).

    With ``tuning`` (nested cross-validation, :class:`facedep.tuning.nested.FoldTuner`) each outer fold is first
    tuned on its training subjects only (inner folds; its test subjects are never loaded), then trained with the
    best parameters and tested once; the report adds the chosen parameters per fold and the optimism of tuning.

    With ``explain`` every run gets ``--run.explain true`` (unless the overrides set ``--run.explain``); what the runs
    wrote is summarised over folds (:mod:`facedep.explanations.summary`) in a "## Explanations" report section, the
    report JSON and W&B: AU permutation importance (``au_importance.png``), landmark region occlusion
    (``region_importance.png``), Grad-CAM figures of test faces, fusion view contributions (``view_contribution.png``),
    each computed on the fold's test subjects only.
    """
    name = arg_value(overrides, "--run.name", config_value(config, "run", "name", "run"))
    output_dir = arg_value(overrides, "--run.output_dir", config_value(config, "run", "output_dir", "runs"))
    project = arg_value(overrides, "--tracking.project", config_value(config, "tracking", "project", "facedep"))
    wandb_mode = arg_value(overrides, "--tracking.wandb", config_value(config, "tracking", "wandb", "auto"))
    private = arg_value(overrides, "--run.privacy", config_value(config, "run", "privacy", "false")).lower() in ("true", "yes", "1")
    plan = _run_plan(config, folds, overrides, seeds, name)
    word = "seed" if seeds is not None else "fold"
    cv_dir = Path(output_dir) / name
    started = time.perf_counter()
    results: list[FoldResult] = []
    class_names: list[str] = []
    fold_metrics = []
    for position, (fold, run_args) in enumerate(plan):
        console.rule(f"{word} {fold} ({position + 1}/{len(plan)})")
        tracking = ["--tracking.group", name, "--tracking.job_type", word]
        args = (["--config", config] if config else []) + overrides + run_args + ["--run.output_dir", output_dir] + tracking
        if explain and not any(a.split("=")[0] == "--run.explain" for a in overrides):
            args += ["--run.explain", "true"]
        tuned: list[str] = []
        if tuning is not None:  # nested CV: tune on this fold's training subjects (one study for a fixed split)
            tuned = tuning.tune_fold(fold, cv_dir, folds) if seeds is None else tuning.tune_fold(None, cv_dir)
        metrics = runner(args + tuned)
        if tuning is not None:
            tuning.record_outer(fold, metrics)
        class_names = metrics["class_names"]
        fold_metrics.append(metrics)
        predictions = metrics.get("predictions", {})
        # A model that writes its own tables (regression, multi-label) has no class probabilities to
        # pool: its fold summary is the test metrics it logged (metrics.json "test").
        own_tables = any(key not in LEVELS for key in predictions)
        levels = {} if own_tables else read_level_predictions(predictions)
        if not levels and not own_tables:
            raise RuntimeError(f"{word} {fold} wrote no test predictions ({metrics['run_dir']})")
        results.append(FoldResult(fold=fold, predictions=levels, metrics=metrics.get("test"), data=metrics.get("data")))
    summary = summarize_folds(results, class_names, n_boot=n_boot, design="seeds" if seeds is not None else "folds")
    images: dict[str, Path] = {}
    if not summary["levels"]:  # a regressor's tables: mean ± std, the mean baseline, pooled CIs, plots
        images = _regression_part(summary, fold_metrics, cv_dir, n_boot)
    extra_markdown: list[str] = []
    if tuning is not None:
        summary["nested"] = tuning.summary()
        extra_markdown = tuning.markdown(summary["nested"])
    explained = write_cv_explanations(fold_metrics, cv_dir, [fold for fold, _ in plan], word)
    if explained is not None:
        summary["explanations"], lines = explained
        extra_markdown = [*extra_markdown, *lines]
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["runs"] = [relative_to(m["run_dir"], cv_dir) if private else m["run_dir"] for m in fold_metrics]
    config_text = Path(config).read_text() if config else None
    paths = write_report(summary, results, class_names, cv_dir, title=title or f"Cross-validation: {name}", config_text=config_text,
                         extra_images=images, extra_markdown=extra_markdown)
    if summary.get("explanations") and (cv_dir / AU_IMAGE).is_file():
        paths["au_importance"] = cv_dir / AU_IMAGE  # to W&B with the other plots (report.md embeds it in its section)
    log_cv_summary(summary, paths, project, f"{name}-cv", cv_dir, wandb_mode, private, group=name,
                   tags=tracking_tags(config, overrides), word=word)
    print(format_metrics_table(summary) if summary["levels"] else format_trainer_table(summary))
    if summary.get("regression"):
        print("\n".join(regression_markdown(summary["regression"], word)))
    elif summary.get("pooled_regression"):
        print("pooled over folds:\n" + "\n".join(markdown_lines(summary["pooled_regression"])))
    if extra_markdown:
        print("\n".join(extra_markdown))
    if summary.get("identity_leakage"):
        console.print("[bold red]identity leakage: the data names no subject; every 'subject' is a frame (see the report)[/]")
    console.print(f"Report: {paths['markdown']}  ({summary['seconds']} s for {len(plan)} {word}s)")
    return summary


def _regression_part(summary: dict, fold_metrics: list[dict], cv_dir: Path, n_boot: int) -> dict[str, Path]:
    """Add ``summary["regression"]`` (and, over folds, ``pooled_regression`` at video and subject level) for
    runs that wrote regression tables; returns the regression plots. Over seeds nothing pools the seeds' rows."""
    design = summary["design"]
    if design != "seeds":
        pooled = pooled_from_runs([m.get("predictions", {}) for m in fold_metrics], n_boot=n_boot)
        if pooled:
            summary["pooled_regression"] = pooled
    found = regression_report(fold_metrics, summary["folds"], design, n_boot=n_boot)
    if found is None:
        return {}
    entry, tables = found
    summary["regression"] = jsonable(entry)
    target = (fold_metrics[0].get("target") or {}).get("name") or (summary["class_names"] or ["target"])[0]
    return write_regression_plots(tables, cv_dir, design, name=str(target))


def main(argv: list[str] | None = None) -> int:
    quiet_console()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="Training config (YAML), as for scripts/train.py.")
    parser.add_argument("--folds", type=int, default=5, help="Number of subject-level folds.")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="Fixed split (split: column) only: train once per seed and report mean ± std over seeds.")
    parser.add_argument("--n-boot", type=int, default=1000, help="Bootstrap resamples for the subject-level CIs.")
    from facedep.tuning.cli import add_search_arguments, options_from  # here: importing this module needs no optuna
    from facedep.tuning.nested import FoldTuner, TuningFailed
    from facedep.tuning.identity import StudyMismatch
    from facedep.tuning.space import SpaceError
    from facedep.tuning.tune import TuningError

    search = parser.add_argument_group("nested cross-validation (tune each outer fold on its training subjects)")
    add_search_arguments(search, space_flag="--tune")
    parser.add_argument("--no-explain", action="store_true",
                        help="Skip the per-fold explanations (AU and landmark-region importance, Grad-CAM, view contributions).")
    known, overrides = parser.parse_known_args(argv)
    try:
        tuning = FoldTuner(known.config, known.space, overrides, options_from(known)) if known.space else None
        cross_validate(known.config, known.folds, overrides, n_boot=known.n_boot, seeds=known.seeds, tuning=tuning,
                       explain=not known.no_explain)
    except (DesignError, SpaceError, StudyMismatch, TuningError) as exc:
        parser.exit(2, f"error: {exc}\n")
    except TuningFailed as exc:
        parser.exit(1, f"error: {exc}\n")
    return 0
