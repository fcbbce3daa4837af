"""``predict.py --explain``: explanations of one unlabelled source, written into ``<out>/explanations/``.

- **Landmark checkpoints**: region occlusion on the video's own windows
  (:func:`facedep.explanations.region_importance.video_region_occlusion`): each face region frozen at its mean
  position over the video (shape kept, motion removed), windows rendered as the checkpoint's DataModule renders them;
  ``region_occlusion.csv`` / ``.png`` give the change of the video score (mean window P(positive class); multi-class:
  P(the video's class)) and the mean absolute change of the window scores. No label is involved: this says what the
  score of *this* video rests on, not whether it is right.
- **Per-image checkpoints**: Grad-CAM (a ``HybridAttentionNet``: its own attention map) on up to ``count`` frames
  with a face, evenly spread over the source (:mod:`facedep.explanations.grad_cam`): ``grad_cam.png`` (overlays) and
  ``grad_cam.npz`` (``maps``, ``images``: the face crops, ``frames``, ``scores``). A webcam is not re-read: skipped.
- **AU-sequence checkpoints** on an AU file: integrated gradients per AU and over time
  (:mod:`facedep.inference.predict_aus`).
- **Multimodal (fusion) checkpoints**: per video, the change of its score when each view is masked in all its windows
  and the attention each view receives (:mod:`facedep.inference.predict_multimodal`: ``view_contribution.csv/.png``).

Every call also writes ``explanations.json`` (method, what was explained) and returns the files written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from datamodules.image_crops import crop_box
from facedep.explanations.errors import Unsupported
from facedep.explanations.grad_cam import DEFAULT_FACES, explain_faces
from facedep.explanations.plots import plot_channel_importance, plot_face_maps
from facedep.explanations.region_importance import VIDEO_METHOD, video_region_occlusion
from facedep.inference.frames import open_capture, read_image
from facedep.inference.image_model import LoadedModel
from facedep.inference.outputs import Row

FOLDER = "explanations"


def announce(what: Callable[[], list[Path]]) -> list[Path]:
    """Run one ``--explain`` step and print the files it wrote, or a one-line note (stderr) when there is nothing to
    explain (:class:`Unsupported`: no window or face, a landmark set without regions, a webcam)."""
    try:
        written = what()
    except Unsupported as exc:
        print(f"note: --explain skipped: {exc}", file=sys.stderr)
        return []
    print(f"explanations: {', '.join(str(p) for p in written)}")
    return written


def _folder(out: Path) -> Path:
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def explain_landmark_windows(windows: object, score: Callable[[object], np.ndarray], class_names: Sequence[str],
                             binary: bool, out: Path, source: str = "") -> list[Path]:
    """Region occlusion of one video's windows (``windows``: its evaluation ``WindowDataset``; ``score(windows) ->
    (N, K)`` probabilities); raises :class:`Unsupported` without windows or regions."""
    if not len(windows):
        raise Unsupported("no window to explain (no frame with usable landmarks)")
    probs = np.asarray(score(windows))
    class_index = 1 if binary else int(probs.mean(axis=0).argmax())
    table = video_region_occlusion(score, windows, class_index)
    folder = _folder(out)
    paths = [folder / "region_occlusion.csv", folder / "region_occlusion.png", folder / "explanations.json"]
    table.to_csv(paths[0], index=False)
    name = class_names[class_index] if class_index < len(class_names) else str(class_index)
    plot_channel_importance(table, paths[1], title=f"Region occlusion, {Path(source).name or 'video'}",
                            spread="none: one video", label="region",
                            panels=[("change", "", f"change in video P({name}) when frozen"),
                                    ("mean_abs_window_change", "", "mean |change| of window P")])
    paths[2].write_text(json.dumps({"kind": "landmarks", "region_occlusion": {
        "method": VIDEO_METHOD, "class": name, "windows": len(windows), "video_score": float(probs[:, class_index].mean()),
        "regions": dict(zip(table["region"], (int(p) for p in table["points"])))}}, indent=1))
    return paths


def even_choice(count_available: int, count: int) -> list[int]:
    """Up to ``count`` positions evenly spread over ``count_available`` (first and last included).

    >>> even_choice(10, 4), even_choice(2, 8)
    ([0, 3, 6, 9], [0, 1])
    """
    if count_available <= 0:
        return []
    return sorted({int(round(v)) for v in np.linspace(0, count_available - 1, min(count, count_available))})


def _frames_of(rows: Sequence[Row], source: str, kind: str) -> list[np.ndarray | None]:
    """RGB pixels of the rows' frames: re-read from the video (one pass to the last one) or from their image files."""
    if kind != "video":
        return [read_image(Path(r.source)) for r in rows]
    wanted = {r.frame: i for i, r in enumerate(rows)}
    found: list[np.ndarray | None] = [None] * len(rows)
    capture = open_capture(source)
    try:
        index, last = 0, max(wanted)
        while index <= last:
            ok, bgr = capture.read()
            if not ok:
                break
            if index in wanted:
                found[wanted[index]] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    return found


def explain_image_rows(loaded: LoadedModel, rows: Sequence[Row], source: str, kind: str, out: Path,
                       count: int = DEFAULT_FACES) -> list[Path]:
    """Grad-CAM (or the hybrid net's attention) on up to ``count`` frames with a face, evenly spread; ``kind``:
    ``video``, ``image`` or ``folder`` (a webcam is refused with :class:`Unsupported`)."""
    if kind == "webcam":
        raise Unsupported("a webcam's frames are not kept: record a video and pass the file")
    with_face = [r for r in rows if r.face_found and r.box is not None]
    chosen = [with_face[i] for i in even_choice(len(with_face), count)]
    if not chosen:
        raise Unsupported("no frame with a face to explain")
    prep = loaded.preprocessing
    crops, kept = [], []
    for row, rgb in zip(chosen, _frames_of(chosen, source, kind)):
        crop = crop_box(rgb, row.box, prep.margin) if rgb is not None else None
        if crop is None:
            continue
        height, width = prep.image_size
        shrink = height * width < crop.shape[0] * crop.shape[1]
        crops.append(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR))
        kept.append(row)
    if not crops:
        raise Unsupported("the chosen frames could not be read again")
    images = np.stack(crops).astype(np.uint8)
    maps, scores, method, name = explain_faces(loaded.model, images, prep.mean, prep.std)
    last = loaded.class_names[-1] if loaded.class_names else "positive"
    titles = [f"frame {r.frame}" + (f" ({r.time_s:.1f} s)" if r.time_s is not None else "") + f", P({last})={s:.2f}"
              for r, s in zip(kept, scores)]
    folder = _folder(out)
    paths = [folder / "grad_cam.png", folder / "grad_cam.npz", folder / "explanations.json"]
    what = "attention" if name == "attention" else "Grad-CAM"
    plot_face_maps(images, maps, titles, paths[0], title=f"{what} on {len(kept)} frames of {Path(source).name}")
    np.savez_compressed(paths[1], maps=maps.astype(np.float16), images=images, frames=np.array([r.frame for r in kept]),
                        scores=scores)
    paths[2].write_text(json.dumps({"kind": "images", "grad_cam": {
        "method": method, "map": name, "frames": [int(r.frame) for r in kept],
        "sources": sorted({Path(r.source).name for r in kept})}}, indent=1))
    return paths
