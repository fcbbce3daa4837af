"""How closely a face mesh follows OpenFace 2.x on the same video (Pearson r per movement).

Measures, each per frame, compared on frames present in both (our 0-based frame index + 1 =
OpenFace's ``frame``; OpenFace rows with confidence < 0.8 or success 0 left out):

* ``nose_x``, ``nose_y``: nose tip, mesh point 1 vs OpenFace landmark 30 (pixels);
* ``eye_left``, ``eye_right``: eye opening, mesh 159-145 (image-left eye) and 386-374 vs OpenFace
  mean of 37-41 and 38-40, and of 43-47 and 44-46;
* ``mouth``: inner-lip gap, mesh 13-14 vs OpenFace 62-66;

the openings divided by the outer eye-corner distance (mesh 33-263, OpenFace 36-45). Also the
standard deviation of OpenFace's measure (a movement that barely varies cannot correlate).

Command line (prints both models side by side, with frames/s of tracking plus decoding)::

    python -m datamodules.preprocessing.mesh_agreement VIDEO OPENFACE.csv --model attention mesh
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: measure -> (mesh point pairs, OpenFace point pairs); an opening is the mean distance of its pairs.
OPENINGS: dict[str, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]] = {
    "eye_left": (((159, 145),), ((37, 41), (38, 40))),
    "eye_right": (((386, 374),), ((43, 47), (44, 46))),
    "mouth": (((13, 14),), ((62, 66),)),
}
MESH_EYE_CORNERS, OPENFACE_EYE_CORNERS = (33, 263), (36, 45)
MESH_NOSE, OPENFACE_NOSE = 1, 30
MEASURES = ("nose_x", "nose_y", "eye_left", "eye_right", "mouth")


def face_measures(points: np.ndarray, openings: dict[str, tuple[tuple[int, int], ...]], corners: tuple[int, int],
                  nose: int) -> dict[str, np.ndarray]:
    """Per-frame nose x/y and openings / eye-corner distance from ``(T, P, >=2)`` points.

    >>> pts = np.zeros((1, 3, 2)); pts[0, 1] = (10, 0); pts[0, 2] = (0, 2)
    >>> face_measures(pts, {"gap": ((0, 2),)}, (0, 1), 2)["gap"].tolist()
    [0.2]
    """
    xy = np.asarray(points, dtype=np.float64)[..., :2]
    scale = np.linalg.norm(xy[:, corners[0]] - xy[:, corners[1]], axis=1)
    result = {"nose_x": xy[:, nose, 0], "nose_y": xy[:, nose, 1]}
    for name, pairs in openings.items():
        gaps = [np.linalg.norm(xy[:, a] - xy[:, b], axis=1) for a, b in pairs]
        result[name] = np.mean(gaps, axis=0) / np.where(scale > 0, scale, np.nan)
    return result


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two series over their jointly finite entries (NaN with < 3 or a constant series)."""
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.std(a[keep]) == 0 or np.std(b[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def mesh_vs_openface(points: np.ndarray, valid: np.ndarray, frames: np.ndarray, openface_csv: str | Path) -> dict:
    """Pearson r of each :data:`MEASURES` entry between a mesh sequence and an OpenFace CSV.

    ``points`` ``(T, P, 3)`` (P = 468 or 478) with ``valid`` and 0-based ``frames``. Returns
    ``{"frames": matched frames, "r_<measure>": r, "openface_std_<measure>": std}``.
    """
    from datamodules.io.landmarks import read_openface_landmarks

    openface = read_openface_landmarks(openface_csv, dims="2d")
    ours_row = {int(f) + 1: i for i, f in enumerate(np.asarray(frames)) if valid[i]}
    theirs_row = {int(f): i for i, f in enumerate(openface.frame) if openface.valid[i]}
    common = sorted(set(ours_row) & set(theirs_row))
    if not common:
        raise ValueError(f"{openface_csv}: no frame in common with the mesh sequence (valid frames: "
                         f"{len(ours_row)} ours, {len(theirs_row)} OpenFace)")
    ours = face_measures(np.asarray(points)[[ours_row[f] for f in common]],
                         {k: v[0] for k, v in OPENINGS.items()}, MESH_EYE_CORNERS, MESH_NOSE)
    theirs = face_measures(openface.points[[theirs_row[f] for f in common]],
                           {k: v[1] for k, v in OPENINGS.items()}, OPENFACE_EYE_CORNERS, OPENFACE_NOSE)
    result: dict = {"frames": len(common)}
    for name in MEASURES:
        result[f"r_{name}"] = pearson(ours[name], theirs[name])
        result[f"openface_std_{name}"] = float(np.nanstd(theirs[name]))
    return result


def _measure_model(video: Path, csv: Path, model: str, max_frames: int | None, threads: int) -> dict:
    """Track ``video`` with ``model`` and compare with ``csv``; adds frames/s (tracker alone and with decoding)."""
    import time

    import cv2

    from datamodules.preprocessing.extract import open_video
    from datamodules.preprocessing.mesh_tracker import build_tracker

    cv2.setNumThreads(threads)
    tracker = build_tracker(model, num_threads=threads)
    capture, _, _ = open_video(video)
    points, valid, frames, track_seconds = [], [], [], 0.0
    start = time.perf_counter()
    while max_frames is None or len(frames) < max_frames:
        ok, image = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        tick = time.perf_counter()
        result = tracker.track(rgb)
        track_seconds += time.perf_counter() - tick
        points.append(result.points if result.points is not None else np.full((tracker.num_points, 3), np.nan))
        valid.append(result.points is not None)
        frames.append(len(frames))
    total = time.perf_counter() - start
    capture.release()
    stats = mesh_vs_openface(np.stack(points), np.asarray(valid), np.asarray(frames), csv)
    stats.update(model=model, detections=tracker.detections, face_frames=int(np.sum(valid)),
                 fps_tracker=len(frames) / max(track_seconds, 1e-9), fps_with_decoding=len(frames) / max(total, 1e-9))
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    """Print the agreement table of each model."""
    parser = argparse.ArgumentParser(prog="python -m datamodules.preprocessing.mesh_agreement", description=__doc__.split("\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("openface_csv", type=Path)
    parser.add_argument("--model", nargs="+", choices=("attention", "mesh"), default=["attention", "mesh"])
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for path in (args.video, args.openface_csv):
        if not path.is_file():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 1
    rows = [_measure_model(args.video, args.openface_csv, model, args.max_frames, args.threads) for model in args.model]
    keys = ["frames", "face_frames", "detections", *(f"r_{m}" for m in MEASURES),
            *(f"openface_std_{m}" for m in MEASURES), "fps_tracker", "fps_with_decoding"]
    print(f"{'':24s}" + "".join(f"{row['model']:>12s}" for row in rows))
    for key in keys:
        cells = "".join(f"{row[key]:12.4f}" if isinstance(row[key], float) else f"{row[key]:12d}" for row in rows)
        print(f"{key:24s}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
