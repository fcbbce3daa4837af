"""The W&B summary run of a cross-validation: one run in the folds' group (``job_type="summary"``).

It carries the CV summary metrics, the report tables (:func:`summary_tables`) as ``wandb.Table`` and the
plots as images; nothing in it names a subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from facedep.experiment.tracking import resolve_wandb_mode, wandb_settings


def _per_run_frame(entries: dict[str, dict[str, Any]], runs: Sequence[str], first: dict[str, str]) -> pd.DataFrame:
    """Rows ``{**first, metric, mean, std, <run>...}`` for ``{metric: {"mean", "std", "per_fold"}}``."""
    rows = []
    for metric, entry in entries.items():
        values = list(entry.get("per_fold") or [])
        rows.append({**first, "metric": metric, "mean": entry.get("mean"), "std": entry.get("std"),
                     **{run: values[i] if i < len(values) else None for i, run in enumerate(runs)}})
    return pd.DataFrame(rows)


def summary_tables(summary: dict[str, Any], word: str = "fold") -> dict[str, pd.DataFrame]:
    """The report's tables: ``cv/metrics`` (level, metric, mean, std, one column per fold or seed),
    ``cv/pooled`` (subject level, pooled with bootstrap CIs), ``cv/trainer_metrics`` (the logged test metrics)
    and, for a regressor, ``cv/regression`` (per level, model and baseline metrics) and ``cv/regression_pooled``."""
    runs = [f"{word}{run}" for run in summary.get("folds", [])]
    tables: dict[str, pd.DataFrame] = {}
    levels = [_per_run_frame(body["metrics"], runs, {"level": level}) for level, body in summary.get("levels", {}).items()]
    if levels:
        tables["cv/metrics"] = pd.concat(levels, ignore_index=True)
    pooled = summary.get("levels", {}).get("subject", {}).get("pooled", {}).get("metrics", {})
    if pooled:
        tables["cv/pooled"] = pd.DataFrame(
            [{"metric": metric, "value": e.get("value"), "ci_low": e.get("ci_low"), "ci_high": e.get("ci_high")}
             for metric, e in pooled.items()]
        )
    if summary.get("trainer_metrics"):
        tables["cv/trainer_metrics"] = _per_run_frame(summary["trainer_metrics"], runs, {})
    regression = summary.get("regression") or {}
    per_level = [_per_run_frame(body, runs, {"level": level}) for level, body in regression.get("metrics", {}).items()]
    if per_level:
        tables["cv/regression"] = pd.concat(per_level, ignore_index=True)
    if regression.get("pooled"):
        tables["cv/regression_pooled"] = regression_pooled_frame(regression["pooled"])
    if summary.get("nested"):
        tables["cv/nested"] = nested_frame(summary["nested"])
    tables.update(explanation_tables(summary.get("explanations") or {}))
    return tables


def explanation_tables(explanations: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``cv/au_importance``, ``cv/region_importance``, ``cv/view_contribution`` (mean ± std over folds, per fold) and
    ``cv/grad_cam`` (the figure of each fold, by path: faces are not uploaded) from ``summary["explanations"]``."""
    tables: dict[str, pd.DataFrame] = {}
    if explanations.get("channels"):
        tables["cv/au_importance"] = pd.DataFrame(explanations["channels"])
    if (explanations.get("regions") or {}).get("regions"):
        tables["cv/region_importance"] = pd.DataFrame(explanations["regions"]["regions"])
    if (explanations.get("views") or {}).get("views"):
        tables["cv/view_contribution"] = pd.DataFrame(explanations["views"]["views"])
    if (explanations.get("grad_cam") or {}).get("figures"):
        tables["cv/grad_cam"] = pd.DataFrame([{"run": run, "figure": path}
                                              for run, path in explanations["grad_cam"]["figures"].items()])
    return tables


def explanation_images(explanations: dict[str, Any], out_dir: Path, paths: dict[str, Path]) -> dict[str, Path]:
    """The CV folder's explanation figures (``au_importance.png``, ``region_importance.png``,
    ``view_contribution.png``) that ``paths`` does not already hold, keyed by their stem."""
    known = {Path(p).name for p in paths.values()}
    found = {}
    for name in explanations.get("images") or []:
        path = Path(out_dir) / name
        if name not in known and path.is_file():
            found[path.stem] = path
    return found


def nested_frame(nested: dict[str, Any]) -> pd.DataFrame:
    """One row per outer fold of a nested CV: the chosen parameters, best inner score, outer score, optimism."""
    rows = []
    for fold in nested.get("folds", []):
        params = {key: value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
                  for key, value in fold.get("params", {}).items()}
        rows.append({"fold": fold.get("fold"), **params, "best_inner_score": fold.get("best_inner_score"),
                     "outer_score": fold.get("outer_score"), "optimism": fold.get("optimism"),
                     "trials": fold.get("trials"), "pruned": fold.get("pruned"), "failed": fold.get("failed")})
    return pd.DataFrame(rows)


def regression_pooled_frame(pooled: dict[str, Any]) -> pd.DataFrame:
    """Rows ``{row: model | mean baseline | model - baseline, metric, value, ci_low, ci_high}`` of the pooled entry."""
    rows = [{"row": label, "metric": metric, **entry}
            for label, key in (("model", "model"), ("mean baseline", "baseline"))
            for metric, entry in (pooled.get(key) or {}).items()]
    if pooled.get("mae_minus_baseline"):
        rows.append({"row": "model - baseline", "metric": "mae", **pooled["mae_minus_baseline"]})
    return pd.DataFrame(rows)


def regression_flat(summary: dict[str, Any]) -> dict[str, float]:
    """``cv/<level>/<metric>_{mean,std}`` and ``cv/pooled/<model|baseline>/<metric>`` of a regression summary."""
    regression = summary.get("regression") or {}
    flat = {f"cv/{level}/{metric}_{stat}": entry[stat] for level, body in regression.get("metrics", {}).items()
            for metric, entry in body.items() for stat in ("mean", "std") if entry.get(stat) is not None}
    pooled = regression.get("pooled") or {}
    flat.update({f"cv/pooled/{key}/{metric}": e["value"] for key in ("model", "baseline")
                 for metric, e in (pooled.get(key) or {}).items() if e.get("value") is not None})
    return flat


def log_cv_summary(
    summary: dict, paths: dict[str, Path], project: str, run_name: str, out_dir: Path, mode: str, private: bool = False,
    group: str | None = None, tags: Sequence[str] = (), word: str = "fold",
) -> None:
    """One tracker run for the whole cross-validation (in ``group``, ``job_type="summary"``): summary metrics,
    report tables and the plots as images (no subject id)."""
    mode = resolve_wandb_mode(mode)  # type: ignore[arg-type]
    if mode == "disabled":
        return
    import wandb

    run = wandb.init(project=project, name=run_name, dir=str(out_dir), mode=mode, group=group, job_type="summary",
                     tags=list(tags), settings=wandb_settings(private))
    flat = {
        f"cv/{level}/{metric}_{stat}": entry[stat]
        for level, body in summary["levels"].items()
        for metric, entry in body["metrics"].items()
        for stat in ("mean", "std")
        if entry.get(stat) is not None
    }
    nested = {f"cv/nested/{part}_{stat}": summary["nested"][part][stat] for part in ("inner", "outer", "optimism")
              for stat in ("mean", "std") if summary.get("nested") and summary["nested"][part].get(stat) is not None}
    run.summary.update({**flat, **regression_flat(summary), **nested})
    run.log({key: wandb.Table(dataframe=table) for key, table in summary_tables(summary, word).items()})
    images = {**paths, **explanation_images(summary.get("explanations") or {}, out_dir, paths)}
    run.log({key: wandb.Image(str(path)) for key, path in images.items() if str(path).endswith(".png")})
    run.save(str(paths["markdown"]), base_path=str(out_dir), policy="now")
    run.finish()
