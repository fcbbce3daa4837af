"""Table V of the seed study for any manifest: classic and deep models under one protocol.

Every model runs the same subject-level k-fold (same config, same folds, scaler fitted on
training subjects only) and gets its own cross-validation report; one table compares them. A fixed
split (``split: column``) is run once per seed instead (``--seeds 0 1 2``): mean ± std over seeds.
The table uses each run's decision rule (a threshold tuned on validation where the config tunes one)
and says so when the data names no subject (identity leakage: the unit is a frame). With a score target
(``data.init_args.target: score``) every model is a regressor (SequenceRegressor; RidgeCV on ROCKET
features; gradient-boosting regression) and the table gives subject MAE, RMSE, CCC and the mean baseline.

Example:
    python scripts/compare_models.py --config configs/demo.yaml --folds 5
    # -> runs/<name>-compare/<model>/report.md for each model, and runs/<name>-compare/table.md
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from facedep.experiment.cross_validate import DesignError, arg_value, check_design, config_value, cross_validate
from facedep.evaluation.formatting import fmt_ci, fmt_mean_std, fmt_value, leakage_note, level_label, runs_label
from facedep.experiment.compare_fusion import compare_fusion, fusion_models, multimodal_views
from facedep.experiment.quiet import quiet_console

DEEP_MODELS: dict[str, list[str]] = {
    "inception_time": ["--model.init_args.net", "lightning_modules.nets.InceptionTime"],
    "lstm": [
        "--model.init_args.net", "lightning_modules.nets.RecurrentNet",
        "--model.init_args.net.init_args.cell", "lstm",
        "--model.init_args.net.init_args.hidden_size", "64",
    ],
}
"""Deep models: overrides applied on top of the config (its other net settings are kept where valid)."""
REGRESSOR: list[str] = ["--model", "lightning_modules.SequenceRegressor"]
"""With a score target (``data.init_args.target: score``) every run is a regressor: the deep models run as
SequenceRegressor with their net, the classic ones as scikit-learn regressors (:mod:`facedep.baselines.regression`)."""
CLASSIC = ("rocket_lr", "rocket_ridge", "minirocket_ridge", "boosting")
DEFAULT_MODELS = ("rocket_lr", "rocket_ridge", "inception_time", "lstm", "boosting")
REGRESSION_DEFAULT = tuple(m for m in DEFAULT_MODELS if m != "rocket_lr")
TABLE_METRICS = (("window", "accuracy"), ("subject", "accuracy"), ("subject", "macro_f1"), ("subject", "auroc"))


def compare_models(
    config: str,
    folds: int,
    models: list[str] | None,
    overrides: list[str],
    n_boot: int = 1000,
    num_kernels: int = 10_000,
    seeds: list[int] | None = None,
    inner_folds: int = 3,
) -> dict:
    """Cross-validate every model in ``models`` (or run each ``seeds`` times on a fixed split); returns
    ``{model: summary}`` and writes ``table.{md,json}``. The design is checked before any model trains, and so
    is, for a score target, that every classic model has a regressor (``models=None``: the defaults).

    A multimodal config (:class:`~datamodules.MultimodalDataModule`) compares its single views, late fusion (stacked on
    ``inner_folds`` inner folds of each outer fold's training subjects) and intermediate fusion instead
    (:mod:`facedep.experiment.compare_fusion`)."""
    regression = check_design(config, overrides, seeds).get("target") == "score"
    name = arg_value(overrides, "--run.name", config_value(config, "run", "name", "run"))
    output_dir = arg_value(overrides, "--run.output_dir", config_value(config, "run", "output_dir", "runs"))
    root = Path(output_dir) / f"{name}-compare"
    views = multimodal_views(config, overrides)
    if views is not None:  # one row per view, late and intermediate fusion (facedep.experiment.compare_fusion)
        fusion_models(views, models)  # before any model trains
        fused = compare_fusion(config, folds, models, overrides, root, views, n_boot, inner_folds, seeds)
        table = write_regression_table(fused, root) if regression else write_table(fused, root)
        print(table)
        return fused
    models = list(models or (REGRESSION_DEFAULT if regression else DEFAULT_MODELS))
    unknown = [m for m in models if m not in CLASSIC and m not in DEEP_MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(CLASSIC + tuple(DEEP_MODELS))}")
    if regression:  # before any model trains: rocket_lr has no regressor
        from facedep.baselines.regression import check_regression_models

        check_regression_models([m for m in models if m in CLASSIC])
    summaries = {}
    for model in models:
        args = (REGRESSOR if regression else []) + overrides + ["--run.output_dir", str(root), "--run.name", model]
        if model in CLASSIC:
            from facedep.baselines.fold import run_classic_fold, run_regression_fold

            kwargs = {"num_kernels": num_kernels} if "rocket" in model else {}
            runner = functools.partial(run_regression_fold if regression else run_classic_fold, model_name=model, **kwargs)
            summaries[model] = cross_validate(config, folds, args, n_boot, runner=runner, title=f"{model} ({name})", seeds=seeds)
        else:
            summaries[model] = cross_validate(config, folds, args + DEEP_MODELS[model], n_boot, title=f"{model} ({name})", seeds=seeds)
    table = write_regression_table(summaries, root) if regression else write_table(summaries, root)
    print(table)
    return summaries


def write_table(summaries: dict[str, dict], root: Path) -> str:
    """Markdown table (mean ± std over folds or seeds) in ``root/table.md`` and the numbers in ``table.json``.

    The heading names the design and the unit (frames when the data names no subject, with the
    leakage warning); a model whose runs decided at tuned thresholds is marked, the thresholds in its report.
    """
    first = next(iter(summaries.values()))
    header = (["model"] + [f"{level_label(first, level)} {metric}" for level, metric in TABLE_METRICS]
              + [f"pooled {level_label(first, 'subject')} macro_f1 [95% CI]", "decision", "seconds"])
    unit = "Frame-level (no subject ids)" if first.get("identity_leakage") else "Subject-level"
    design = runs_label(first)
    over = "seeds" if first.get("design") == "seeds" else "folds"
    lines = [f"{unit} evaluation, {design} (mean ± std over {over})", ""]
    note = leakage_note(first)
    lines += [note, ""] if note else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    numbers = {}
    for model, summary in summaries.items():
        cells = [fmt_mean_std(summary["levels"].get(level, {}).get("metrics", {}).get(metric)) for level, metric in TABLE_METRICS]
        pooled = pooled_entry(summary, "macro_f1")
        cells.append("n/a" if pooled is None else f"{fmt_value(pooled.get('value'))} {fmt_ci(pooled)}")
        decision = summary.get("decision", {}).get("rule", "argmax")
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {decision} | {summary.get('seconds', '')} |")
        numbers[model] = {f"{level}/{metric}": summary["levels"].get(level, {}).get("metrics", {}).get(metric)
                          for level, metric in TABLE_METRICS}
        numbers[model]["pooled_subject/macro_f1"] = pooled
        numbers[model].update(decision=summary.get("decision"), design=summary.get("design"),
                              identity_leakage=summary.get("identity_leakage", False), unit=summary.get("unit", "subject"))
    text = "\n".join(lines) + "\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "table.md").write_text(text)
    (root / "table.json").write_text(json.dumps(numbers, indent=2))
    return text


def pooled_entry(summary: dict, metric: str) -> dict | None:
    """The pooled subject-level ``metric`` with its bootstrap CI (``value``, ``ci_low``, ``ci_high``), or None."""
    return (summary["levels"].get("subject", {}).get("pooled") or {}).get("metrics", {}).get(metric)


REGRESSION_METRICS = ("mae", "rmse", "ccc")


def _subject_entry(summary: dict, metric: str) -> dict | None:
    """The subject-level ``metric`` (mean ± std over runs) of a regression summary, or the trainer's logged one."""
    entry = (summary.get("regression") or {}).get("metrics", {}).get("subject", {}).get(metric)
    return entry or summary.get("trainer_metrics", {}).get(f"test/subject/{metric}")


def write_regression_table(summaries: dict[str, dict], root: Path) -> str:
    """Regression comparison (``root/table.{md,json}``): subject MAE, RMSE, CCC (mean ± std over folds or seeds),
    the pooled subject MAE with its CI, and the mean baseline row (training mean; the same folds for every model)."""
    first = next(iter(summaries.values()))
    over = "seeds" if first.get("design") == "seeds" else "folds"
    header = ["model", *(f"subject {m.upper()}" for m in REGRESSION_METRICS), "pooled subject MAE [95% CI]", "seconds"]
    lines = [f"Subject-level regression, {runs_label(first)} (mean ± std over {over}; mean baseline = every subject "
             "predicted as the training mean)", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    numbers: dict[str, dict] = {}
    baseline = None
    for model, summary in summaries.items():
        pooled = ((summary.get("regression") or {}).get("pooled") or {}).get("model", {}).get("mae")
        cell = "n/a" if not pooled or pooled.get("value") is None else (
            f"{pooled['value']:.3f}" + (f" [{pooled['ci_low']:.3f}, {pooled['ci_high']:.3f}]" if pooled.get("ci_low") is not None else ""))
        lines.append(f"| {model} | " + " | ".join(fmt_mean_std(_subject_entry(summary, m)) for m in REGRESSION_METRICS)
                     + f" | {cell} | {summary.get('seconds', '')} |")
        numbers[model] = {f"subject/{m}": _subject_entry(summary, m) for m in REGRESSION_METRICS}
        numbers[model].update(pooled_mae=pooled, design=summary.get("design"))
        if baseline is None and _subject_entry(summary, "baseline_mae"):
            baseline = {f"subject/{m}": _subject_entry(summary, f"baseline_{m}") for m in REGRESSION_METRICS}
            base_pooled = ((summary.get("regression") or {}).get("pooled") or {}).get("baseline", {}).get("mae")
    if baseline is not None:
        cell = "n/a" if not base_pooled else f"{base_pooled['value']:.3f}" + (
            f" [{base_pooled['ci_low']:.3f}, {base_pooled['ci_high']:.3f}]" if base_pooled.get("ci_low") is not None else "")
        lines.append("| mean baseline | " + " | ".join(fmt_mean_std(baseline[f"subject/{m}"]) for m in REGRESSION_METRICS)
                     + f" | {cell} | |")
        numbers["mean baseline"] = {**baseline, "pooled_mae": base_pooled}
    text = "\n".join(lines) + "\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "table.md").write_text(text)
    (root / "table.json").write_text(json.dumps(numbers, indent=2))
    return text


def main(argv: list[str] | None = None) -> int:
    quiet_console()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="Training config (YAML) naming the data.")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="Fixed split (split: column) only: run every model once per seed (mean ± std over seeds).")
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"Any of {', '.join(CLASSIC + tuple(DEEP_MODELS))} (default {', '.join(DEFAULT_MODELS)}; "
                             f"for a score target {', '.join(REGRESSION_DEFAULT)}).")
    parser.add_argument("--num-kernels", type=int, default=10_000, help="ROCKET kernels / MiniRocket features.")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--inner-folds", type=int, default=3,
                        help="Multimodal configs: inner subject folds of each outer fold's training subjects on which "
                             "the late-fusion stacker is fitted (out-of-fold scores).")
    known, overrides = parser.parse_known_args(argv)
    try:
        compare_models(known.config, known.folds, known.models, overrides, known.n_boot, known.num_kernels, known.seeds,
                       known.inner_folds)
    except DesignError as exc:
        parser.exit(2, f"error: {exc}\n")
    except ValueError as exc:  # an unknown model, or one without a regressor for a score target
        if "choose from" not in str(exc) and "needs at least two views" not in str(exc):
            raise
        parser.exit(2, f"error: {exc}\n")
    return 0
