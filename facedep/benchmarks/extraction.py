"""``benchmark.py extraction``: videos/s and frames/s of the video extractors with 1 vs W worker processes.

Each side is the real command (``scripts/extract_landmarks.py``, or ``scripts/extract_aus.py --backend mesh``
with ``--tool aus``) run as a subprocess on the same folder with ``--workers W --threads T --no-progress``,
so its wall time includes the interpreter start, the imports and the model loading (in the parent and in
every worker). The folder holds ``--count`` videos: symbolic links (copies where links fail) to the videos
found under ``--videos`` (default: the shared ``realdata`` folder), cycled in sorted order, named
``000_<name>``, ``001_<name>``... Sides alternate (1, W, 1, W... for ``--repeats``); the median wall time of
each is reported. ``speedup`` = throughput(W) / throughput(1); ``per_core`` = speedup / W (the scaling per
added core; target >= 0.8, i.e. speedup >= 1.6 with 2 workers). Every side's report (without the timing
columns) is checked to equal the first side's: ``same_report``.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); add_arguments(parser)
    >>> parser.parse_args(["--workers", "1", "2"]).workers
    [1, 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP = "extraction: videos/s and frames/s of extract_landmarks.py / extract_aus.py with 1 vs W worker processes"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VIDEOS = ROOT.parent / "shared" / "realdata"
TARGET_PER_CORE = 0.8
SCRIPTS = {"landmarks": "extract_landmarks.py", "aus": "extract_aus.py"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``extraction`` subcommand."""
    parser.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS,
                        help="a folder searched recursively for videos (default: the shared realdata folder)")
    parser.add_argument("--count", type=int, default=10, help="videos in the benchmarked folder (cycled)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts; the first is the baseline")
    parser.add_argument("--threads", type=int, default=1, help="--threads of each worker")
    parser.add_argument("--tool", choices=tuple(SCRIPTS), default="landmarks",
                        help="landmarks: extract_landmarks.py; aus: extract_aus.py --backend mesh")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side (alternating); medians reported")
    parser.add_argument("--json", default=None, help="also write the results to this file")


def find_videos(root: Path) -> list[Path]:
    """Video files under ``root`` (recursively, by suffix), sorted; ``root`` itself when it is a file."""
    from datamodules.preprocessing.extract import VIDEO_SUFFIXES

    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def make_folder(sources: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` links (or copies) to ``sources``, cycled, named ``000_<name>``...; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        source = sources[i % len(sources)].resolve()
        link = folder / f"{i:03d}_{source.name}"
        try:
            link.symlink_to(source)
        except OSError:
            shutil.copy(source, link)
        made.append(link)
    return made


def read_report(path: Path) -> list[dict[str, str]]:
    """The report's rows without the timing columns."""
    from datamodules.preprocessing.extract import TIMING_COLUMNS

    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(handle)]


def run_side(folder: Path, out: Path, args: argparse.Namespace, workers: int) -> dict:
    """One run of the command with ``workers``: wall seconds, videos, frames, failed videos and the report."""
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, str(ROOT / "scripts" / SCRIPTS[args.tool]), str(folder), "--out", str(out),
               "--workers", str(workers), "--threads", str(args.threads), "--stride", str(args.stride), "--no-progress"]
    if args.tool == "aus":
        command += ["--backend", "mesh"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    report = out / "extraction_report.csv"
    if done.returncode not in (0, 1) or not report.is_file():  # 1: some video failed (reported), still a full run
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: {done.stderr[-2000:]}")
    rows = read_report(report)
    frames = sum(int(row["frames"]) for row in rows if row["frames"])
    return {"wall_s": wall, "videos": len(rows), "frames": frames, "failed": sum(bool(row["error"]) for row in rows),
            "rows": rows}


def machine() -> dict:
    """CPU model, cores and Python of this machine."""
    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def run(args: argparse.Namespace) -> dict:
    """Measure every side, print the table; returns (and optionally writes) the results."""
    sources = find_videos(Path(args.videos))
    if not sources:
        raise SystemExit(f"error: no videos under {args.videos}")
    with tempfile.TemporaryDirectory(prefix="facedep-bench-extraction-") as tmp:
        folder = Path(tmp) / "videos"
        make_folder(sources, args.count, folder)
        walls: dict[int, list[float]] = {w: [] for w in args.workers}
        last: dict[int, dict] = {}
        for _ in range(args.repeats):
            for workers in args.workers:
                side = run_side(folder, Path(tmp) / f"out{workers}", args, workers)
                walls[workers].append(side["wall_s"])
                last[workers] = side
    base = args.workers[0]
    reference = last[base]["rows"]
    rows = []
    for workers in args.workers:
        wall = statistics.median(walls[workers])
        side = last[workers]
        rows.append({"workers": workers, "wall_s": round(wall, 2), "walls_s": [round(w, 2) for w in walls[workers]],
                     "videos": side["videos"], "failed": side["failed"], "frames": side["frames"],
                     "videos_per_s": round(side["videos"] / wall, 3), "frames_per_s": round(side["frames"] / wall, 1),
                     "same_report": side["rows"] == reference})
    base_rate = rows[0]["videos_per_s"]
    for row in rows:
        row["speedup"] = round(row["videos_per_s"] / base_rate, 3)
        row["per_core"] = round(row["speedup"] * base / row["workers"], 3)
    result = {"benchmark": "extraction", "tool": args.tool, "count": args.count, "threads": args.threads,
              "stride": args.stride, "repeats": args.repeats, "sources": [str(p) for p in sources],
              "target_per_core": TARGET_PER_CORE, "machine": machine(), "rows": rows}
    print(f"extraction ({args.tool}): {args.count} videos ({len(sources)} distinct), --threads {args.threads}, "
          f"stride {args.stride}, {result['machine']['cores']} cores, median of {args.repeats}")
    print(f"{'workers':>7s} {'wall s':>8s} {'videos/s':>9s} {'frames/s':>9s} {'speed-up':>9s} {'per core':>9s} {'same report':>12s}")
    for row in rows:
        print(f"{row['workers']:7d} {row['wall_s']:8.2f} {row['videos_per_s']:9.3f} {row['frames_per_s']:9.1f} "
              f"{row['speedup']:9.2f} {row['per_core']:9.2f} {str(row['same_report']):>12s}")
    print(f"target: per-core scaling >= {TARGET_PER_CORE} (speed-up >= {TARGET_PER_CORE * 2:.1f} with 2 workers)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result
