"""OpenFace 2.x AU CSVs from raw videos: ``scripts/extract_aus.py VIDEO_OR_DIR --out DIR --backend mesh``.

Writes ``DIR/<video stem>.csv`` per video (``<stem>_<ext>.csv`` where stems collide) and
``DIR/extraction_report.csv`` (``extraction_report.shardKofN.csv`` with ``--shard K/N``): ``video,
frames, frames_with_face, fps_video, fps_processing, backend, error``. Backends
(:mod:`facedep.inference.au_backends`): ``mesh`` (AU estimates from face-mesh geometry, no download
but the mesh models), ``detector`` (an ``AUDetector`` checkpoint, ``--ckpt``), ``openface`` (your
OpenFace 2.x ``FeatureExtraction``, ``--openface-bin`` or ``PATH``). A video that cannot be read or
has no face in any frame is reported (its ``error``) and skipped: no CSV; the exit code is then 1.
Existing CSVs in ``DIR`` are overwritten, as ``extract_landmarks.py`` does. ``--shard K/N`` takes
every N-th video of the sorted list, starting at the K-th, so a job array of N tasks covers a folder.
``--workers N`` runs N processes on this machine (:mod:`datamodules.preprocessing.parallel`), each
building its own backend and using ``--threads`` threads; the CSVs and the report (in input order) are
the same as with one, except the clock's :data:`TIMING_COLUMNS`.

Example:
    python scripts/extract_aus.py /data/videos --out /data/aus --backend mesh --shard $((SLURM_ARRAY_TASK_ID+1))/8
    python scripts/extract_aus.py /data/videos --out /data/aus --backend mesh --workers 8 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from datamodules.output_folder import OutputFolderError, check_output_folder
from datamodules.preprocessing.extract import REPORT_NAME, file_size, output_names, progress_bar, videos_to_process
from datamodules.preprocessing.face_models import FaceModelError
from datamodules.preprocessing.parallel import Interrupted, WorkerError, held_threads, map_ordered, pool_error_exit
from datamodules.preprocessing.sharding import ShardError, parse_shard, select_shard, sharded_name
from facedep.inference.au_backends import DetectorBackend, ExtractError, MeshBackend, OpenFaceBackend
from facedep.inference.common import PredictError

BACKENDS: tuple[str, ...] = ("mesh", "detector", "openface")
REPORT_COLUMNS: tuple[str, ...] = ("video", "frames", "frames_with_face", "fps_video", "fps_processing", "backend", "error")
TIMING_COLUMNS: tuple[str, ...] = ("fps_processing",)
"""Report columns measured on the clock; the other columns and the CSVs are the same whatever ``--workers`` / ``--shard``."""


def csv_names(videos: Sequence[Path], suffix: str = ".csv") -> dict[Path, str]:
    """``<stem><suffix>`` per video; ``<stem>_<ext><suffix>`` where stems collide (as ``extract_landmarks.py``).

    >>> sorted(csv_names([Path("a.mp4"), Path("a.avi"), Path("b.mp4")]).values())
    ['a_avi.csv', 'a_mp4.csv', 'b.csv']
    """
    return {video: name[: -len(".npz")] + suffix for video, name in output_names(videos).items()}


def report_name(shard: tuple[int, int] | None = None) -> str:
    """``extraction_report.csv``, or ``extraction_report.shardKofN.csv`` for one shard."""
    return sharded_name(REPORT_NAME, shard)


def write_report(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """The per-video report CSV (:data:`REPORT_COLUMNS`)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_video(backend: Any, video: Path, target: Path, stride: int = 1, progress: bool = True,
              verbose: bool = True) -> tuple[dict[str, Any], list[str]]:
    """One video through ``backend`` into ``target``: its report row (``csv`` = the written path or None) and stderr lines.

    The same code runs in this process (``--workers 1``) and in each worker of ``--workers N``.
    """
    row: dict[str, Any] = {"video": str(video), "frames": "", "frames_with_face": "", "fps_video": "",
                           "fps_processing": "", "backend": backend.name, "error": "", "csv": None}
    lines: list[str] = []
    try:
        summary = backend.run(video, target, stride=stride, progress=progress)
    except ExtractError as exc:
        lines.append(f"error: {exc}")
        row["error"] = str(exc)
        if exc.frames is not None:  # read, but no face: say how many frames were looked at
            row.update(frames=exc.frames, frames_with_face=0)
    else:
        row.update(frames=summary.frames, frames_with_face=summary.frames_with_face,
                   fps_video="" if summary.fps_video is None else f"{summary.fps_video:.3f}",
                   fps_processing=f"{summary.fps_processing:.1f}", csv=str(target))
        if verbose:
            lines.append(f"{video.name}: {summary.frames_with_face}/{summary.frames} frames with a face, "
                         f"{summary.fps_processing:.1f} frames/s -> {target}")
    return row, lines


BackendFactory = tuple[Callable[..., Any], tuple]
"""``(function, arguments)`` that builds a backend in a ``--workers`` process, e.g. ``(make_backend, (args, ckpt))``."""


def _worker_setup(factory: BackendFactory, stride: int, verbose: bool) -> tuple[Any, int, bool]:
    """A ``--workers`` process's state: its own backend (models loaded once), stride, verbosity."""
    function, arguments = factory
    return function(*arguments), stride, verbose


def _worker_video(state: tuple[Any, int, bool], job: tuple[Path, Path]) -> tuple[dict[str, Any], list[str]]:
    """One video in a ``--workers`` process (no per-frame progress bar there)."""
    backend, stride, verbose = state
    return run_video(backend, job[0], job[1], stride, progress=False, verbose=verbose)


def extract_videos(backend: Any, videos: Sequence[Path], out: Path, stride: int = 1, progress: bool = True,
                   shard: tuple[int, int] | None = None, suffix: str = ".csv", verbose: bool = True, workers: int = 1,
                   backend_factory: BackendFactory | None = None, threads: int = 1) -> list[dict[str, Any]]:
    """Run ``backend`` on ``videos`` (the shard of them), write one CSV each and the report; return the report rows.

    Each row has ``csv`` (the written path, or None) besides :data:`REPORT_COLUMNS`. Names are given
    over the whole list before sharding, so that every shard names a video the same way. With
    ``workers > 1`` the videos go to that many processes, each building its backend with
    ``backend_factory`` and using ``threads`` threads (:func:`~datamodules.preprocessing.parallel.map_ordered`);
    rows stay in input order, and :class:`~datamodules.preprocessing.parallel.WorkerError` /
    :class:`~datamodules.preprocessing.parallel.Interrupted` stop the run before the report is written.
    """
    names = csv_names(list(videos), suffix)
    chosen = select_shard(names, *shard) if shard else sorted(names)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    if workers == 1:
        results: Iterator[tuple[Path, tuple[dict[str, Any], list[str]]]] = (
            (video, run_video(backend, video, out / names[video], stride, progress, verbose)) for video in chosen)
        show_videos = progress and backend.name != "mesh"  # the mesh shows a per-frame bar itself
    else:
        if backend_factory is None:
            raise ValueError("workers > 1 needs a backend_factory: each worker builds its own backend")
        jobs = [(video, out / names[video]) for video in chosen]
        results = ((job[0], result) for job, result in map_ordered(
            _worker_video, jobs, workers, _worker_setup, (backend_factory, stride, verbose), threads=threads,
            cost=lambda job: file_size(job[0]), name=lambda job: job[0]))
        show_videos = progress
    videos_bar = progress_bar(show_videos)
    with videos_bar:
        task = videos_bar.add_task(f"{backend.name}: videos", total=len(chosen), rate="")
        for _video, (row, lines) in results:
            for line in lines:
                print(line, file=sys.stderr)
            rows.append(row)
            videos_bar.update(task, advance=1)
    write_report(rows, out / report_name(shard))
    return rows


def add_backend_arguments(parser: argparse.ArgumentParser, default: str = "mesh", detector_ckpt: bool = True) -> None:
    """``--backend`` and the options of each backend (the detector's are the bridge's, added by the caller)."""
    parser.add_argument("--backend", choices=BACKENDS, default=default,
                        help="mesh: AU estimates from face-mesh geometry; detector: an AUDetector checkpoint; "
                             "openface: your OpenFace 2.x FeatureExtraction")
    parser.add_argument("--model", choices=("attention", "mesh"), default="attention",
                        help="mesh backend: the 478-point attention mesh (default) or the 468-point mesh")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="mesh backend: a per-AU calibration file from scripts/calibrate_aus.py")
    parser.add_argument("--models", type=Path, default=None, help="mesh model cache dir (default $FACEDEP_CACHE/models)")
    parser.add_argument("--openface-bin", default=None,
                        help="openface backend: path to FeatureExtraction (default: the one on PATH)")
    if detector_ckpt:
        parser.add_argument("--ckpt", default=None, help="detector backend: AUDetector checkpoint")


MESH_MIN_FACE_SCORE = 0.5
"""The mesh backend's default BlazeFace threshold (as ``extract_landmarks.py``; the detector's is 0.7)."""


def min_face_score(args: argparse.Namespace) -> float:
    """``--min-face-score`` when given, else the backend's default (mesh 0.5, detector 0.7)."""
    if getattr(args, "min_face_score", None) is not None:
        return float(args.min_face_score)
    from facedep.inference.faces import DEFAULT_MIN_FACE_SCORE  # torch: only when needed

    return MESH_MIN_FACE_SCORE if args.backend == "mesh" else DEFAULT_MIN_FACE_SCORE


def make_backend(args: argparse.Namespace, ckpt: str | None = None) -> Any:
    """The backend ``args`` ask for; :class:`PredictError` / :class:`FaceModelError` with a clear message."""
    if args.backend == "mesh":
        return MeshBackend.create(args.model, args.models, args.threads, min_face_score(args), args.calibration)
    if args.backend == "openface":
        return OpenFaceBackend.create(args.openface_bin)
    if ckpt is None:
        raise ExtractError("--backend detector needs an AUDetector checkpoint (--ckpt)")
    return DetectorBackend.create(ckpt, args.device, args.margin, args.faces, args.batch_size, min_face_score(args))


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``extract_aus.py``."""
    from facedep.inference.au_bridge import add_bridge_arguments

    parser = argparse.ArgumentParser(prog="extract_aus.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", metavar="VIDEO_OR_DIR", help="a video file or a directory of videos")
    parser.add_argument("--out", required=True, type=Path, help="output folder: <stem>.csv per video + report")
    add_backend_arguments(parser)
    add_bridge_arguments(parser)  # --faces --stride --batch-size --device --margin --min-face-score
    parser.set_defaults(min_face_score=None)  # per backend: min_face_score()
    parser.add_argument("--shard", default=None, metavar="K/N", help="process only shard K of N (1-based)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for OpenCV and the TFLite runtime")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes on this machine, each with its own backend and --threads threads "
                             "(CSVs and report as with 1; default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every video gave a CSV, 1 when one was skipped (unreadable, no face), 2 on a usage error."""
    args = build_parser().parse_args(argv)
    with held_threads(args.threads):  # OpenCV (and so the decoder), BLAS, torch, as each worker holds them
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """:func:`main` after parsing."""
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ShardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("error: --workers must be >= 1", file=sys.stderr)
        return 2
    if args.backend == "openface" and args.stride != 1:
        print("error: the openface backend processes every frame: --stride must be 1", file=sys.stderr)
        return 2
    videos = videos_to_process(args)
    if isinstance(videos, int):
        return videos
    try:
        check_output_folder(args.out)
        args.min_face_score = min_face_score(args)  # resolved here: the workers then need not import torch for it
        backend = make_backend(args, args.ckpt)
    except (OutputFolderError, FaceModelError, PredictError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        rows = extract_videos(backend, videos, args.out, args.stride, not args.no_progress, shard, workers=args.workers,
                              backend_factory=(make_backend, (args, args.ckpt)), threads=args.threads)
    except (WorkerError, Interrupted) as exc:
        return pool_error_exit(exc, args.workers)
    done = [r for r in rows if not r["error"]]
    print(f"{len(done)}/{len(rows)} video(s) in {time.perf_counter() - started:.1f} s with {args.workers} worker(s) "
          f"-> {args.out} (report {args.out / report_name(shard)})", file=sys.stderr)
    return 0 if len(done) == len(rows) else 1
