"""Ordered severity classes: the PHQ-8 bands as a ready label map, and the check that classes are in order.

PHQ-8 bands (Kroenke et al., 2009): 0-4 none, 5-9 mild, 10-14 moderate, 15-19 moderately severe,
20-24 severe. :func:`band_labels` maps scores onto band names; an ordinal model's classes must follow
a known severity order (:func:`check_class_order`), or be numbers in increasing order.

Example:
    >>> band_labels([0, 4, 5, 14, 24], PHQ8_BANDS, "m.csv").tolist()
    ['none', 'none', 'mild', 'moderate', 'severe']
    >>> check_class_order(["healthy", "mild", "moderate", "severe"], "config")
    >>> check_class_order([0, 1, 2, 3], "config")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from datamodules.io.au_table import DataFormatError


class Band(NamedTuple):
    """One band: its name and the inclusive score range ``[low, high]``."""

    name: str
    low: float
    high: float


PHQ8_BANDS: tuple[Band, ...] = (
    Band("none", 0, 4), Band("mild", 5, 9), Band("moderate", 10, 14), Band("moderately_severe", 15, 19),
    Band("severe", 20, 24),
)
"""The five PHQ-8 severity bands (scores 0-24)."""

NAMED_BANDS: dict[str, tuple[Band, ...]] = {"phq8": PHQ8_BANDS}
"""Band sets a config may name (``score_bands: phq8``)."""

KNOWN_ORDERS: tuple[tuple[str, ...], ...] = (
    ("none", "mild", "moderate", "moderately_severe", "severe"),
    ("healthy", "mild", "moderate", "severe"),
    ("minimal", "mild", "moderate", "moderately_severe", "severe"),
    ("not_depressed", "depressed"),
    ("healthy", "depressed"),
    ("low", "medium", "high"),
)
"""Severity vocabularies in increasing order (lower case, ``_`` for spaces and hyphens)."""


def resolve_bands(bands: str | Sequence[Sequence[object]]) -> tuple[Band, ...]:
    """A named band set (``phq8``) or ``[[name, low, high], ...]``; bands must be increasing and not overlap.

    >>> [b.name for b in resolve_bands([["low", 0, 9], ["high", 10, 24]])]
    ['low', 'high']
    """
    if isinstance(bands, str):
        if bands not in NAMED_BANDS:
            raise ValueError(f"unknown score bands {bands!r}; choose from {sorted(NAMED_BANDS)} or give [[name, low, high], ...]")
        return NAMED_BANDS[bands]
    resolved = tuple(Band(str(name), float(low), float(high)) for name, low, high in bands)
    for before, after in zip(resolved, resolved[1:]):
        if not (before.low <= before.high < after.low <= after.high):
            raise ValueError(f"score bands must be increasing and disjoint: {before} then {after}")
    return resolved


def band_labels(scores: Sequence[float] | np.ndarray, bands: Sequence[Band], source: str) -> np.ndarray:
    """The band name of every score; a score in no band (or not a number) is an error naming its row.

    Rows are named as in the CSV (header = row 1). A score between two integer bands (9.5 for PHQ-8)
    goes to the band whose range it falls in after rounding to the nearest integer.
    """
    values = np.asarray(scores, dtype=float)
    names = np.empty(len(values), dtype=object)
    placed = np.zeros(len(values), dtype=bool)
    rounded = np.round(values)
    for band in bands:
        inside = (rounded >= band.low) & (rounded <= band.high) & ~placed
        names[inside] = band.name
        placed |= inside
    if not placed.all():
        first = int(np.flatnonzero(~placed)[0])
        raise DataFormatError(f"{source}, row {first + 2}: score {values[first]!r} is in none of the bands "
                              f"{[(b.name, b.low, b.high) for b in bands]}")
    return names


def _canonical(name: object) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def check_class_order(classes: Sequence[object], source: str) -> None:
    """Refuse ordinal classes that are not in increasing order.

    Numbers (or numeric strings) must increase; names must follow one of :data:`KNOWN_ORDERS`
    (a subsequence of it: ``[mild, severe]`` is in order). Names outside every known vocabulary are
    taken in the order given (nothing to check them against).

    >>> check_class_order(["severe", "mild"], "configs/x.yaml")
    Traceback (most recent call last):
    ...
    datamodules.io.au_table.DataFormatError: configs/x.yaml: ordinal classes ['severe', 'mild'] are not in severity order ...
    """
    values = list(classes)
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        numbers = None
    if numbers is not None:
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise DataFormatError(f"{source}: ordinal classes {values} are not in increasing order; list them "
                                  f"from least to most severe ({sorted(values, key=float)})")
        return
    names = [_canonical(v) for v in values]
    for order in KNOWN_ORDERS:
        if set(names) <= set(order):
            ranks = [order.index(n) for n in names]
            if any(b <= a for a, b in zip(ranks, ranks[1:])):
                expected = [values[i] for i in np.argsort(ranks, kind="stable")]
                raise DataFormatError(f"{source}: ordinal classes {values} are not in severity order "
                                      f"({' < '.join(order)}); list them as {expected}")
            return
