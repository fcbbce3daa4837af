"""Resuming a run (``--run.resume true``): checked before anything is written to the run folder.

A resume needs ``<run>/checkpoints/last.ckpt`` and ``<run>/config.yaml``, and the newly resolved
config must equal the saved one except for keys that do not change what is trained
(:data:`RESUMABLE_KEYS`): where the run lives, whether to test (and explain) afterwards, tracking (W&B mode,
group, tags, checkpoint artifacts), how long to train (raise ``trainer.max_epochs`` to continue),
progress/summary/log display, and loader workers, pinned memory and the parse cache. Everything else (model, optimizer, data, seed, precision,
devices, callbacks, ...) is refused with the keys and their old -> new values: start a new run
(another ``--run.name``) for those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

RESUMABLE_KEYS: tuple[str, ...] = (
    "run.resume",
    "run.test",
    "run.output_dir",
    "run.name",
    "run.log_checkpoints",
    "run.explain",
    "tracking.*",
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "data.init_args.num_workers",
    "data.init_args.pin_memory",
    "data.init_args.cache_dir",
)
"""Dotted keys (shell patterns) that may differ between the saved and the resumed config."""

_ABSENT = object()


class ResumeError(RuntimeError):
    """A resume that cannot go ahead; the message is one line naming the file or the keys."""


def last_checkpoint(run_dir: Path) -> Path:
    """``<run_dir>/checkpoints/last.ckpt``; :class:`ResumeError` (listing resumable runs) when missing."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    parent = run_dir.parent
    runs = sorted(p.parent.parent.name for p in parent.glob("*/checkpoints/last.ckpt")) if parent.is_dir() else []
    hint = f"runs with a last.ckpt in {parent}: {', '.join(runs[:20])}" if runs else f"no run in {parent} has a last.ckpt"
    raise ResumeError(f"cannot resume: {last} not found (is --run.name right? {hint})")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": value}``; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def is_resumable_key(key: str, allowed: tuple[str, ...] = RESUMABLE_KEYS) -> bool:
    """Whether ``key`` may differ on resume (matches a pattern, or lies below one)."""
    return any(fnmatchcase(key, pattern) or key.startswith(f"{pattern}.") for pattern in allowed)


def run_changes(saved: Mapping[str, Any], new: Mapping[str, Any], allowed: tuple[str, ...] = RESUMABLE_KEYS) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every key that differs and changes the run, sorted by key."""
    old_flat, new_flat = flatten(saved), flatten(new)
    changes = []
    for key in sorted(set(old_flat) | set(new_flat)):
        old, value = old_flat.get(key, _ABSENT), new_flat.get(key, _ABSENT)
        if old != value and not is_resumable_key(key, allowed):
            changes.append((key, old, value))
    return changes


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, default=str)


def check_resume(run_dir: Path, new_config: Mapping[str, Any]) -> Path:
    """The checkpoint to resume from, or :class:`ResumeError` before anything is written.

    ``new_config`` is the resolved config of this invocation, dumped the way ``config.yaml`` is.
    """
    last = last_checkpoint(run_dir)
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        raise ResumeError(f"cannot resume: {saved_path} not found, so the config of {last} cannot be checked")
    try:
        saved = yaml.safe_load(saved_path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ResumeError(f"cannot resume: {saved_path} cannot be read ({exc})".replace("\n", " ")) from exc
    changes = run_changes(saved, new_config)
    if changes:
        listed = "; ".join(f"{key}: {_show(old)} -> {_show(new)}" for key, old, new in changes)
        raise ResumeError(
            f"cannot resume {run_dir}: the config differs from {saved_path} in keys that change the run: {listed} "
            f"(only {', '.join(RESUMABLE_KEYS)} may differ; use another --run.name for a new run)"
        )
    return last
