"""Per-frame depression scores from a trained per-image or landmark checkpoint on images, videos or a webcam.

``python scripts/predict.py --ckpt runs/x/checkpoints/best.ckpt video.mp4 --out out/``

Every frame (or image): the largest BlazeFace face is cropped (box enlarged by ``--margin``),
resized to the checkpoint DataModule's ``image_size``, scaled to [0, 1] and normalised with its
``mean``/``std`` (or ``normalization``); the model's positive-class probability (binary) or the
top class and its probability (multi-class) is the frame's score. Scores are smoothed with a
NaN-aware moving average (centred for files, trailing for a live webcam). Writes
``predictions.csv`` (``source, frame, time_s, face_found, score, smoothed_score,
predicted_class``) and ``timeline.png`` into ``--out``.

Per-image models (e.g. ``ImageCNN``, ``HybridAttentionNet(temporal=False)`` on face images) are
handled here. Landmark checkpoints (``LandmarkDataModule``) go to :mod:`facedep.inference.predict_landmarks`:
a video (face mesh extracted as ``scripts/extract_landmarks.py`` does) or a landmark file (``.npz``,
OpenFace CSV) is windowed exactly as the DataModule evaluates, window scores are mapped back to
frames and the same ``predictions.csv``/``timeline.png`` are written, plus the video-level score
(no webcam: windows need the whole clip). AU-sequence checkpoints score an AU file (OpenFace 2.x CSV, ...:
:mod:`facedep.inference.predict_aus`; from a video: ``scripts/video_to_depression.py``). Clip models on face images
are refused with a message. Multimodal (fusion) checkpoints (``MultimodalDataModule``) go to
:mod:`facedep.inference.predict_multimodal`: the source is a manifest CSV with ``au_path``/``path``,
``landmarks_path``, ``faces_path`` columns (one prediction per row), or ``-`` with ``--au FILE``, ``--landmarks FILE``,
``--faces DIR_OR_VIDEO`` for one video; each video is aligned and windowed as the checkpoint's DataModule evaluates
(its training statistics restored), and ``predictions.csv`` gets one row per video (views present, mean window
probabilities).

``--explain`` adds ``<out>/explanations/`` (:mod:`facedep.inference.explain_predict`): Grad-CAM overlays on a few
frames (per-image models; a hybrid net's own attention map), region occlusion of the video's landmark windows
(landmark models: the change of the video score when a face region is frozen; no label involved), integrated
gradients per AU and over time (AU-sequence models), or each video's view contribution (multimodal models: the change
of the video score when a view is masked in all its windows, and the attention each view receives).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from facedep.inference import explain_predict, predict_aus, predict_landmarks, predict_multimodal
from facedep.inference.common import IMAGE_EXTENSIONS, CheckpointFile, PredictError, read_checkpoint
from facedep.inference.faces import DEFAULT_MIN_FACE_SCORE, FramePredictor, make_detector, predict_frames
from facedep.inference.frames import image_frames, list_images, open_capture, video_frames
from facedep.inference.image_model import DEFAULT_MARGIN, LoadedModel, load_model
from facedep.inference.live import gui_available, predict_live
from facedep.inference.outputs import Row, default_out, plot_timeline, smooth_scores, write_csv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="predict.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="image file, folder of images, video file, or webcam index (e.g. 0); landmark "
                        "checkpoints: a video or a landmark file (.npz, OpenFace CSV); AU-sequence checkpoints: an AU "
                        "file; multimodal checkpoints: a manifest CSV (au_path or path, landmarks_path, faces_path "
                        "columns; one prediction per row) or - for one video given by --au/--landmarks/--faces")
    parser.add_argument("--ckpt", required=True, help="checkpoint of a per-image, landmark, AU-sequence or multimodal "
                        "model")
    parser.add_argument("--out", default=None, help="output folder (default: runs/predict/<source name>)")
    parser.add_argument("--smooth", type=int, default=15, help="moving-average window in frames (1: off)")
    parser.add_argument("--stride", type=int, default=1, help="process every n-th frame")
    parser.add_argument("--headless", action="store_true", help="webcam: no window")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many processed frames")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch-size", type=int, default=16, help="face crops (landmarks: windows) per model call")
    parser.add_argument("--margin", type=float, default=None,
                        help="enlarge the face box by this fraction per side (default: the DataModule's "
                             f"face_margin, else {DEFAULT_MARGIN})")
    parser.add_argument("--min-face-score", type=float, default=None,
                        help=f"face detector threshold (default {DEFAULT_MIN_FACE_SCORE}: BlazeFace gives up to ~0.6 to "
                             "non-faces in real videos; landmark checkpoints: 0.5, as scripts/extract_landmarks.py)")
    parser.add_argument("--explain", action="store_true",
                        help="also write <out>/explanations/: Grad-CAM overlays on up to 8 frames with a face (image "
                             "models), the change of the video score when each face region is frozen (landmark "
                             "models), integrated gradients per AU and over time (AU-sequence models on an AU file), "
                             "or per video the change of its score when each view is masked and the attention each "
                             "view receives (multimodal models)")
    views = parser.add_argument_group("multimodal checkpoints (source -: one video)")
    views.add_argument("--au", default=None, metavar="FILE",
                       help="the video's AU file (OpenFace 2.x CSV, OpenDBM, DAIC-WOZ)")
    views.add_argument("--landmarks", default=None, metavar="FILE",
                       help="the video's landmark file (.npz, OpenFace CSV, DAIC-WOZ, OpenDBM)")
    views.add_argument("--faces", default=None, metavar="DIR_OR_VIDEO",
                       help="the video's face crops: a folder of aligned crops, or the video itself")
    return parser


def refuse_regressor(checkpoint: CheckpointFile) -> None:
    """predict.py writes class probabilities: a regression checkpoint (``SequenceRegressor``: by its class path,
    or, hand-made, by its target-scale buffers) is refused with what to use instead."""
    model_class = str(checkpoint.hparams.get("_class_path", ""))
    state = checkpoint.data.get("state_dict") or {}
    if model_class.rsplit(".", 1)[-1] == "SequenceRegressor" or (not model_class and "target_mean" in state):
        raise PredictError(f"{checkpoint.path} is a regression checkpoint ({model_class or 'SequenceRegressor'}); "
                           "predict.py scores classifiers only. "
                           "Score it with its DataModule: trainer.predict(model, datamodule) (SequenceRegressor."
                           "predict_step gives each window's prediction in target units, e.g. the PHQ-8 score)")


def run(args: argparse.Namespace) -> int:
    """Predict, write outputs, print a summary; raises PredictError for user errors."""
    if args.smooth < 1 or args.stride < 1 or args.batch_size < 1:
        raise PredictError("--smooth, --stride and --batch-size must be >= 1")
    checkpoint = read_checkpoint(args.ckpt)  # the only read of the file
    refuse_regressor(checkpoint)
    if predict_landmarks.is_landmark_datamodule(checkpoint.dm_hparams):
        return predict_landmarks.run(args, checkpoint)
    if predict_multimodal.is_multimodal_datamodule(checkpoint.dm_hparams):
        return predict_multimodal.run(args, checkpoint)
    given = [f"--{name}" for name in ("au", "landmarks", "faces") if getattr(args, name, None)]
    if given:
        raise PredictError(f"{' '.join(given)}: for multimodal checkpoints only; {checkpoint.path} was trained on "
                           f"{checkpoint.dm_hparams.get('_class_path') or 'another DataModule'}")
    if predict_aus.is_au_sequence_datamodule(checkpoint.dm_hparams):
        return predict_aus.run(args, checkpoint)
    source = args.source
    webcam = source.isdigit() and not Path(source).exists()
    path = Path(source)
    if not webcam and not path.exists():
        raise PredictError(f"source {source} not found")
    loaded = load_model(checkpoint, args.device, args.margin)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    detector = make_detector(DEFAULT_MIN_FACE_SCORE if args.min_face_score is None else args.min_face_score)
    start = time.perf_counter()
    if webcam:
        show = not args.headless and gui_available()
        if not args.headless and not show:
            print("note: OpenCV has no GUI here (e.g. opencv-python-headless, or no display): running headless",
                  file=sys.stderr)
        capture = open_capture(int(source))
        try:
            rows = predict_live(capture, f"webcam:{source}", loaded, detector, args.smooth, show, args.stride,
                                args.max_frames)
        finally:
            capture.release()
    else:
        if path.is_dir():
            images = list_images(path)
            if not images:
                raise PredictError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            frames = image_frames(images, strict=False)
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            frames = image_frames([path], strict=True)
        else:
            capture = open_capture(str(path))
            frames = video_frames(capture, str(path))
        predictor = FramePredictor(loaded, detector, args.batch_size)
        rows = predict_frames(frames, predictor, args.stride, args.max_frames)
        smoothed = smooth_scores([r.score for r in rows], args.smooth, centered=True)
        for row, value in zip(rows, smoothed):
            row.smoothed_score = float(value)
    elapsed = time.perf_counter() - start
    code = finish(rows, args, loaded, source, elapsed)
    if args.explain:
        image = path.suffix.lower() in IMAGE_EXTENSIONS
        kind = "webcam" if webcam else "folder" if path.is_dir() else "image" if image else "video"
        out = Path(args.out) if args.out else default_out(source)
        explain_predict.announce(lambda: explain_predict.explain_image_rows(loaded, rows, source, kind, out))
    return code


def finish(rows: list[Row], args: argparse.Namespace, loaded: LoadedModel, source: str, elapsed: float) -> int:
    """Write CSV + plot and print the summary (faces found, mean score, fps)."""
    out = Path(args.out) if args.out else default_out(source)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PredictError(f"cannot create output folder {out}: {exc}") from exc
    write_csv(rows, out / "predictions.csv")
    plot_timeline(rows, out / "timeline.png", loaded.threshold if loaded.binary else None, title=Path(source).name)
    faces = sum(r.face_found for r in rows)
    if rows and faces == 0:
        print(f"warning: no face found in any of {len(rows)} frames", file=sys.stderr)
    scores = np.array([r.score for r in rows if r.face_found], dtype=float)
    summary = f"mean score {scores.mean():.3f}" if scores.size else "no scores"
    fps = len(rows) / elapsed if elapsed > 0 else float("inf")
    print(f"{len(rows)} frames, face in {faces}, {summary}; wrote {out / 'predictions.csv'} and {out / 'timeline.png'}")
    print(f"fps: {fps:.1f} ({len(rows)} frames in {elapsed:.2f} s, device {loaded.device})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 on a user error)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except PredictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
