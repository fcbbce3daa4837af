"""What a study is a search of: the resolved training config, the space and the outer fold.

A worker that joins an existing study (another machine, a resumed study, ``cross_validate.py --tune`` run again
under the same name) must search the same thing, or its trials would be compared with trials of another
config. The first worker stores the identity in the study (user attribute ``identity``); a later worker whose
identity differs is refused with the differing keys listed (``key: old -> new``), as a refused resume is.
Paths and machine settings may differ between workers (each machine mounts the data where it likes).

Example:
    >>> a = {"training": {"model": {"lr": 0.1}, "run": {"name": "x"}}}
    >>> identity_changes(a, {"training": {"model": {"lr": 0.2}, "run": {"name": "y"}}})
    [('training.model.lr', 0.1, 0.2)]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import optuna

from facedep.experiment.resume import run_changes
from facedep.tuning.space import Param

#: Keys that may differ between the workers of one study (paths, devices, logging).
WORKER_KEYS: tuple[str, ...] = (
    "config", "run.*", "tracking.*", "trainer.accelerator", "trainer.devices", "trainer.strategy",
    "trainer.num_nodes", "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
    "trainer.logger", "trainer.default_root_dir", "data.init_args.manifest", "data.init_args.num_workers",
    "data.init_args.pin_memory", "data.init_args.cache_dir",
)
ATTRIBUTE = "identity"


class StudyMismatch(ValueError):
    """A worker would join a study made for another config, space or fold."""


def study_identity(resolved: Mapping[str, Any], space: Sequence[Param], fold: int | None, num_folds: int | None,
                   inner_folds: int) -> dict[str, Any]:
    """The JSON-able identity of a study: resolved config, space, outer fold and inner folds."""
    return json.loads(json.dumps({
        "training": dict(resolved),
        "search": {"space": {p.key: {k: v for k, v in asdict(p).items() if k != "key"} for p in space},
                   "outer_fold": fold, "num_folds": num_folds, "inner_folds": inner_folds},
    }, default=str))


def identity_changes(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every key that differs between two identities and is not a worker setting."""
    return run_changes(saved, new, allowed=tuple(f"training.{k}" for k in WORKER_KEYS))


def _absent(_: object) -> str:
    return "(absent)"


def claim_study(study: optuna.Study, identity: dict[str, Any]) -> None:
    """Store ``identity`` in a new study, or check it against the one stored; :class:`StudyMismatch` if it differs."""
    saved = study.user_attrs.get(ATTRIBUTE)
    if saved is None:
        study.set_user_attr(ATTRIBUTE, identity)
        return
    changes = identity_changes(saved, identity)
    if changes:
        shown = "; ".join(f"{key}: {json.dumps(old, default=_absent)} -> {json.dumps(new, default=_absent)}"
                          for key, old, new in changes[:12])
        more = f" (and {len(changes) - 12} more)" if len(changes) > 12 else ""
        raise StudyMismatch(f"study {study.study_name} was made for another search ({shown}{more}); "
                            "give this search its own --study (or --run.name), or delete the study")
