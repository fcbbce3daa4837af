"""Per-AU Pearson r of geometric AUs (landmark ``.npz``) against an OpenFace CSV of the same video, and frames/s.

Frames are matched as landmark frame ``f`` <-> OpenFace frame ``f + 1``. The median is over AUs whose
OpenFace std >= ``--min-std`` (0.25, the issue's "visibly moving" AUs).

Example:
    python scripts/measure_geometric_aus.py lm/subj01_timepoint01.npz subj01_timepoint01_openface.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from datamodules.io.landmarks import load_landmarks
from datamodules.preprocessing.aus.calibrate_cli import openface_frame_table
from datamodules.preprocessing.aus.calibration import AUCalibration
from datamodules.preprocessing.aus.intensity import AU_NAMES, estimate_aus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("npz", type=Path)
    parser.add_argument("openface", type=Path)
    parser.add_argument("--calibration", type=Path, default=None)
    parser.add_argument("--min-std", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats of estimate_aus")
    args = parser.parse_args(argv)
    seq = load_landmarks(args.npz)
    cal = AUCalibration.load(args.calibration) if args.calibration else None
    start = time.perf_counter()
    for _ in range(args.repeats):
        aus = estimate_aus(seq.points, seq.valid, calibration=cal)
    fps = args.repeats * seq.num_frames / (time.perf_counter() - start)
    aus.index = seq.frame + 1
    of = openface_frame_table(args.openface)
    common = aus.index.intersection(of.index)
    print(f"{args.npz.name}: {len(common)} matched frames, {seq.num_points} points, "
          f"{'calibrated' if cal else 'default gains'}; estimate_aus {fps:.0f} frames/s")
    moving = []
    for au in AU_NAMES:
        col = f"{au}_r"
        if col not in aus.columns:
            continue
        a, b = aus.loc[common, col].to_numpy(), of.loc[common, col].to_numpy()
        ok = np.isfinite(a) & np.isfinite(b)
        sd = float(b[ok].std())
        r = float(np.corrcoef(a[ok], b[ok])[0, 1]) if a[ok].std() > 0 and sd > 0 else float("nan")
        if sd >= args.min_std:
            moving.append(r)
        print(f"  {au}: r {r:6.3f}   OpenFace std {sd:.2f}{'  *' if sd >= args.min_std else ''}")
    print(f"median r over {len(moving)} AU(s) with OpenFace std >= {args.min_std}: "
          f"{np.median(moving) if moving else float('nan'):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
