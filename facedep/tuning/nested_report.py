"""The nested cross-validation part of a report: chosen parameters per outer fold, their spread, and the
optimism of tuning (best mean inner validation score minus the outer test score, same formula).

Example:
    >>> folds = [{"fold": 0, "params": {"lr": 0.01, "cell": "gru"}, "best_inner_score": 0.8, "outer_score": 0.7},
    ...          {"fold": 1, "params": {"lr": 0.001, "cell": "gru"}, "best_inner_score": 0.9, "outer_score": 0.6}]
    >>> s = nested_summary(folds, log_keys=["lr"])
    >>> round(s["optimism"]["mean"], 3), s["params"]["cell"]["counts"], round(s["params"]["lr"]["geometric_mean"], 5)
    (0.2, {'gru': 2}, 0.00316)
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _mean_std(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean and sample SD (``ddof=1``; None for fewer than two values), over the finite values."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
            "n": len(finite)}


def param_spread(values: Sequence[Any], log: bool = False, categorical: bool = False) -> dict[str, Any]:
    """How one parameter's chosen values spread over the outer folds.

    Numbers: mean, SD, min, max (log-scale keys also the geometric mean and the max/min ratio); categories (also
    numeric choices such as a window length) and anything else: how often each value was chosen.

    >>> param_spread([4, 8, 8])["mean"], param_spread(["gru", "lstm", "gru"])["counts"]
    (6.666666666666667, {'gru': 2, 'lstm': 1})
    >>> param_spread([64, 128, 64], categorical=True)["counts"]
    {'64': 2, '128': 1}
    """
    if values and not categorical and all(_number(v) for v in values):
        numbers = np.asarray(values, dtype=float)
        out: dict[str, Any] = {"kind": "numeric", "values": list(values), **_mean_std(numbers.tolist()),
                               "min": float(numbers.min()), "max": float(numbers.max())}
        if log and (numbers > 0).all():
            out["geometric_mean"] = float(np.exp(np.log(numbers).mean()))
            out["max_over_min"] = float(numbers.max() / numbers.min())
        return out
    labels = [v if isinstance(v, str) else json.dumps(v) for v in values]  # 64 -> "64", [a, b] -> '["a", "b"]'
    return {"kind": "categorical", "values": list(values), "counts": dict(Counter(labels).most_common())}


def nested_summary(folds: Sequence[dict[str, Any]], log_keys: Sequence[str] = (),
                   categorical_keys: Sequence[str] = ()) -> dict[str, Any]:
    """``folds`` (one dict per outer fold: ``params``, ``best_inner_score``, ``outer_score``, trial counts) with
    the spread of each parameter and the optimism (inner - outer) of tuning, mean ± SD over folds."""
    keys = list(dict.fromkeys(k for f in folds for k in f.get("params", {})))
    params = {k: param_spread([f["params"][k] for f in folds if k in f.get("params", {})], log=k in log_keys,
                              categorical=k in categorical_keys) for k in keys}
    gaps = [f["best_inner_score"] - f["outer_score"] for f in folds
            if f.get("best_inner_score") is not None and f.get("outer_score") is not None]
    return {
        "folds": [dict(f, optimism=(f["best_inner_score"] - f["outer_score"])
                       if f.get("best_inner_score") is not None and f.get("outer_score") is not None else None)
                  for f in folds],
        "params": params,
        "inner": _mean_std([f.get("best_inner_score") for f in folds]),
        "outer": _mean_std([f.get("outer_score") for f in folds]),
        "optimism": _mean_std(gaps),
        "trials": {state: int(sum(f.get(state, 0) or 0 for f in folds)) for state in ("trials", "complete", "pruned", "failed")},
    }


def _fmt(value: Any, digits: int = 4) -> str:
    """``0.0161``, ``3.2e-05``, ``12`` (a whole float as an integer), ``—`` for None."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3g}" if (value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4)) else f"{value:.{digits}f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _fmt_ms(stats: dict[str, Any]) -> str:
    if stats.get("mean") is None:
        return "—"
    return f"{stats['mean']:.4f}" + (f" ± {stats['std']:.4f}" if stats.get("std") is not None else "")


def nested_markdown(summary: dict[str, Any], metric_label: str = "selection score") -> list[str]:
    """Markdown lines: a table of folds (parameters, best inner, outer, optimism, trials) and the spread."""
    folds, keys = summary["folds"], list(summary["params"])
    lines = ["## Nested cross-validation (tuning on each outer fold's training subjects)", "",
             f"Each outer fold was tuned on its training subjects only (inner subject folds); its test subjects were "
             f"never loaded by any trial. The metrics above are the outer-fold test metrics: the honest estimate. "
             f"Best inner = the chosen trial's mean inner validation {metric_label}; outer = the same {metric_label} "
             f"on the outer test subjects; optimism = best inner - outer.", ""]
    header = ["fold", *keys, "best inner", "outer", "optimism", "trials (complete / pruned / failed)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for f in folds:
        cells = [str(f["fold"]), *(_fmt(f["params"].get(k)) for k in keys), _fmt(f.get("best_inner_score")),
                 _fmt(f.get("outer_score")), _fmt(f.get("optimism")),
                 f"{f.get('trials', 0)} ({f.get('complete', 0)} / {f.get('pruned', 0)} / {f.get('failed', 0)})"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Mean over folds: best inner {_fmt_ms(summary['inner'])}, outer {_fmt_ms(summary['outer'])}, "
                  f"optimism {_fmt_ms(summary['optimism'])}.", "", "Chosen values over the outer folds:", ""]
    for key, spread in summary["params"].items():
        if spread["kind"] == "numeric":
            text = f"mean {_fmt(spread['mean'])}" + (f" ± {_fmt(spread['std'])}" if spread.get("std") is not None else "")
            text += f", range [{_fmt(spread['min'])}, {_fmt(spread['max'])}]"
            if "geometric_mean" in spread:
                text += f", geometric mean {_fmt(spread['geometric_mean'])} (max/min {spread['max_over_min']:.3g}x)"
        else:
            text = ", ".join(f"{value} ×{n}" for value, n in spread["counts"].items())
        lines.append(f"- `{key}`: {text}")
    return lines
