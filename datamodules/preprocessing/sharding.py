"""Splitting a sorted list of inputs into ``N`` shards, for cluster job arrays (``--shard K/N``).

Shard ``K`` (1-based) gets the items at sorted positions ``i`` with ``i % N + 1 == K``; the ``N``
shards partition the list, and every job of an array computes the same split without talking to
the others.

Example:
    >>> parse_shard("2/3")
    (2, 3)
    >>> select_shard(["e", "a", "d", "b", "c"], 2, 3)
    ['b', 'e']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


class ShardError(ValueError):
    """A ``--shard`` value that is not ``K/N`` with ``1 <= K <= N``."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``; :class:`ShardError` naming the value when it is malformed or out of range."""
    parts = str(text).strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ShardError(f"--shard {text!r}: expected K/N with whole numbers, e.g. 1/4")
    index, count = (int(p) for p in parts)
    if count < 1 or not 1 <= index <= count:
        raise ShardError(f"--shard {text!r}: need 1 <= K <= N and N >= 1 (got K={index}, N={count})")
    return index, count


def select_shard(items: Iterable[T], index: int, count: int) -> list[T]:
    """Items of shard ``index`` of ``count`` over the **sorted** items: position ``i`` goes to ``i % count + 1``."""
    if count < 1 or not 1 <= index <= count:
        raise ShardError(f"shard {index}/{count}: need 1 <= K <= N")
    return [item for i, item in enumerate(sorted(items)) if i % count + 1 == index]  # type: ignore[type-var]


def shard_suffix(index: int, count: int) -> str:
    """File-name tag of a shard: ``shard2of8``."""
    return f"shard{index}of{count}"


def sharded_name(name: str, shard: tuple[int, int] | None) -> str:
    """``name`` itself, or with the shard's tag before its suffix, so that the jobs of an array don't overwrite it.

    >>> sharded_name("extraction_report.csv", (2, 8)), sharded_name("extraction_report.csv", None)
    ('extraction_report.shard2of8.csv', 'extraction_report.csv')
    """
    if shard is None:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{shard_suffix(*shard)}.{suffix}" if dot else f"{name}.{shard_suffix(*shard)}"
