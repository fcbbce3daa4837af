"""``scripts/tune.py``: hyper-parameter search on the training subjects of one outer fold.

Every further argument is a training override (``--trainer.max_epochs 10``), as for ``train.py``. Many workers
share one study when they run the same command with the same ``--study`` and ``--storage``.
"""

from __future__ import annotations

import argparse
import sys

from facedep.experiment.quiet import quiet_console
from facedep.tuning.identity import StudyMismatch
from facedep.tuning.space import SpaceError
from facedep.tuning.study import PRUNERS
from facedep.tuning.tune import TuneOptions, TuningError, tune


def add_search_arguments(parser: argparse.ArgumentParser, space_flag: str = "--space") -> None:
    """The search flags shared by ``tune.py`` and ``cross_validate.py --tune``."""
    parser.add_argument(space_flag, dest="space", required=space_flag == "--space",
                        help="Search space (YAML: dotted config key -> {type: float|int|categorical, ...}).")
    parser.add_argument("--trials", type=int, default=20, help="Trials in the study (all workers together).")
    parser.add_argument("--inner-folds", type=int, default=3, help="Inner subject folds of the training subjects.")
    parser.add_argument("--storage", default=None,
                        help="SQLAlchemy URL of the study storage (default: sqlite file in the study folder); "
                             "postgresql+psycopg2://user:pass@host/db to share one study between machines.")
    parser.add_argument("--pruner", choices=PRUNERS, default="median", help="Stop unpromising trials early.")
    parser.add_argument("--prune-startup", type=int, default=4,
                        help="Trials that complete before the median pruner compares (it needs a median to compare with).")
    parser.add_argument("--prune-warmup", type=int, default=3,
                        help="Epochs of the first inner fold before a trial may be pruned (early epochs say little).")
    parser.add_argument("--seed", type=int, default=0, help="Sampler seed (plus 1000 x the worker index).")
    parser.add_argument("--worker", type=int, default=None,
                        help="Worker index (sampler seed offset; default: SLURM_ARRAY_TASK_ID or 0).")
    parser.add_argument("--max-failures", type=int, default=None,
                        help="Stop once the study holds this many failed trials (default: max(trials, 3)).")
    parser.add_argument("--timeout", type=float, default=None, help="Seconds after which this worker starts no trial.")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of this worker's torch (default: torch's, all cores). Several workers on "
                             "one machine: give each cores / workers, or they slow each other down.")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="Keep the trials' checkpoints (by default each inner run's checkpoints/ is deleted once "
                             "its score is read: the chosen values are trained again, and 3 inner runs x N trials "
                             "of a large net would fill the disk).")
    parser.add_argument("--heartbeat", type=int, default=60,
                        help="Trial heartbeat (s): a killed worker's trial is failed and retried after 3 beats.")


def options_from(known: argparse.Namespace, **extra: object) -> TuneOptions:
    """:class:`TuneOptions` from parsed search flags."""
    return TuneOptions(trials=known.trials, storage=known.storage, inner_folds=known.inner_folds, pruner=known.pruner,
                       prune_startup=known.prune_startup, prune_warmup=known.prune_warmup, seed=known.seed,
                       worker=known.worker, max_failures=known.max_failures, timeout=known.timeout,
                       heartbeat=known.heartbeat, keep_checkpoints=known.keep_checkpoints, threads=known.threads, **extra)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    quiet_console()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="Training config (YAML), as for scripts/train.py.")
    add_search_arguments(parser)
    parser.add_argument("--study", default=None, help="Study name (default: <run.name>-tune-fold<fold>).")
    parser.add_argument("--fold", type=int, default=None, help="Outer fold whose training subjects are tuned on "
                                                               "(default: the config's data fold).")
    parser.add_argument("--folds", type=int, default=None, help="Outer folds (default: the config's num_folds).")
    known, overrides = parser.parse_known_args(argv)
    try:
        result = tune(known.config, known.space, overrides,
                      options_from(known, study=known.study, fold=known.fold, folds=known.folds))
    except (SpaceError, StudyMismatch, TuningError) as exc:
        parser.exit(2, f"error: {exc}\n")
    if result.best_config is None:
        sys.stderr.write(f"error: study {result.study.study_name} has no complete trial ({result.counts}); "
                         f"see {result.study_dir / 'study.md'}\n")
        return 1
    return 0
