"""Nested cross-validation: tune each outer fold on its training subjects, train with the best values, test once.

:class:`FoldTuner` is what ``cross_validate.py --tune SPACE`` hands to
:func:`facedep.experiment.cross_validate.cross_validate`: before outer fold ``k`` is trained it runs (or joins, when
workers already filled it) the study ``<name>-fold<k>`` in ``<cv>/tuning/fold<k>/``, whose trials only ever load
that fold's training subjects, and returns the best values as training overrides; after the fold it records the
outer test score beside the best inner score. With a fixed split (``--seeds``) one study serves every seed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from facedep.tuning.nested_report import nested_markdown, nested_summary
from facedep.tuning.space import as_overrides, load_space
from facedep.experiment.config_values import resolved_config
from facedep.tuning.tune import TuneOptions, TuneResult, check_tunable_data, tune


def selection_label(resolved: dict[str, Any]) -> str:
    """What ``selection_score`` is for the config's model, for the report.

    >>> selection_label({"model": {"init_args": {"selection_metric": "mae", "selection_level": "video"}}})
    'selection score (-video MAE)'
    >>> selection_label({"model": {"init_args": {"loss": "ce"}}})
    'selection score (subject macro-F1 - 0.001 x window NLL)'
    """
    args = (resolved.get("model") or {}).get("init_args") or {}
    metric = args.get("selection_metric")
    if metric is None:
        return "selection score (subject macro-F1 - 0.001 x window NLL)"
    level = args.get("selection_level") or "video"
    return f"selection score ({'-' if metric == 'mae' else ''}{level} {str(metric).upper()})"


class TuningFailed(RuntimeError):
    """An outer fold's study ended without a complete trial: nothing to train the fold with."""


class FoldTuner:
    """Tunes outer folds for :func:`~facedep.experiment.cross_validate.cross_validate` and keeps what it found."""

    def __init__(self, config: str | None, space: str, overrides: list[str], options: TuneOptions) -> None:
        self.config, self.space, self.overrides, self.options = config, space, list(overrides), options
        params = load_space(space, config, overrides)  # checks the space and the DataModule before anything trains
        resolved = resolved_config(config, overrides)
        check_tunable_data(resolved)
        self.metric_label = selection_label(resolved)
        self.log_keys = [p.key for p in params if p.log]
        self.categorical_keys = [p.key for p in params if p.type == "categorical"]
        self.results: dict[Any, TuneResult] = {}
        self.folds: list[dict[str, Any]] = []
        self._pending: TuneResult | None = None  # the study of the fold being trained (record_outer reads it)

    def tune_fold(self, fold: int | None, cv_dir: Path, num_folds: int | None = None) -> list[str]:
        """Tune outer fold ``fold`` of ``num_folds`` (None: the fixed split, tuned once) and return its best values
        as overrides. ``num_folds`` must be the cross-validation's, so that the study holds out exactly the
        subjects that the outer fold tests."""
        key = "split" if fold is None else fold
        if key not in self.results:
            if fold is not None and num_folds is None:
                raise ValueError("tune_fold needs the cross-validation's num_folds for a k-fold outer split")
            name = Path(cv_dir).name
            study = f"{name}-tune" if fold is None else f"{name}-fold{fold}"
            folder = Path(cv_dir) / "tuning" / ("split" if fold is None else f"fold{fold}")
            options = replace(self.options, fold=fold, folds=num_folds, study=study, study_dir=folder)
            self.results[key] = tune(self.config, self.space, self.overrides, options)
        result = self.results[key]
        if result.best_params is None:
            raise TuningFailed(f"study {result.study.study_name} has no complete trial ({result.counts}); "
                               f"see {result.study_dir / 'study.md'}")
        self._pending = result
        return as_overrides(result.best_params)

    def record_outer(self, fold: int, metrics: dict) -> None:
        """The outer test score of the fold just trained (``test/selection_score``, same formula as the inner one)."""
        result, self._pending = self._pending, None
        if result is None:
            raise RuntimeError("record_outer without tune_fold")
        outer = (metrics.get("test") or {}).get("test/selection_score")
        counts = result.counts
        self.folds.append({
            "fold": fold, "params": dict(result.best_params or {}), "best_inner_score": result.best_value,
            "outer_score": float(outer) if outer is not None and math.isfinite(float(outer)) else None,
            "trials": sum(counts.values()), "complete": counts.get("complete", 0), "pruned": counts.get("pruned", 0),
            "failed": counts.get("fail", 0), "study": result.study.study_name, "best_trial": result.best_number,
            "best_config": str(result.best_config) if result.best_config else None,
        })

    def summary(self) -> dict[str, Any]:
        """The report's ``nested`` section: per fold, spread, optimism, and how the search was set up."""
        spread = nested_summary(self.folds, log_keys=self.log_keys, categorical_keys=self.categorical_keys)
        return {**spread, "space": self.space, "selection": self.metric_label,
                "trials_per_study": self.options.trials, "inner_folds": self.options.inner_folds}

    def markdown(self, summary: dict[str, Any]) -> list[str]:
        return nested_markdown(summary, metric_label=self.metric_label)
