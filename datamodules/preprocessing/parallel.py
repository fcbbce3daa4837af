"""Many videos at once on one machine: a per-video function over a pool of processes, results in input order.

``scripts/extract_landmarks.py`` and ``scripts/extract_aus.py`` take ``--workers N`` (``--shard K/N`` splits
the list across machines first). :func:`map_ordered` starts ``N`` processes with the ``spawn`` start method
(the TFLite/LiteRT and torch runtimes are not fork-safe, and the parent may already hold loaded models); each
worker runs ``setup`` once in its initializer (its models) and is held to ``threads`` CPU threads. Items are
handed out one per idle worker, the largest first when a ``cost`` is given (a long video started last would
leave the other workers idle), and the results are yielded in the order of the input, so that whatever writes
them (the extraction report) writes the same bytes whatever the worker count.

A per-video error that the function reports as its result (an unreadable video) is a result like any other.
An exception that escapes the function, or a worker that dies, stops the pool (the other workers are ended,
nothing more is started) and raises :class:`WorkerError` naming the item; Ctrl-C raises :class:`Interrupted`
naming the items in flight, after ending the workers (they ignore SIGINT themselves, so that the pool is ended
in one place).

Example:
    >>> import math
    >>> [(x, r) for x, r in map_ordered(_demo_sqrt, [9.0, 4.0, 1.0], workers=1, setup=_demo_setup)]
    [(9.0, 3.0), (4.0, 2.0), (1.0, 1.0)]
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

START_METHOD = "spawn"
"""How workers start: ``spawn`` (a fresh interpreter; ``forkserver`` also works, ``fork`` is not used)."""

_STATE: dict[str, Any] = {}


class WorkerError(RuntimeError):
    """The per-item function raised (or a worker died) on ``item`` (its name); ``detail``: the worker's traceback."""

    def __init__(self, item: object, message: str, detail: str = "") -> None:
        super().__init__(f"{item}: {message}")
        self.item, self.detail = item, detail


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while ``items`` were being processed; the pool is already ended."""

    def __init__(self, items: Iterable[object]) -> None:
        self.items = list(items)
        super().__init__(f"interrupted while processing {', '.join(map(str, self.items)) or 'no video'}")


def pool_error_exit(exc: WorkerError | Interrupted, workers: int) -> int:
    """Say on stderr why a ``--workers`` run stopped (the worker's traceback first) and return the exit code:
    1 for a worker error, 130 for Ctrl-C. The caller writes no report.

    Example:
        >>> pool_error_exit(WorkerError("a.mp4", "bad frame"), 2)
        1
    """
    if isinstance(exc, Interrupted):
        print(f"error: {exc} (--workers {workers}); no report written", file=sys.stderr)
        return 130
    if exc.detail:
        print(exc.detail.strip().strip('"').strip(), file=sys.stderr)  # the worker's traceback
    print(f"error: --workers {workers} stopped on video {exc}; no report written", file=sys.stderr)
    return 1


def limit_threads(threads: int) -> None:
    """At most ``threads`` CPU threads here for OpenCV, the BLAS/OpenMP pools and torch (when imported)."""
    import cv2

    cv2.setNumThreads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        pass
    else:
        _STATE["thread_limits"] = threadpool_limits(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


@contextmanager
def held_threads(threads: int) -> Iterator[None]:
    """:func:`limit_threads` for the duration of the block in the calling process (``--workers 1``).

    The BLAS/OpenMP pools and torch get their thread counts back afterwards, so that a caller of ``main()``
    keeps its own; OpenCV's stays set, as ``cv2.setNumThreads`` always did. Nothing happens for ``threads < 1``
    (the commands reject it with their own message).
    """
    if threads < 1:
        yield
        return
    import cv2

    cv2.setNumThreads(threads)
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None  # before threadpoolctl lowers OpenMP's
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        limits = None
    else:
        limits = threadpool_limits(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if limits is not None:
            limits.restore_original_limits()
        if torch is not None and before:
            torch.set_num_threads(before)


def _init_worker(setup: Callable[..., Any], setup_args: tuple, threads: int) -> None:
    """A worker's start: ignore SIGINT (the parent ends the pool), load the state once, hold the threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    _STATE["state"] = setup(*setup_args)
    limit_threads(threads)  # setup may have imported torch


def _call(function: Callable[[Any, Any], Any], item: Any) -> Any:
    return function(_STATE["state"], item)


def _end_pool(executor: cf.ProcessPoolExecutor, clean: bool) -> None:
    """Shut the pool down: wait for idle workers when clean, else end them (running items are abandoned)."""
    if not clean:
        if hasattr(executor, "terminate_workers"):  # Python >= 3.14
            executor.terminate_workers()
        else:
            processes = list((getattr(executor, "_processes", None) or {}).values())
            for process in processes:
                if process.is_alive():
                    process.terminate()
            for process in processes:
                process.join(10)
    executor.shutdown(wait=True, cancel_futures=True)


def map_ordered(function: Callable[[Any, T], R], items: Iterable[T], workers: int, setup: Callable[..., Any],
                setup_args: tuple = (), threads: int = 1, cost: Callable[[T], float] | None = None,
                name: Callable[[T], object] = str, start_method: str = START_METHOD) -> Iterator[tuple[T, R]]:
    """Yield ``(item, function(state, item))`` for every item in input order, computed by ``workers`` processes.

    ``state = setup(*setup_args)`` is built once per worker; ``function`` and ``setup`` must be importable
    module-level functions and items and results picklable. ``cost(item)`` (in this process) orders the
    hand-out, largest first; ``name(item)`` is how errors name an item. ``workers == 1`` runs everything here, without a pool. Raises
    :class:`WorkerError` / :class:`Interrupted` as the module doc says.
    """
    items = list(items)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        state = setup(*setup_args)
        for item in items:
            yield item, function(state, item)
        return
    if not items:
        return
    workers = min(workers, len(items))
    order = sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost else list(range(len(items)))  # stable
    executor = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method),
                                      initializer=_init_worker, initargs=(setup, tuple(setup_args), threads))
    queue = iter(order)
    running: dict[cf.Future, int] = {}
    finished: dict[int, Any] = {}
    next_out, clean = 0, False
    try:
        while True:
            while len(running) < workers and (index := next(queue, None)) is not None:
                running[executor.submit(_call, function, items[index])] = index
            if not running:
                break
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                index = running[future]
                try:
                    finished[index] = future.result()
                except BrokenProcessPool as exc:
                    names = ", ".join(str(name(items[i])) for i in sorted(running.values()))
                    raise WorkerError(name(items[index]), f"a worker process ended abruptly (crashed, killed, out of "
                                                    f"memory, or its setup failed) while processing: {names}") from exc
                except Exception as exc:  # noqa: BLE001 - any failure of the function stops the run, named
                    raise WorkerError(name(items[index]), f"{type(exc).__name__}: {exc}", str(exc.__cause__ or "")) from exc
                del running[future]
            while next_out in finished:
                yield items[next_out], finished.pop(next_out)
                next_out += 1
        clean = True
    except KeyboardInterrupt:
        raise Interrupted(name(items[i]) for i in sorted(running.values())) from None  # the pool ends below, first
    finally:
        _end_pool(executor, clean)


def _demo_setup() -> dict:
    """For the doctest: a worker state."""
    return {"power": 0.5}


def _demo_sqrt(state: dict, item: float) -> float:
    """For the doctest: ``item ** state['power']``."""
    return item ** state["power"]
