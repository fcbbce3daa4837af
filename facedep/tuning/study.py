"""Opening an Optuna study on shared storage and running one worker on it.

Storage is any SQLAlchemy URL: by default an SQLite file in the study folder (embedded, several processes on
one machine), ``postgresql+psycopg2://user:pass@host/db`` for many machines. Every worker is the same command;
the study's trial budget (``--trials N``) counts complete, pruned and running trials, so workers stop together
at N (queued trials, e.g. ``study.enqueue_trial``, run first and count once started). Failed trials (their error in the trial's ``error`` attribute) do not count and do not stop the
study, up to ``max_failures``. A worker killed mid-trial leaves a RUNNING trial whose heartbeat stops; the next
worker marks it failed after the grace period and re-queues its parameters (Optuna's heartbeat retry callback).

Example:
    >>> url = default_storage(Path("/tmp/study-folder"))
    >>> url
    'sqlite:////tmp/study-folder/study.db'
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import RDBStorage, RetryFailedTrialCallback

try:
    from optuna.storages import RetryHeartbeatStaleTrialCallback
except ImportError:  # optuna < 4.9
    RetryHeartbeatStaleTrialCallback = None  # type: ignore[assignment,misc]
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

#: States that use up the trial budget (failed trials are retried / recorded, not counted; queued (WAITING) trials
#: count once a worker starts them).
BUDGET_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
PRUNERS = ("median", "hyperband", "none")


def default_storage(study_dir: Path) -> str:
    """The SQLite file of a study folder as an SQLAlchemy URL."""
    return f"sqlite:///{Path(study_dir).absolute() / 'study.db'}"


def make_storage(url: str, heartbeat_interval: int = 60, grace_period: int | None = None) -> RDBStorage:
    """Optuna's relational storage with trial heartbeats (interrupted trials are failed and retried once)."""
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats, retry callback
    retry: dict = ({"heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=1)}
                   if RetryHeartbeatStaleTrialCallback is not None  # optuna >= 4.9
                   else {"failed_trial_callback": RetryFailedTrialCallback(max_retry=1)})
    for attempt in range(5):  # workers starting together on a fresh storage race to create its tables:
        try:                  # "table ... already exists" / duplicate key: the loser retries and finds them
            return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                              grace_period=grace_period or 3 * heartbeat_interval, **retry)
        except (OperationalError, IntegrityError, ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def make_pruner(kind: str, startup_trials: int = 4, warmup_epochs: int = 3) -> optuna.pruners.BasePruner:
    """``median`` (after ``startup_trials`` trials, from epoch ``warmup_epochs``), ``hyperband`` or ``none``."""
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(warmup_epochs, 1))
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner must be one of {PRUNERS}, got {kind!r}")


def worker_index(explicit: int | None = None) -> int:
    """This worker's index: ``explicit``, else a SLURM array task id or process id, else 0 (sampler seed offset)."""
    if explicit is not None:
        return int(explicit)
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_PROCID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number``: independent streams for every (seed, trial) pair (``seed + number``
    would give worker ``seed + 1`` the draws of trial ``number + 1``).

    >>> trial_seed(0, 1) != trial_seed(1, 0)
    True
    """
    return int(np.random.SeedSequence([int(seed), int(number)]).generate_state(1)[0])


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """Optuna's TPE whose random draws for trial ``n`` are seeded by ``seed`` and ``n`` (:func:`trial_seed`).

    Trial numbers are unique across the workers of a study, so workers started together with the same seed do
    not draw the same start-up points (a plain seeded TPE would give every worker the same sequence), while a
    single worker stays reproducible. TPE keeps its state in the study, so a fresh TPE per trial loses nothing.
    """

    def __init__(self, seed: int = 0, **tpe_options: object) -> None:
        self.seed, self.tpe_options = int(seed), tpe_options
        self._number: int | None = None
        self._tpe = optuna.samplers.TPESampler(seed=self.seed, **tpe_options)  # type: ignore[arg-type]

    def _for(self, trial: FrozenTrial) -> optuna.samplers.TPESampler:
        if trial.number != self._number:
            self._number = trial.number
            self._tpe = optuna.samplers.TPESampler(seed=trial_seed(self.seed, trial.number), **self.tpe_options)  # type: ignore[arg-type]
        return self._tpe

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: object) -> object:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)  # type: ignore[arg-type]

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # the seed is the trial number's
        pass


def open_study(
    name: str, storage: str, pruner: optuna.pruners.BasePruner, seed: int = 0, worker: int = 0,
    heartbeat_interval: int = 60,
) -> optuna.Study:
    """Create the study or join it (maximising the validation selection score); TPE with a constant liar, so
    that parallel workers do not sample the same point, seeded by ``seed``, the worker index and the trial number
    (:class:`TrialSeededTPE`)."""
    sampler = TrialSeededTPE(seed=seed + 1000 * worker, constant_liar=True, n_startup_trials=4)
    return optuna.create_study(
        study_name=name, storage=make_storage(storage, heartbeat_interval), sampler=sampler, pruner=pruner,
        direction="maximize", load_if_exists=True,
    )


def counts_by_state(study: optuna.Study) -> dict[str, int]:
    """``{"complete": n, "pruned": n, "fail": n, "running": n, "waiting": n}``."""
    trials = study.get_trials(deepcopy=False)
    return {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}


def budget_used(study: optuna.Study) -> int:
    """Trials that count toward ``--trials``."""
    return len(study.get_trials(deepcopy=False, states=BUDGET_STATES))


class StopAfterFailures:
    """Study callback: stop this worker once the study holds ``limit`` failed trials (a broken config)."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))) >= self.limit:
            study.stop()


def run_worker(
    study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int, max_failures: int,
    timeout: float | None = None, callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
) -> int:
    """Run trials until the study holds ``n_trials`` (see :data:`BUDGET_STATES`), ``max_failures`` failed trials,
    or ``timeout`` seconds; returns how many trials this worker ran. Exceptions of a trial fail that trial only."""
    ran: list[int] = []
    optuna.storages.fail_stale_trials(study)  # a killed worker's trial: failed and queued again before the budget check
    if budget_used(study) >= n_trials or len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))) >= max_failures:
        return 0
    study.optimize(
        objective,
        timeout=timeout,
        catch=(Exception,),
        gc_after_trial=True,
        callbacks=[MaxTrialsCallback(n_trials, states=BUDGET_STATES), StopAfterFailures(max_failures),
                   lambda _study, trial: ran.append(trial.number), *callbacks],
    )
    return len(ran)
