"""End-to-end demo: face images -> AU detector -> AU CSVs from videos -> depression classifier.

``python scripts/demo_au_pipeline.py [--out runs/au-pipeline-demo]`` (a few minutes on 2 CPU cores):

1. drawn faces in the Hugging-Rain-Man layout (:func:`~datamodules.synthetic.au_faces.make_au_face_demo`)
   -> frame manifest -> an ``AUDetector`` trained with ``configs/au/detector_demo.yaml`` (one
   subject-level split); its test per-AU F1;
2. drawn-face videos from simulated OpenFace AU tables with a planted depression effect
   (:func:`~datamodules.synthetic.au_video.make_au_video_demo`) -> the bridge on every video
   (``--faces whole``: the detector was trained on whole drawn frames; BlazeFace does find these faces,
   scores ~0.85-0.9, but a crop would frame them unlike the training images) -> a manifest of the
   bridged CSVs; the presence agreement (F1) of bridged and ground-truth ``_c`` columns per AU;
3. subject-level k-fold CV of ``configs/au/bridge_demo.yaml`` on the bridged CSVs and, for
   comparison, on the ground-truth CSVs (same subjects, same folds, same channels);
4. the one-command prediction (``scripts/video_to_depression.py``) on one held-out subject's video
   (in no fold) with fold 0's classifier.

Writes ``<out>/summary.json`` and prints a summary.

Example:
    >>> summary = run_demo(DemoSettings(out="/tmp/au-demo", video_subjects=12, folds=3))  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.io.openface import read_openface_csv
from datamodules.manifest import write_manifest
from facedep.inference.au_bridge import bridge_videos, load_au_detector

ROOT = Path(__file__).resolve().parents[2]
DETECTOR_CONFIG = ROOT / "configs" / "au" / "detector_demo.yaml"
CLASSIFIER_CONFIG = ROOT / "configs" / "au" / "bridge_demo.yaml"


@dataclass
class DemoSettings:
    """Sizes of the demo (defaults: a few minutes on 2 cores)."""

    out: str = "runs/au-pipeline-demo"
    face_subjects: int = 60
    face_frames: int = 40
    detector_epochs: int = 20
    video_subjects: int = 32
    seconds: float = 16.0
    fps: float = 15.0
    effect_size: float = 1.5
    folds: int = 5
    cv_epochs: int | None = None
    faces: str = "whole"
    wandb: str = "disabled"
    seed: int = 0


def _common(settings: DemoSettings) -> list[str]:
    return ["--run.output_dir", str(Path(settings.out) / "runs"), "--tracking.wandb", settings.wandb,
            "--trainer.enable_progress_bar", "false"]


def train_detector(settings: DemoSettings) -> dict[str, Any]:
    """Step 1: HRM-layout faces -> frame manifest -> AUDetector (one split); checkpoint and test per-AU F1."""
    from datamodules.au_manifest import build_au_manifest
    from datamodules.synthetic.au_faces import make_au_face_demo
    from facedep.experiment.train import run_training

    root = make_au_face_demo(Path(settings.out) / "hrm", subjects=settings.face_subjects,
                             frames_per_subject=settings.face_frames, seed=settings.seed)
    frames = root / "frames.csv"
    build_au_manifest("hrm", root, frames)
    metrics = run_training(["--config", str(DETECTOR_CONFIG), "--data.init_args.manifest", str(frames),
                            "--run.name", "au-detector", "--trainer.max_epochs", str(settings.detector_epochs),
                            *_common(settings)])
    per_au = pd.read_csv(Path(metrics["run_dir"]) / "metrics_test_per_au.csv")
    f1 = dict(zip(per_au["au"], per_au["f1"].round(3)))
    return {"checkpoint": metrics["best_checkpoint"], "mean_f1": f1.pop("mean"), "per_au_f1": f1,
            "seconds": metrics["total_seconds"]}


def presence_agreement(bridged: list[str], truth: list[str]) -> dict[str, float]:
    """F1 of the bridged ``_c`` against the ground-truth ``_c`` per AU, over all frames of all videos."""
    from sklearn.metrics import f1_score

    pairs: dict[str, list[np.ndarray]] = {}
    for b, t in zip(bridged, truth):
        got, want = read_openface_csv(b), read_openface_csv(t)
        common = np.intersect1d(got.frame, want.frame)
        for column in (c for c in got.available if c.endswith("_c")):
            g = got.values[np.isin(got.frame, common), got.channel_index([column])[0]]
            w = want.values[np.isin(want.frame, common), want.channel_index([column])[0]]
            ok = ~np.isnan(g) & ~np.isnan(w)
            pairs.setdefault(column, []).append(np.stack([w[ok], g[ok]]))
    out = {}
    for column, parts in pairs.items():
        both = np.concatenate(parts, axis=1)
        out[column] = round(float(f1_score(both[0], both[1], zero_division=0.0)), 3)
    return out


def bridge_demo_videos(settings: DemoSettings, checkpoint: str) -> dict[str, Any]:
    """Step 2: render videos, bridge them, write manifests (bridged and ground truth) without the held-out subject."""
    from datamodules.synthetic.au_video import make_au_video_demo

    videos_dir = Path(settings.out) / "au_videos"
    manifest = pd.read_csv(make_au_video_demo(videos_dir, subjects=settings.video_subjects, seconds=settings.seconds,
                                              fps=settings.fps, effect_size=settings.effect_size, seed=settings.seed),
                           dtype={"subject_id": str})
    truth = pd.read_csv(videos_dir / "manifest_openface.csv", dtype={"subject_id": str})
    loaded = load_au_detector(checkpoint)
    started = time.perf_counter()
    summaries = bridge_videos(loaded, [str(videos_dir / p) for p in manifest["path"]], Path(settings.out) / "bridged",
                              settings.faces, verbose=False)
    seconds = time.perf_counter() - started
    bridged = manifest.assign(path=[s["csv"] for s in summaries])
    held_out = bridged.iloc[-1]
    keep = bridged["subject_id"] != held_out["subject_id"]
    paths = {"bridged": Path(settings.out) / "bridged" / "manifest.csv", "truth": videos_dir / "manifest_truth_cv.csv"}
    write_manifest(bridged[keep], paths["bridged"])
    write_manifest(truth[keep].assign(path=[str(videos_dir / p) for p in truth.loc[keep, "path"]]), paths["truth"])
    frames = sum(s["frames"] for s in summaries)
    return {"manifests": {k: str(v) for k, v in paths.items()}, "videos": len(summaries), "frames": frames,
            "faces": sum(s["faces"] for s in summaries), "seconds": round(seconds, 1), "fps": round(frames / seconds, 1),
            "presence_f1_vs_truth": presence_agreement(list(bridged["path"]), [str(videos_dir / p) for p in truth["path"]]),
            "held_out": {"subject_id": held_out["subject_id"], "label": int(held_out["label"]),
                         "video": str(videos_dir / manifest.iloc[-1]["path"])}}


def run_cv(settings: DemoSettings, manifest: str, name: str) -> dict[str, Any]:
    """Step 3: subject-level k-fold CV of configs/au/bridge_demo.yaml on ``manifest``; subject macro-F1."""
    from facedep.experiment.cross_validate import cross_validate

    overrides = ["--data.init_args.manifest", manifest, "--run.name", name, *_common(settings)]
    if settings.cv_epochs:
        overrides += ["--trainer.max_epochs", str(settings.cv_epochs)]
    summary = cross_validate(str(CLASSIFIER_CONFIG), settings.folds, overrides, n_boot=200)
    subject = summary["levels"]["subject"]
    macro = subject["metrics"]["macro_f1"]
    pooled = subject["pooled"]["metrics"]["macro_f1"]
    return {"macro_f1_mean": macro["mean"], "macro_f1_std": macro["std"], "pooled_macro_f1": pooled["value"],
            "pooled_ci": [pooled.get("ci_low"), pooled.get("ci_high")], "seconds": summary["seconds"],
            "fold0_run": summary["runs"][0]}


def predict_held_out(settings: DemoSettings, detector: str, fold0_run: str, video: str) -> dict[str, Any]:
    """Step 4: ``scripts/video_to_depression.py`` on the held-out video with fold 0's best classifier."""
    from facedep.inference.video_pipeline import main as one_command

    classifier = json.loads((Path(fold0_run) / "metrics.json").read_text())["best_checkpoint"]
    out = str(Path(settings.out) / "predict")
    args = ["--au-detector", detector, "--classifier", classifier, video, "--out", out, "--faces", settings.faces]
    code = one_command(args)
    row = pd.read_csv(Path(out) / "predictions.csv").iloc[0].to_dict()
    return {"command": "python scripts/video_to_depression.py " + " ".join(args), "exit_code": code,
            "prediction": {k: row.get(k) for k in ("video", "windows", "score", "class_name")}}


def run_demo(settings: DemoSettings) -> dict[str, Any]:
    """All four steps; writes and returns the summary."""
    started = time.perf_counter()
    settings.out = str(Path(settings.out).resolve())  # manifests and checkpoints get absolute paths
    summary: dict[str, Any] = {"settings": asdict(settings)}
    summary["detector"] = train_detector(settings)
    summary["bridge"] = bridge_demo_videos(settings, summary["detector"]["checkpoint"])
    summary["cv"] = {kind: run_cv(settings, summary["bridge"]["manifests"][kind], f"{kind}-cv")
                     for kind in ("bridged", "truth")}
    held = summary["bridge"]["held_out"]
    summary["predict"] = predict_held_out(settings, summary["detector"]["checkpoint"],
                                          summary["cv"]["bridged"]["fold0_run"], held["video"])
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    Path(settings.out, "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary)
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    """A short plain-text summary of the demo."""
    det, bridge, cv, pred = summary["detector"], summary["bridge"], summary["cv"], summary["predict"]
    print("\n==== images -> AUs -> depression: summary ====")
    print(f"1. AU detector (test subjects): mean F1 {det['mean_f1']:.3f} ({det['seconds']:.0f} s)")
    print("   per AU: " + ", ".join(f"{k} {v:.2f}" for k, v in det["per_au_f1"].items()))
    print(f"2. bridge: {bridge['videos']} videos, {bridge['frames']} frames, face in {bridge['faces']}, "
          f"{bridge['seconds']:.1f} s ({bridge['fps']:.0f} fps)")
    print("   presence F1 vs ground truth: " + ", ".join(f"{k} {v:.2f}" for k, v in bridge["presence_f1_vs_truth"].items()))
    for kind, label in (("bridged", "bridged CSVs"), ("truth", "ground-truth CSVs")):
        c = cv[kind]
        print(f"3. CV subject macro-F1 on {label}: {c['macro_f1_mean']:.3f} ± {c['macro_f1_std']:.3f} "
              f"(pooled {c['pooled_macro_f1']:.3f}) ({c['seconds']:.0f} s)")
    held = bridge["held_out"]
    print(f"4. held-out {held['subject_id']} (label {held['label']}): {pred['prediction']}")
    print(f"   command: {pred['command']}")
    print(f"wall time {summary['wall_seconds']:.0f} s; summary.json in {summary['settings']['out']}")


def main(argv: list[str] | None = None) -> int:
    """``demo_au_pipeline.py``: the sizes are flags (``--help``)."""
    defaults = DemoSettings()
    parser = argparse.ArgumentParser(prog="demo_au_pipeline.py", description=__doc__.split("\n\n")[0])
    for name, value in asdict(defaults).items():
        kind = (lambda v: None if v in ("", "none") else int(v)) if name == "cv_epochs" else type(value)
        choices = {"faces": ("whole", "detect"), "wandb": ("disabled", "offline", "online", "auto")}.get(name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value, choices=choices)
    args = parser.parse_args(argv)
    run_demo(DemoSettings(**vars(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
