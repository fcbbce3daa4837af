"""``compare_models.py`` on a multimodal config: one row per single view, late fusion and intermediate fusion.

The config's DataModule is :class:`~datamodules.MultimodalDataModule`; every row uses it with the same manifest,
classes and data seed, hence the same subject folds:

- ``aus`` / ``landmarks`` / ``faces``: the config's model on that view alone (``--data.init_args.views [<view>]``);
- ``intermediate_fusion``: the config's model on all its views (one encoder per view, cross-view attention);
- ``late_fusion``: the single-view runs' subject scores stacked by a logistic (ridge for scores) model fitted on
  out-of-fold predictions of each outer fold's training subjects (:mod:`facedep.fusion.late`).

Example:
    python scripts/compare_models.py --config configs/fusion/demo.yaml --folds 5
    # -> runs/<name>-compare/{aus,landmarks,faces,late_fusion,intermediate_fusion}/report.md and table.md
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

VIEW_MODELS: tuple[str, ...] = ("aus", "landmarks", "faces")
FUSION_MODELS: tuple[str, ...] = ("late_fusion", "intermediate_fusion")
MULTIMODAL_DATA = "MultimodalDataModule"


def multimodal_views(config: str | None, overrides: list[str]) -> list[str] | None:
    """The configured views when the resolved config's DataModule is the multimodal one, else None."""
    from facedep.experiment.config_values import resolved_config

    data = resolved_config(config, overrides).get("data") or {}
    if not str(data.get("class_path", "")).endswith(MULTIMODAL_DATA):
        return None
    views = (data.get("init_args") or {}).get("views") or list(VIEW_MODELS)
    return [v for v in VIEW_MODELS if v in views]


def fusion_models(views: Sequence[str], models: Sequence[str] | None) -> list[str]:
    """The rows to run: ``models`` checked against the views (default: every view, then both fusions).

    >>> fusion_models(["aus", "faces"], None)
    ['aus', 'faces', 'late_fusion', 'intermediate_fusion']
    >>> fusion_models(["aus"], ["late_fusion"])
    Traceback (most recent call last):
    ValueError: late_fusion needs at least two views; the config has ['aus']
    """
    chosen = list(models or [*views, *FUSION_MODELS])
    unknown = [m for m in chosen if m not in views and m not in FUSION_MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown} for a multimodal config; choose from {[*views, *FUSION_MODELS]}")
    if len(views) < 2 and any(m in FUSION_MODELS for m in chosen):
        fused = next(m for m in chosen if m in FUSION_MODELS)
        raise ValueError(f"{fused} needs at least two views; the config has {list(views)}")
    return chosen


def view_args(view: str) -> list[str]:
    """Overrides that restrict a multimodal run to one view.

    >>> view_args("aus")
    ['--data.init_args.views', '[aus]']
    """
    return ["--data.init_args.views", f"[{view}]"]


def compare_fusion(config: str, folds: int, models: Sequence[str] | None, overrides: list[str], root: Path,
                   views: Sequence[str], n_boot: int = 1000, inner_folds: int = 3,
                   seeds: Sequence[int] | None = None) -> dict[str, dict[str, Any]]:
    """Cross-validate each single view and each fusion under the same folds; returns ``{row: summary}``."""
    from facedep.experiment.cross_validate import cross_validate
    from facedep.fusion.late import late_fusion_cv

    chosen = fusion_models(views, models)
    name = root.name.removesuffix("-compare")
    summaries: dict[str, dict[str, Any]] = {}
    for model in chosen:
        if model not in views:
            continue
        args = [*overrides, *view_args(model), "--run.output_dir", str(root), "--run.name", model]
        summaries[model] = cross_validate(config, folds, args, n_boot, title=f"{model} only ({name})", seeds=seeds)
    if "late_fusion" in chosen:
        view_runs = {v: ["--config", config, *overrides, *view_args(v)] for v in views}
        reuse = {v: root / v for v in views if v in summaries}
        summaries["late_fusion"] = late_fusion_cv(view_runs, folds, root, inner_folds=inner_folds,
                                                  view_cv_dirs=reuse or None, n_boot=n_boot, name="late_fusion",
                                                  seeds=seeds)
    if "intermediate_fusion" in chosen:
        args = [*overrides, "--run.output_dir", str(root), "--run.name", "intermediate_fusion"]
        summaries["intermediate_fusion"] = cross_validate(config, folds, args, n_boot,
                                                          title=f"intermediate fusion ({name})", seeds=seeds)
    return {m: summaries[m] for m in chosen}
