"""``predict.py`` on a multimodal (fusion) checkpoint: score videos from their AU file, landmarks and face crops.

``predict.py`` sends checkpoints whose DataModule is a ``MultimodalDataModule`` here (``MultimodalClassifier`` or
``MultimodalRegressor`` with ``FusionNet``). The source is

* a manifest CSV with one row per video and the view columns of a training manifest: ``au_path`` (or ``path``
  without an ``au_path`` column), ``landmarks_path``, ``faces_path`` (a folder of aligned crops or a video); relative
  paths are relative to the manifest's folder, a blank cell means the video lacks that view, no label is needed
  (``subject_id`` and ``session`` are copied to the output when present); a view the checkpoint uses needs its
  column (blank cells are fine);
* or ``-``: one video from ``--au FILE``, ``--landmarks FILE``, ``--faces DIR_OR_VIDEO`` (any subset).

Each video is read, aligned and windowed by the checkpoint's own ``MultimodalDataModule`` (rebuilt from its
``datamodule_hyper_parameters``: the same views, channels, readers, ``window``, ``eval_stride``, ``face_size``,
``face_frames``, ``min_confidence``, ``min_view_coverage``, ``align_on``; the statistics fitted on the training
subjects restored from its saved state; :meth:`~datamodules.multimodal.MultimodalDataModule.video_windows`), exactly as
validation and test windows are built. A checkpoint without that state is refused. A view the checkpoint uses but the
video lacks is absent in every window (``present`` False, zeros; the model never sees it) and listed in
``views_missing``; a listed file that does not exist or cannot be read is an error naming it (nothing is skipped).

``<out>/predictions.csv``, one row per video: ``video`` (the name of its first view file), ``frames`` (its timeline:
the union of its views' frames), ``windows``, ``views_present`` (views present in at least one window, e.g.
``aus,faces``), ``views_missing`` (views of the checkpoint without a file), ``present_<view>`` (share of the windows
where the view is present), ``score``, ``predicted_class``, ``class_name``, ``p_<class>``. Classifiers: ``p_<class>``
is the mean window probability (as ``lightning_modules/aggregation.py`` aggregates a video in test), ``score`` the
positive class's (binary; decided with the model's ``decision_threshold``) or the largest one (multi-class).
Regressors (``MultimodalRegressor``): ``score`` is the mean window prediction in target units (e.g. the PHQ-8 score);
``predicted_class`` and ``class_name`` stay empty and there are no ``p_`` columns. A video without any window (no
view covers ``min_view_coverage`` of one) gets ``windows`` 0 and no score.

``--explain`` writes ``<out>/explanations/`` (no label involved): ``view_contribution.csv`` (one row per video and
view: ``video_score``, ``masked_score``, ``change`` = masked - intact video score when the view is masked in all the
video's windows, exactly as the data marks a missing view; ``mean_abs_window_change``; ``windows_only_view``: windows
whose only present view it is, which then carry no view and get the no-information output: uniform class
probabilities, or a regressor's training-mean target, as :mod:`facedep.explanations.fusion_inputs` does;
``attention_received``: mean over the video's windows where the view is present of the attention the present views
give it, ``FusionNet.last_attention``), ``view_contribution.png`` (videos x views) and ``explanations.json``. A view
present in no window of the video changes no input when masked: its change is exactly 0. The video score is
P(positive class) for binary classifiers, P(the video's predicted class) for multi-class ones, the prediction in
target units for regressors.

Example:
    python scripts/predict.py --ckpt runs/fusion-demo/checkpoints/best.ckpt demo_fusion/manifest.csv --out out/ --explain
    python scripts/predict.py --ckpt best.ckpt - --au v.csv --landmarks v.npz --faces v_aligned/ --out out/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from facedep.inference.common import CheckpointFile, PredictError
from facedep.inference.explain_multimodal import explain_video, write_explanations
from facedep.inference.explain_predict import announce
from facedep.inference.fusion_videos import (  # noqa: F401 (re-exported: the fusion prediction API)
    CLI_OPTIONS, LoadedFusionModel, VideoPrediction, VideoSource, check_files_exist, is_multimodal_datamodule,
    load_fusion_model, manifest_sources, option_sources, predict_video,
)
from facedep.inference.outputs import default_out


# ---- command line -----------------------------------------------------------------------------
def sources_of(args: argparse.Namespace, views: list[str]) -> list[VideoSource]:
    """The videos ``args`` names: a manifest CSV, or ``-`` with the view options."""
    if args.source == "-":
        return option_sources(args, views)
    given = [f"--{o}" for o in CLI_OPTIONS.values() if getattr(args, o, None)]
    if given:
        raise PredictError(f"{' '.join(given)} go with the source '-' (one video); {args.source} is a manifest: list "
                           "the files in its columns instead")
    path = Path(args.source)
    if not path.is_file():
        raise PredictError(f"source {args.source} not found (a multimodal checkpoint takes a manifest CSV, or '-' with "
                           "--au/--landmarks/--faces)")
    return manifest_sources(path, views)


def _summary(prediction: VideoPrediction) -> tuple[str, bool]:
    """The line printed for a video, and whether it is a warning (no window)."""
    p, name = prediction, prediction.source.name
    missing = f"; lacks {', '.join(p.source.missing)} (absent in every window)" if p.source.missing else ""
    if not len(p.windows):
        return f"warning: {name}: no window with a present view ({p.frames} frames){missing}", True
    decided = f" ({p.row['class_name']})" if p.row["class_name"] != "" else ""
    return (f"{name}: {len(p.windows)} windows, views {p.row['views_present']}{missing}; "
            f"score {p.row['score']:.3f}{decided}"), False


def run(args: argparse.Namespace, checkpoint: CheckpointFile | None = None) -> int:
    """Score the videos of ``args.source`` with a fusion checkpoint; ``--explain`` adds the view contribution.

    Videos are read, scored (and explained) one at a time; only their rows and tables are kept."""
    loaded = load_fusion_model(checkpoint or args.ckpt, getattr(args, "device", "cpu"))
    sources = sources_of(args, loaded.views)
    check_files_exist(sources)
    batch_size = int(getattr(args, "batch_size", 16))
    out = Path(args.out) if args.out else default_out(sources[0].name if args.source == "-" else args.source)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PredictError(f"cannot create output folder {out}: {exc}") from exc
    loader = loaded.datamodule.view_loader()
    rows, explained = [], []
    for source in sources:
        prediction = predict_video(loaded, source, batch_size, loader)
        rows.append(prediction.row)
        line, warning = _summary(prediction)
        print(line, file=sys.stderr if warning else sys.stdout)
        if args.explain:
            explained.append(explain_video(loaded, prediction))
    pd.DataFrame(rows).to_csv(out / "predictions.csv", index=False)
    print(f"{len(rows)} video(s); wrote {out / 'predictions.csv'}")
    if args.explain:
        announce(lambda: write_explanations(loaded, explained, out))
    return 0
