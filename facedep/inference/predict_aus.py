"""``predict.py`` on an AU-sequence checkpoint: score one AU file (OpenFace 2.x CSV, OpenDBM, DAIC-WOZ) and explain it.

The file is windowed and scored as the checkpoint's ``AUSequenceDataModule`` evaluates
(:func:`facedep.inference.video_pipeline.predict_au_csv`); ``predictions.csv`` gets one row (the video's mean window
probabilities). With ``--explain``, ``<out>/explanations/`` gets integrated gradients (zero baseline in the
standardised space, the positive class's logit; multi-class: the predicted class is not singled out, the last class's
logit is attributed as for training runs) per frame and AU (``temporal_attribution.csv/.png``) and their sum over the
video per AU (``au_attribution.csv/.png``: which AUs pushed this video's score up or down). No label is involved.
Videos go through ``scripts/video_to_depression.py`` (AUs from the video first).

Example:
    python scripts/predict.py --ckpt runs/demo/fold0/checkpoints/best.ckpt demo_data/openface/sub001_session1.csv --explain
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.au_loading import load_au_table, valid_frames
from datamodules.cache import ArrayCache
from datamodules.window_dataset import WindowDataset
from facedep.inference.common import CheckpointFile, PredictError
from facedep.inference.outputs import default_out
from facedep.inference.video_pipeline import LoadedClassifier, load_sequence_classifier, predict_au_csv

FOLDER = "explanations"
AU_FILE_SUFFIXES: tuple[str, ...] = (".csv", ".txt")
"""What the AU readers take: OpenFace / OpenDBM CSVs, DAIC-WOZ ``*_CLNF_AUs.txt``."""


def is_au_sequence_datamodule(dm_hparams: dict[str, Any]) -> bool:
    """Whether DataModule hyper-parameters come from an ``AUSequenceDataModule`` (by class path).

    >>> is_au_sequence_datamodule({"_class_path": "datamodules.AUSequenceDataModule"}), is_au_sequence_datamodule({})
    (True, False)
    """
    return str(dm_hparams.get("_class_path", "")).rsplit(".", 1)[-1] == "AUSequenceDataModule"


def video_windows(classifier: LoadedClassifier, path: str | Path) -> WindowDataset:
    """The evaluation windows of one AU file, standardised with the checkpoint's scaler (as :func:`predict_au_csv`)."""
    table = load_au_table(str(path), ArrayCache(None), classifier.file_format)
    values, _, _ = valid_frames(table, classifier.channels, classifier.min_confidence)
    if len(values) == 0:
        from facedep.explanations.errors import Unsupported

        raise Unsupported(f"{path}: no usable frame (all failed, low confidence or NaN)")
    return WindowDataset([classifier.scaler.transform(values)], [0], [0], [0], classifier.window, classifier.eval_stride)


def explain_au_file(classifier: LoadedClassifier, path: str | Path, out: Path) -> list[Path]:
    """Integrated gradients of one AU file's windows, per frame and AU and summed per AU, into ``out/explanations/``."""
    from facedep.explanations.plots import plot_channel_importance, plot_temporal_attribution
    from facedep.explanations.temporal_attribution import METHOD, temporal_attribution

    windows = video_windows(classifier, path)
    attribution = temporal_attribution(classifier.model, windows, classifier.channels, sequence=0)
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "temporal_attribution.csv", folder / "temporal_attribution.png", folder / "au_attribution.csv",
             folder / "au_attribution.png", folder / "explanations.json"]
    attribution.frame().to_csv(paths[0], index=False)
    target = "positive-class logit" if classifier.binary else "last class's logit"
    plot_temporal_attribution(attribution.values, classifier.channels, paths[1],
                              title=f"Integrated gradients of the {target}, {Path(path).name}")
    totals = np.nansum(attribution.values, axis=0)
    table = pd.DataFrame({"channel": classifier.channels, "attribution": totals,
                          "abs_attribution": np.nansum(np.abs(attribution.values), axis=0)})
    table = table.sort_values("attribution", ascending=False).reset_index(drop=True)
    table.to_csv(paths[2], index=False)
    plot_channel_importance(table, paths[3], title=f"AU attribution, {Path(path).name}", spread="none: one video",
                            panels=[("attribution", "", f"summed integrated gradients ({target})"),
                                    ("abs_attribution", "", "summed |integrated gradients|")])
    paths[4].write_text(json.dumps({"kind": "aus", "temporal_attribution": {
        "method": METHOD, "target": target, "frames": int(len(attribution.values)), "windows": len(windows),
        "source": str(path)}}, indent=1))
    return paths


def run(args: argparse.Namespace, checkpoint: CheckpointFile) -> int:
    """Score ``args.source`` (an AU file) with an AU-sequence checkpoint; ``--explain`` adds the attributions."""
    source = Path(args.source)
    if not source.is_file() or source.suffix.lower() not in AU_FILE_SUFFIXES:
        raise PredictError(f"{args.source}: an AU-sequence checkpoint scores an AU file (OpenFace 2.x CSV, OpenDBM, "
                           "DAIC-WOZ); for a video use scripts/video_to_depression.py --au-detector ... --classifier ...")
    classifier = load_sequence_classifier(checkpoint, args.device)
    try:
        row = predict_au_csv(classifier, source, args.batch_size)
    except ValueError as exc:  # DataFormatError: not an AU file
        raise PredictError(str(exc)) from exc
    out = Path(args.out) if args.out else default_out(str(source))
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([row]).to_csv(out / "predictions.csv", index=False)
    print(f"{source.name}: {row['windows']} windows of {row['frames_used']}/{row['frames']} usable frames, "
          f"score {row['score']:.3f} ({row['class_name'] or 'n/a'}); wrote {out / 'predictions.csv'}")
    if args.explain:
        from facedep.inference.explain_predict import announce

        announce(lambda: explain_au_file(classifier, source, out))
    return 0
