"""``python scripts/make_demo_data.py``: write one of the synthetic demos, chosen by ``--modality``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from datamodules.synthetic.openface_demo import generate_openface_demo, summarize_demo
from datamodules.synthetic.subjects import SEVERITY_MODES

_DEFAULTS: dict[str, int | float] = {"subjects": 60, "min_frames": 300, "max_frames": 600, "effect_size": 1.0}
_FUSION_DEFAULTS: dict[str, int | float] = {"subjects": 96, "min_frames": 96, "max_frames": 128, "effect_size": 3.0}
"""``--modality fusion`` has its own defaults (a demo that trains in minutes); the others share ``_DEFAULTS``."""


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python scripts/make_demo_data.py --out demo_data [--subjects 60] ...``."""
    parser = argparse.ArgumentParser(description="Write synthetic OpenFace 2.x demo data with a planted depression signal.")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--modality", choices=("aus", "landmarks", "faces", "au-faces", "au-videos", "fusion"), default="aus",
                        help="aus: AU intensities/presences; landmarks: 68 3D landmarks (X_*, Y_*, Z_*); "
                        "faces: drawn faces in the Kaggle AffectNet layout (--subjects = images per class); "
                        "au-faces: drawn faces with AUs on/off in the Hugging-Rain-Man layout (labels/, images/); "
                        "au-videos: drawn-face mp4s from simulated OpenFace AU tables (videos/, openface/; "
                        "--max-frames frames at --fps per video); fusion: per video an OpenFace AU CSV, a landmark .npz "
                        "and aligned face crops, the depression signal split across the three views "
                        "(datamodules/synthetic/multimodal.py)")
    parser.add_argument("--subjects", type=int, default=None, help="default 60 (fusion: 96)")
    parser.add_argument("--sessions", type=int, default=1, help="sessions (videos) per subject")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--effect-size", type=float, default=None, help="0 = no group difference (default 1.0; fusion: 3.0)")
    parser.add_argument("--depressed-fraction", type=float, default=0.5)
    parser.add_argument("--failed-frame-rate", type=float, default=0.03)
    parser.add_argument("--min-frames", type=int, default=None, help="default 300 (fusion: 96)")
    parser.add_argument("--max-frames", type=int, default=None, help="default 600 (fusion: 128)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--severity", choices=SEVERITY_MODES, default="banded",
                        help="aus: how the planted effect grows with the PHQ-8-like score: banded (by label, a jump "
                        "between 9 and 10; the default demo) or linear (proportional to the score, 0-24)")
    parser.add_argument("--frames-per-subject", type=int, default=40, help="au-faces: labelled frames per subject")
    parser.add_argument("--missing-faces", type=float, default=0.08, help="fusion: share of videos without face crops")
    parser.add_argument("--missing-landmarks", type=float, default=0.05, help="fusion: share of videos without landmarks")
    parser.add_argument("--face-size", type=int, default=32, help="fusion: face crop size in pixels")
    args = parser.parse_args(argv)
    for key, value in (_FUSION_DEFAULTS if args.modality == "fusion" else _DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.min_frames > args.max_frames and args.modality != "au-videos":  # au-videos: --max-frames only
        parser.error("--min-frames must be <= --max-frames")
    if args.severity != "banded" and args.modality != "aus":
        parser.error("--severity applies to --modality aus only")
    start = time.perf_counter()
    if args.modality == "faces":
        from datamodules.synthetic.faces import make_face_demo

        manifest = make_face_demo(args.out, images_per_class=args.subjects, size=96, classes=("happy", "sad", "neutral"), seed=args.seed)
        print(f"wrote {manifest} ({args.subjects} images per class) in {time.perf_counter() - start:.2f} s")
        return 0
    if args.modality == "au-faces":
        from datamodules.synthetic.au_faces import make_au_face_demo

        out = make_au_face_demo(args.out, subjects=args.subjects, frames_per_subject=args.frames_per_subject, seed=args.seed)
        print(f"wrote {out / 'labels'} and {out / 'images'} ({args.subjects} subjects) in {time.perf_counter() - start:.2f} s")
        return 0
    if args.modality == "au-videos":
        from datamodules.synthetic.au_video import make_au_video_demo

        manifest = make_au_video_demo(args.out, subjects=args.subjects, seconds=args.max_frames / args.fps, fps=args.fps,
                                      effect_size=args.effect_size, depressed_fraction=args.depressed_fraction, seed=args.seed)
        print(f"wrote {manifest} and {manifest.parent / 'manifest_openface.csv'} ({args.subjects} videos) "
              f"in {time.perf_counter() - start:.2f} s")
        return 0
    if args.modality == "fusion":
        from datamodules.synthetic.multimodal import generate_multimodal_demo, summarize_multimodal_demo

        table = generate_multimodal_demo(
            args.out, num_subjects=args.subjects, sessions_per_subject=args.sessions,
            frames=(args.min_frames, args.max_frames), fps=args.fps, depressed_fraction=args.depressed_fraction,
            effect_size=args.effect_size, failed_frame_rate=args.failed_frame_rate, missing_faces=args.missing_faces,
            missing_landmarks=args.missing_landmarks, face_size=args.face_size, seed=args.seed,
        )
        print(summarize_multimodal_demo(table, args.out))
        print(f"wrote {Path(args.out) / 'manifest.csv'} in {time.perf_counter() - start:.2f} s")
        return 0
    if args.modality == "landmarks":
        from datamodules.synthetic.landmarks import make_landmark_demo

        manifest = make_landmark_demo(args.out, num_subjects=args.subjects, sessions_per_subject=args.sessions,
                                      frames=(args.min_frames, args.max_frames), effect_size=args.effect_size, seed=args.seed)
        print(f"wrote {manifest} ({args.subjects} subjects) in {time.perf_counter() - start:.2f} s")
        return 0
    table = generate_openface_demo(
        args.out, num_subjects=args.subjects, sessions_per_subject=args.sessions,
        frames=(args.min_frames, args.max_frames), fps=args.fps, depressed_fraction=args.depressed_fraction,
        effect_size=args.effect_size, failed_frame_rate=args.failed_frame_rate, seed=args.seed, severity=args.severity,
    )
    print(summarize_demo(table, args.out))
    print(f"done in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
