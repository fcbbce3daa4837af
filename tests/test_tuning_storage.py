"""Shared study storage end to end (``scripts/tune.py`` as separate processes, as users run it).

Two workers started together on one study (SQLite file, and a real PostgreSQL server from
``tests/postgres_server.py``) run exactly the trial budget between them, never the same trial or parameters,
and leave every trial finished with its folder; workers that open a fresh storage at the same instant all join
one study; a stopped study resumes where it was; a trial whose training raises is recorded as failed (with its
error) and the study goes on. Each worker uses one torch thread (``OMP_NUM_THREADS=1``): see ``worker_env``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600  # s per worker process
FAST = ["--inner-folds", "2", "--trainer.max_epochs", "1", "--pruner", "none"]
SPACE = (
    "model.init_args.optimizer.init_args.lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}\n"
    "model.init_args.net.init_args.hidden_size: {type: int, low: 4, high: 16, step: 4}\n"
)


def worker_env() -> dict[str, str]:
    # one torch thread per worker: two 2-thread workers on 2 cores are ~3x slower than one (OpenMP spin-waits)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def tune_command(manifest: Path, space: Path, output_dir: Path, study: str, trials: int,
                 storage: str | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable, str(ROOT / "scripts" / "tune.py"),
        "--config", str(ROOT / "configs" / "tests" / "tiny.yaml"), "--space", str(space),
        "--trials", str(trials), "--study", study, *(["--storage", storage] if storage else []), *FAST, *extra,
        "--data.init_args.manifest", str(manifest), "--run.output_dir", str(output_dir),
    ]


def run_workers(command: list[str], workers: int, logs: Path) -> list[str]:
    """Start ``workers`` copies of ``command`` at once, wait for all; returns each one's output (all succeed)."""
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for w in range(workers):
        out = (logs / f"worker{w}.log").open("w")
        procs.append((subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=worker_env(),
                                       cwd=logs), out))
    outputs = []
    try:
        for proc, out in procs:
            proc.wait(timeout=TIMEOUT)
    finally:
        for proc, out in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
    for w, (proc, _) in enumerate(procs):
        text = (logs / f"worker{w}.log").read_text()
        assert proc.returncode == 0, f"worker {w} exited {proc.returncode}:\n{text[-4000:]}"
        outputs.append(text)
    return outputs


def finished_numbers(output: str) -> set[int]:
    """The trials a worker finished (Optuna logs each of its own trials: ``Trial N finished/failed/pruned``)."""
    return {int(n) for n in re.findall(r"Trial (\d+) (?:finished|failed|pruned)", output)}


def params_key(trial: optuna.trial.FrozenTrial) -> tuple:
    return tuple(sorted(trial.params.items()))


def check_shared_study(storage: str, study: str, study_dir: Path, trials: int, outputs: list[str]) -> None:
    """The study after its workers: exactly ``trials`` complete, distinct trials, each with its folder."""
    loaded = optuna.load_study(study_name=study, storage=storage)
    all_trials = loaded.get_trials(deepcopy=False)
    states = [t.state for t in all_trials]
    assert all(s.is_finished() for s in states), states  # none left RUNNING / WAITING
    budget = [t for t in all_trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(budget) == trials, [(t.number, t.state.name) for t in all_trials]
    assert all(t.state == TrialState.COMPLETE for t in all_trials), [(t.number, t.state.name) for t in all_trials]
    numbers = [t.number for t in all_trials]
    assert sorted(numbers) == list(range(len(numbers)))  # no duplicated (or missing) trial number
    keys = [params_key(t) for t in all_trials]
    assert len(set(keys)) == len(keys), f"duplicated parameter sets: {keys}"
    by_worker = [finished_numbers(text) for text in outputs]
    assert all(by_worker), f"a worker ran no trial: {by_worker}"
    assert set().union(*by_worker) == set(numbers) and sum(map(len, by_worker)) == len(numbers), by_worker
    for t in all_trials:
        record = json.loads((study_dir / "trials" / f"trial_{t.number:04d}" / "trial.json").read_text())
        assert record["number"] == t.number and record["state"] == "COMPLETE"
        assert record["value"] == pytest.approx(t.value)
        assert len(record["inner_scores"]) == 2
    assert (study_dir / "best.yaml").is_file()


@pytest.fixture()
def space(tmp_path: Path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)
    return path


def test_two_workers_share_a_sqlite_study(demo_manifest: Path, space: Path, tmp_path: Path) -> None:
    output_dir = tmp_path / "runs"
    outputs = run_workers(tune_command(demo_manifest, space, output_dir, "shared", 4), 2, tmp_path / "logs")
    study_dir = output_dir / "shared"
    check_shared_study(f"sqlite:///{study_dir / 'study.db'}", "shared", study_dir, 4, outputs)


def test_two_workers_share_a_postgresql_study(demo_manifest: Path, space: Path, tmp_path: Path,
                                              postgres_url: str) -> None:
    output_dir = tmp_path / "runs"
    command = tune_command(demo_manifest, space, output_dir, "shared-pg", 4, storage=postgres_url)
    outputs = run_workers(command, 2, tmp_path / "logs")
    study_dir = output_dir / "shared-pg"
    check_shared_study(postgres_url, "shared-pg", study_dir, 4, outputs)
    assert not (study_dir / "study.db").exists()  # the study lives in PostgreSQL only


# Workers of a job array start within milliseconds of each other; on a fresh storage each one creates Optuna's
# tables. Each process opens the study on one fresh storage per round, all processes at the same instants.
RACE = """
import sys, time
from facedep.tuning.study import make_pruner, open_study
start, urls = float(sys.argv[1]), sys.argv[2:]
for i, url in enumerate(urls):
    time.sleep(max(0.0, start + 0.5 * i - time.time()))
    open_study("race", url, make_pruner("none"))
"""


def open_together(urls: list[str], workers: int = 2) -> None:
    start = f"{time.time() + 3.0:.3f}"  # after every process has imported
    procs = [subprocess.Popen([sys.executable, "-c", RACE, start, *urls], env=worker_env(), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(workers)]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    for proc, text in zip(procs, outputs):
        assert proc.returncode == 0, f"a worker failed to open a fresh storage:\n{text[-3000:]}"
    for url in urls:
        assert len(optuna.get_all_study_summaries(url)) == 1  # one study, joined by every worker


@pytest.mark.slow  # the start-up race (retry in make_storage); CI runs it
def test_workers_starting_together_on_a_fresh_sqlite_storage(tmp_path: Path) -> None:
    open_together([f"sqlite:///{tmp_path / f'race{i}.db'}" for i in range(6)])


@pytest.mark.slow  # the start-up race (retry in make_storage); CI runs it
def test_workers_starting_together_on_a_fresh_postgresql_storage(postgres_url: str) -> None:
    from postgres_server import create_database

    open_together([create_database(postgres_url, f"race{i}") for i in range(6)])


def _snapshot(storage: str, study: str) -> list[tuple]:
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    return [(t.number, t.state, t.params, t.value, t.datetime_start, t.datetime_complete) for t in trials]


@pytest.mark.slow
def test_interrupted_study_resumes(demo_manifest: Path, space: Path, tmp_path: Path) -> None:
    output_dir, study_dir = tmp_path / "runs", tmp_path / "runs" / "resume"
    storage = f"sqlite:///{study_dir / 'study.db'}"
    run_workers(tune_command(demo_manifest, space, output_dir, "resume", 2), 1, tmp_path / "logs1")
    first = _snapshot(storage, "resume")
    assert [(n, s) for n, s, *_ in first] == [(0, TrialState.COMPLETE), (1, TrialState.COMPLETE)]
    records = {n: (study_dir / "trials" / f"trial_{n:04d}" / "trial.json").read_text() for n in (0, 1)}

    [output] = run_workers(tune_command(demo_manifest, space, output_dir, "resume", 4), 1, tmp_path / "logs2")
    assert finished_numbers(output) == {2, 3}  # only the missing trials ran
    second = _snapshot(storage, "resume")
    assert [(n, s) for n, s, *_ in second] == [(n, TrialState.COMPLETE) for n in range(4)]
    assert second[:2] == first  # the first two trials untouched
    assert {n: (study_dir / "trials" / f"trial_{n:04d}" / "trial.json").read_text() for n in (0, 1)} == records
    assert len({params_key(t) for t in optuna.load_study(study_name="resume", storage=storage).trials}) == 4

    [again] = run_workers(tune_command(demo_manifest, space, output_dir, "resume", 4), 1, tmp_path / "logs3")
    assert finished_numbers(again) == set() and _snapshot(storage, "resume") == second  # budget met: no new trial


@pytest.mark.slow
def test_failing_trial_is_recorded_and_the_study_goes_on(demo_manifest: Path, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"  # the first choice passes the config check; AdamW rejects lr=-1 at fit time
    space.write_text("model.init_args.optimizer.init_args.lr: {type: categorical, choices: [0.01, -1.0]}\n"
                     "model.init_args.net.init_args.hidden_size: {type: int, low: 4, high: 16, step: 4}\n")
    output_dir, study_dir = tmp_path / "runs", tmp_path / "runs" / "failing"
    storage = f"sqlite:///{study_dir / 'study.db'}"
    study_dir.mkdir(parents=True)
    queued = optuna.create_study(study_name="failing", storage=storage, direction="maximize")
    for lr in (-1.0, 0.01):  # trial 0 fails, trial 1 completes, whatever the sampler draws afterwards
        queued.enqueue_trial({"model.init_args.optimizer.init_args.lr": lr,
                              "model.init_args.net.init_args.hidden_size": 8})
    command = tune_command(demo_manifest, space, output_dir, "failing", 3, extra=("--max-failures", "30"))
    done = subprocess.run(command, capture_output=True, text=True, env=worker_env(), cwd=tmp_path, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    trials = optuna.load_study(study_name="failing", storage=storage).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3, [(t.number, t.state.name, t.params) for t in trials]
    assert trials[0].state == TrialState.FAIL and trials[1].state == TrialState.COMPLETE
    assert len(trials) == len(failed) + len(complete)
    for t in failed:
        assert t.params["model.init_args.optimizer.init_args.lr"] == -1.0
        assert "Invalid learning rate" in t.user_attrs["error"], t.user_attrs
        record = json.loads((study_dir / "trials" / f"trial_{t.number:04d}" / "trial.json").read_text())
        assert record["state"] == "FAIL" and "Invalid learning rate" in record["error"]
    assert all(t.params["model.init_args.optimizer.init_args.lr"] == 0.01 for t in complete)
    assert (study_dir / "best.yaml").is_file()
    assert "lr: 0.01" in (study_dir / "best.yaml").read_text()


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_a_trial_that_the_next_worker_retries(
        demo_manifest: Path, space: Path, tmp_path: Path) -> None:
    """SIGKILL during a trial: its heartbeat stops; the next worker fails it (stale) and runs its values again,
    even though the dead trial still seemed to fill the budget of 1."""
    out, study = tmp_path / "runs", "killed"
    command = tune_command(demo_manifest, space, out, study, trials=1,
                           extra=("--heartbeat", "1", "--trainer.max_epochs", "40"))
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=worker_env(), cwd=tmp_path)
    inner0 = out / study / "trials" / "trial_0000" / "inner0"
    deadline = time.monotonic() + TIMEOUT
    while not (inner0 / "metrics.csv").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, "the first worker ended before its first trial was under way"
    first.kill()
    first.wait()
    storage = f"sqlite:///{out / study / 'study.db'}"
    (killed,) = optuna.load_study(study_name=study, storage=storage).trials
    assert killed.state == TrialState.RUNNING  # nobody finished it
    time.sleep(4)  # past the grace period (3 heartbeats of 1 s)
    done = subprocess.run(command, capture_output=True, text=True, env=worker_env(), cwd=tmp_path, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    trials = optuna.load_study(study_name=study, storage=storage).trials
    assert trials[0].state == TrialState.FAIL  # the stale trial
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 1 and not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert trials[0].params in [t.params for t in complete]  # its values were queued again and ran
