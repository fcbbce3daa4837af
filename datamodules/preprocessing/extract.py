"""Per-frame face mesh from videos: ``scripts/extract_landmarks.py VIDEO_OR_DIR --out DIR [--model attention|mesh]``.

The face is tracked as MediaPipe does (:mod:`~datamodules.preprocessing.mesh_tracker`) with the
attention mesh (478 points: refined lips and eyes, irises; the default) or the plain 468-point mesh.
Each video gives ``<stem>.npz`` (points ``(T, P, 3)`` in image pixels, NaN where no face; valid,
frame, timestamp, fps, source) and one ``extraction_report.csv`` per run (video, frames,
frames_with_face, fps_video, fps_processing, error). The largest face of each frame is kept. An
unreadable video is reported and skipped; a video without any face gives a warning and an
all-invalid output. Models come from :mod:`~datamodules.preprocessing.face_models`.

``--workers N`` runs N processes on this machine (:mod:`~datamodules.preprocessing.parallel`: each loads
the models once and uses ``--threads`` threads); ``--shard K/N`` takes every N-th video for one job of a
cluster array. The ``.npz`` arrays and the report are the same whatever the workers and shards, except the
clock's numbers (:data:`TIMING_COLUMNS`, the note ``elapsed_ms``); the report keeps the input order.

Example:
    python scripts/extract_landmarks.py /data/videos --out /data/landmarks --stride 2 --threads 1 --model attention
    python scripts/extract_landmarks.py /data/videos --out /data/landmarks --workers 8 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from datamodules.io.landmarks import LandmarkSequence, save_landmarks
from datamodules.output_folder import OutputFolderError, check_output_folder
from datamodules.preprocessing.face_mesh import NUM_LANDMARKS, FaceDetector, FaceMesh
from datamodules.preprocessing.face_models import FaceModelError, ensure_attention_model, ensure_face_models
from datamodules.preprocessing.mesh_tracker import MODELS, MeshTracker, build_tracker
from datamodules.preprocessing.parallel import Interrupted, WorkerError, held_threads, map_ordered, pool_error_exit
from datamodules.preprocessing.sharding import ShardError, parse_shard, select_shard, sharded_name

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
REPORT_NAME = "extraction_report.csv"
REPORT_COLUMNS = ("video", "frames", "frames_with_face", "fps_video", "fps_processing", "error")
TIMING_COLUMNS = ("fps_processing",)
"""Report columns measured on the clock (differ from run to run); every other column, and every output file's
arrays, are the same whatever ``--workers`` and ``--shard`` (the ``.npz`` note ``elapsed_ms`` is timing too)."""
MIN_PRESENCE = 0.5


class VideoReadError(RuntimeError):
    """A video file cannot be opened or has no frames."""


class NoFaceWarning(UserWarning):
    """No face was detected in any frame of a video."""


def open_video(path: str | Path) -> tuple[cv2.VideoCapture, float | None, int]:
    """Open a video; return the capture, its fps (None if unknown) and its announced frame count.

    The decoder uses OpenCV's thread count (``cv2.setNumThreads``, i.e. ``--threads``; FFmpeg would otherwise
    take every core, and ``--workers N`` processes would compete for them); the frames are the same.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"video {path} does not exist")
    capture = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, max(cv2.getNumThreads(), 1)])
    if not capture.isOpened():
        capture.release()
        raise VideoReadError(f"cannot open video {path} (unreadable or unsupported format)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else None
    count = int(count) if count and math.isfinite(count) and count > 0 else 0
    return capture, fps, count


def iter_frames(capture: cv2.VideoCapture, stride: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, timestamp_seconds, bgr)`` for every ``stride``-th frame (others only grabbed)."""
    index = 0
    while True:
        if index % stride:
            if not capture.grab():
                return
        else:
            ok, image = capture.read()
            if not ok or image is None:
                return
            yield index, capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, image
        index += 1


def landmarks_for_frame(rgb: np.ndarray, detector: FaceDetector, mesh: FaceMesh,
                        min_presence: float = MIN_PRESENCE) -> tuple[np.ndarray | None, str]:
    """Landmarks ``(468, 3)`` of the largest face, or ``None`` with the reason (``no_detection``/``low_presence``)."""
    face = detector.largest(rgb)
    if face is None:
        return None, "no_detection"
    result = mesh(rgb, face)
    if result.score < min_presence:
        return None, "low_presence"
    return result.points, "ok"


def progress_bar(enabled: bool = True):
    """A rich progress bar on stderr showing frames done and the processing rate (silent if disabled)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[rate]}"), console=Console(stderr=True), disable=not enabled)


def _timestamps(raw: list[float], frames: np.ndarray, fps: float | None) -> np.ndarray:
    """Decoder timestamps when they are increasing, else ``frame / fps`` (NaN without fps)."""
    stamps = np.asarray(raw, dtype=np.float64)
    if stamps.size and np.all(np.isfinite(stamps)) and np.all(np.diff(stamps) > 0) and stamps[-1] > 0:
        return stamps
    return frames / fps if fps else np.full(frames.shape, np.nan)


class _PerFrameDetection:
    """The older extraction: BlazeFace on every frame, then the 468-point mesh (no tracking)."""

    def __init__(self, detector: FaceDetector, mesh: FaceMesh, min_presence: float) -> None:
        self.detector, self.mesh, self.min_presence = detector, mesh, min_presence
        self.num_points, self.model, self.detections = NUM_LANDMARKS, "mesh", 0

    def reset(self) -> None:
        self.detections = 0

    def frame(self, rgb: np.ndarray) -> tuple[np.ndarray | None, str]:
        self.detections += 1
        return landmarks_for_frame(rgb, self.detector, self.mesh, self.min_presence)


def _tracked_frame(tracker: MeshTracker, rgb: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Points of one frame and ``ok`` / ``no_detection`` / ``low_presence``."""
    result = tracker.track(rgb)
    if result.points is not None:
        return result.points, "ok"
    return None, "no_detection" if result.roi is None else "low_presence"


def extract_video(path: str | Path, tracker: MeshTracker | FaceDetector, mesh: FaceMesh | None = None, stride: int = 1,
                  progress: bool = True, min_presence: float = MIN_PRESENCE) -> LandmarkSequence:
    """Face mesh of the largest (tracked) face in every ``stride``-th frame of a video.

    Call as ``extract_video(path, tracker)`` with a :class:`~datamodules.preprocessing.mesh_tracker.MeshTracker`
    (reset here; its ``min_presence`` applies), or as ``extract_video(path, detector, mesh)`` for
    the older per-frame detection with the 468-point mesh. Returns a
    :class:`~datamodules.io.landmarks.LandmarkSequence` (points NaN where invalid) whose ``notes``
    (integers, as the ``.npz`` stores them) hold model (its point count: 478 attention, 468 mesh), frames, frames_with_face, no_detection, low_presence, detections (BlazeFace runs),
    stride and elapsed_ms. Raises :class:`VideoReadError` naming the file if it cannot be read or
    has no frames; warns :class:`NoFaceWarning` if no frame has a face.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if mesh is not None:
        source = _PerFrameDetection(tracker, mesh, min_presence)
        step = source.frame
    else:
        source = tracker
        step = lambda rgb: _tracked_frame(tracker, rgb)  # noqa: E731
    source.reset()
    path = Path(path)
    capture, fps, count = open_video(path)
    points, valid, frames, stamps = [], [], [], []
    reasons = {"no_detection": 0, "low_presence": 0}
    missing = np.full((source.num_points, 3), np.nan, np.float32)
    bar = progress_bar(progress)
    start = time.perf_counter()
    try:
        with bar:
            task = bar.add_task(path.name, total=math.ceil(count / stride) if count else None, rate="")
            for index, stamp, image in iter_frames(capture, stride):
                found, reason = step(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
                reasons[reason] = reasons.get(reason, 0) + 1
                points.append(found if found is not None else missing)
                valid.append(found is not None)
                frames.append(index)
                stamps.append(stamp)
                rate = len(frames) / max(time.perf_counter() - start, 1e-9)
                bar.update(task, advance=1, rate=f"{rate:.1f} frames/s")
            bar.update(task, total=len(frames), completed=len(frames))
    finally:
        capture.release()
    elapsed = time.perf_counter() - start
    if not frames:
        raise VideoReadError(f"video {path} has no readable frames (corrupt or empty file)")
    frame_array = np.asarray(frames, dtype=np.int64)
    valid_array = np.asarray(valid, dtype=bool)
    notes = {"model": source.num_points, "frames": len(frames), "frames_with_face": int(valid_array.sum()),
             "stride": stride, "no_detection": reasons["no_detection"], "low_presence": reasons["low_presence"],
             "detections": source.detections, "elapsed_ms": int(round(elapsed * 1000))}
    if not valid_array.any():
        warnings.warn(f"{path}: no face detected in any of {len(frames)} frames", NoFaceWarning, stacklevel=2)
    return LandmarkSequence(source=str(path), points=np.stack(points).astype(np.float32), valid=valid_array,
                             frame=frame_array, timestamp=_timestamps(stamps, frame_array, fps), fps=fps, notes=notes)


def processing_fps(sequence: LandmarkSequence) -> float:
    """Processed frames per second of wall time, from the sequence's notes."""
    return sequence.notes["frames"] / max(sequence.notes["elapsed_ms"] / 1000.0, 1e-9)


def find_videos(target: str | Path) -> list[Path]:
    """The file itself, or the video files (by suffix) directly inside a directory, sorted."""
    target = Path(target)
    if target.is_dir():
        return sorted(p for p in target.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    return [target]


def output_names(videos: Sequence[Path]) -> dict[Path, str]:
    """``<stem>.npz`` per video; ``<stem>_<ext>.npz`` where stems collide."""
    stems = [video.stem for video in videos]
    return {video: f"{video.stem}_{video.suffix.lstrip('.')}.npz" if stems.count(video.stem) > 1 else f"{video.stem}.npz"
            for video in videos}


def write_report(rows: list[dict[str, object]], path: Path) -> Path:
    """Write the per-video report CSV."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _report_row(video: Path, sequence: LandmarkSequence | None = None, error: str = "") -> dict[str, object]:
    """One report line (empty numbers for a failed video)."""
    if sequence is None:
        return {"video": str(video), "frames": "", "frames_with_face": "", "fps_video": "", "fps_processing": "", "error": error}
    fps = "" if sequence.fps is None else f"{sequence.fps:.3f}"
    return {"video": str(video), "frames": sequence.notes["frames"], "frames_with_face": sequence.notes["frames_with_face"],
            "fps_video": fps, "fps_processing": f"{processing_fps(sequence):.1f}", "error": error}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="extract_landmarks.py", description=__doc__.split("\n")[0])
    parser.add_argument("input", metavar="VIDEO_OR_DIR", help="a video file or a directory of videos")
    parser.add_argument("--out", required=True, type=Path, help="output directory (one .npz per video + report)")
    parser.add_argument("--stride", type=int, default=1, help="process every N-th frame (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for OpenCV and the TFLite runtime")
    parser.add_argument("--model", choices=MODELS, default="attention",
                        help="landmark model: attention (478 points, refined lips/eyes + irises) or mesh (468)")
    parser.add_argument("--min-score", type=float, default=0.5, help="face detection score threshold")
    parser.add_argument("--models", type=Path, default=None, help="model cache dir (default $FACEDEP_CACHE/models)")
    parser.add_argument("--shard", metavar="K/N", default=None,
                        help="process only shard K of N (1-based; video i of the sorted list goes to shard i %% N + 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes on this machine, each with its own models and --threads threads "
                             "(outputs and report as with 1; default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def videos_to_process(args: argparse.Namespace) -> list[Path] | int:
    """The videos named by ``args.input``, or the exit code after a one-line error.

    Checks what every video command shares: ``--stride``/``--threads`` >= 1 (else 2) and at least one
    video (else 1).
    """
    if args.stride < 1 or args.threads < 1:
        print("error: --stride and --threads must be >= 1", file=sys.stderr)
        return 2
    videos = find_videos(args.input)
    if not videos:
        print(f"error: no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) in {args.input}", file=sys.stderr)
        return 1
    return videos


def process_video(tracker: MeshTracker, video: Path, target: Path, stride: int = 1,
                  progress: bool = True) -> tuple[dict[str, object], list[str], bool]:
    """Extract one video and write its ``.npz`` to ``target``: ``(report row, stderr lines, failed)``.

    An unreadable video is a failed row (its error), not an exception; a faceless one is a warning line.
    The same code runs in this process (``--workers 1``) and in each worker of ``--workers N``.
    """
    lines: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NoFaceWarning)
            sequence = extract_video(video, tracker, stride=stride, progress=progress)
        lines += [f"warning: {warning.message}" for warning in caught]
    except VideoReadError as exc:
        return _report_row(video, error=str(exc)), [*lines, f"error: {exc}"], True
    save_landmarks(sequence, target)
    lines.append(f"{video.name}: {sequence.notes['frames_with_face']}/{sequence.notes['frames']} frames with a face, "
                 f"{processing_fps(sequence):.1f} frames/s -> {target}")
    return _report_row(video, sequence), lines, False


def _worker_setup(model: str, models: Path | None, threads: int, min_score: float, stride: int) -> tuple[MeshTracker, int]:
    """A ``--workers`` process's state: its own tracker (models loaded once) and the stride."""
    return build_tracker(model, models, num_threads=threads, min_score=min_score), stride


def _worker_video(state: tuple[MeshTracker, int], job: tuple[Path, Path]) -> tuple[dict[str, object], list[str], bool]:
    """One video in a ``--workers`` process (no per-frame progress bar there)."""
    tracker, stride = state
    return process_video(tracker, job[0], job[1], stride, progress=False)


def file_size(path: Path) -> int:
    """Bytes of a file (0 when it cannot be read): the order in which workers are given videos, largest first."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the extraction; exit code 0 if every video was processed, 1 otherwise (130 after Ctrl-C with workers)."""
    args = build_parser().parse_args(argv)
    with held_threads(args.threads):  # OpenCV (and so the decoder) and BLAS, as each worker holds them
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
    videos = videos_to_process(args)
    if isinstance(videos, int):
        return videos
    try:
        check_output_folder(args.out)
    except OutputFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:  # with --workers N the models are checked (and fetched once) here, before any worker starts
        if args.workers == 1:
            tracker = build_tracker(args.model, args.models, num_threads=args.threads, min_score=args.min_score)
        else:
            ensure_face_models(args.models)
            if args.model == "attention":
                ensure_attention_model(args.models)
    except FaceModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    rows, failures = [], 0
    names = output_names(videos)  # over the whole list, so that every shard names a video the same way
    chosen = select_shard(names, *shard) if shard else list(names)
    started = time.perf_counter()
    if args.workers == 1:
        results = ((video, process_video(tracker, video, args.out / names[video], args.stride, not args.no_progress))
                   for video in chosen)
        bar = progress_bar(False)
    else:
        jobs = [(video, args.out / names[video]) for video in chosen]
        results = ((job[0], result) for job, result in map_ordered(
            _worker_video, jobs, args.workers, _worker_setup,
            (args.model, args.models, args.threads, args.min_score, args.stride), threads=args.threads,
            cost=lambda job: file_size(job[0]), name=lambda job: job[0]))
        bar = progress_bar(not args.no_progress)
    try:
        with bar:
            task = bar.add_task(f"{args.workers} workers: videos", total=len(chosen), rate="")
            for video, (row, lines, failed) in results:
                for line in lines:
                    print(line, file=sys.stderr)
                rows.append(row)
                failures += failed
                bar.update(task, advance=1)
    except (WorkerError, Interrupted) as exc:
        return pool_error_exit(exc, args.workers)
    write_report(rows, args.out / sharded_name(REPORT_NAME, shard))
    print(f"{len(rows) - failures}/{len(rows)} video(s) in {time.perf_counter() - started:.1f} s with "
          f"{args.workers} worker(s) -> {args.out}", file=sys.stderr)
    return 1 if failures else 0
