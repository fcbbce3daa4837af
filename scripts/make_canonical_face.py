"""Rebuild ``datamodules/preprocessing/aus/canonical_face.npz`` from landmark ``.npz`` files.

Example:
    python scripts/extract_landmarks.py ../shared/realdata/pyfeat/single_face.mp4 --out /tmp/lm
    python scripts/make_canonical_face.py /tmp/lm/*.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from datamodules.io.landmarks import load_landmarks
from datamodules.preprocessing.aus.canonical import CANONICAL_PATH
from datamodules.preprocessing.aus.make_canonical import build_canonical_face


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("npz", nargs="+", type=Path, help="landmark .npz files (468 or 478 points)")
    parser.add_argument("--out", type=Path, default=CANONICAL_PATH)
    args = parser.parse_args(argv)
    seqs = [load_landmarks(p) for p in args.npz]
    face = build_canonical_face([(s.points, s.valid) for s in seqs])
    sources = np.array([p.name for p in args.npz])
    np.savez_compressed(args.out, points=face, sources=sources, eye_corner_distance_mm=np.float64(90.0))
    print(f"canonical face from {len(seqs)} videos -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
