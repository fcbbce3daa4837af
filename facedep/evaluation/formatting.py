"""Number formats and labels shared by the Markdown report, the console tables and the comparison table."""

from __future__ import annotations

from typing import Any


def fmt_mean_std(entry: dict[str, Any] | None, digits: int = 3) -> str:
    """``"0.812 ± 0.041"`` from an :func:`aggregate` entry, ``"n/a"`` without a value.

    Example:
        >>> fmt_mean_std({"mean": 0.8123, "std": 0.0414}), fmt_mean_std({"mean": -1e-17, "std": 0.0})
        ('0.812 ± 0.041', '0.000 ± 0.000')
    """
    if not entry or entry.get("mean") is None:
        return "n/a"
    mean = round(entry["mean"], digits) + 0.0  # no "-0.000" for a mean that is zero up to rounding
    return f"{mean:.{digits}f} ± {entry['std']:.{digits}f}"


def fmt_value(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``"n/a"`` for None."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_ci(entry: dict[str, Any], digits: int = 3) -> str:
    """``"[0.700, 0.890]"`` from a pooled entry with ``ci_low``/``ci_high``, ``"—"`` without a CI."""
    if "ci_low" not in entry:
        return "—"
    return f"[{fmt_value(entry['ci_low'], digits)}, {fmt_value(entry['ci_high'], digits)}]"


def run_word(summary: dict[str, Any]) -> str:
    """``"seed"`` for repeated seeds of a fixed split, else ``"fold"``."""
    return "seed" if summary.get("design") == "seeds" else "fold"


def runs_label(summary: dict[str, Any]) -> str:
    """``"5 folds"`` or ``"3 seeds of one fixed split"``.

    Example:
        >>> runs_label({"design": "seeds", "folds": [0, 1, 2]})
        '3 seeds of one fixed split'
    """
    n = len(summary["folds"])
    return f"{n} seeds of one fixed split" if summary.get("design") == "seeds" else f"{n} folds"


def level_label(summary: dict[str, Any], level: str) -> str:
    """The level's name, saying what a "subject" is when it is a frame (no subject ids: identity leaks).

    Example:
        >>> level_label({"unit": "frame"}, "subject"), level_label({"unit": "subject"}, "subject")
        ('frame (no subject ids)', 'subject')
    """
    if summary.get("unit") == "frame" and level in ("video", "subject"):
        return "frame (no subject ids)"
    return level


def leakage_note(summary: dict[str, Any]) -> str | None:
    """The identity-leakage warning for a summary whose data had no subject ids, else None."""
    if not summary.get("identity_leakage"):
        return None
    return ("**Identity leakage** (`identity_leakage: true` in the data report): the data names no subject "
            "(e.g. an AU severity CSV without a group column), so the split is frame-level and the same "
            "person's frames are in training and test. Every 'subject' below is one frame; these numbers "
            "overestimate performance on new people.")
