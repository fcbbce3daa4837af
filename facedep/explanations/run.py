"""What ``--run.explain true`` writes after testing: ``<run_dir>/explanations/``, by kind of run.

- **AU sequences** (``SequenceClassifier`` / ``SequenceRegressor`` on ``AUSequenceDataModule``):
  ``channel_importance.csv`` / ``.png`` (permutation importance of every AU) and ``temporal_attribution.csv`` /
  ``.png`` (integrated gradients per frame and AU for the first test video);
- **landmarks** (``LandmarkDataModule``, pseudo-images): ``region_importance.csv`` / ``.png``, permutation importance
  of the face regions on the points before rendering (:mod:`facedep.explanations.region_importance`);
- **face images** (``FaceImageDataModule`` with an image CNN or ``HybridAttentionNet``): ``grad_cam.png`` (overlays on
  up to 8 test faces, one per subject) and ``grad_cam.npz`` (:mod:`facedep.explanations.grad_cam`);
- **fusion** (a DataModule with ``views`` whose test set gives ``batch_of``): ``view_contribution.csv`` / ``.png``
  and, when the test windows fit in memory, ``channel_importance`` (``aus`` view) and ``region_importance``
  (``landmarks`` view) (:mod:`facedep.explanations.view_contribution`);
- always ``explanations.json``: the methods, metrics and the (pseudonymised with ``run.privacy``) test subjects used.

Only the test subjects' windows and labels are used. Unsupported models or data raise :class:`Unsupported`, whose
message is the one-line console note.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from torch import nn

from facedep.explanations.channel_importance import DEFAULT_REPEATS
from facedep.explanations.errors import Unsupported
from facedep.explanations.writers import (Names, Written, explainable_test_set, write_au, write_fusion, write_images,
                                          write_landmarks)

__all__ = ["Unsupported", "explain_run", "explainable_test_set", "explanation_kind"]

WRITERS: dict[str, Callable[[nn.Module, object, Path, int, Names], Written]] = {
    "aus": write_au, "landmarks": write_landmarks, "images": write_images, "fusion": write_fusion,
}


def _test_set(datamodule: object) -> object | None:
    return (getattr(datamodule, "datasets", None) or {}).get("test")


def explanation_kind(model: nn.Module, datamodule: object) -> str:
    """``fusion``, ``landmarks``, ``images`` or ``aus`` (by the DataModule and its test set; checked in this order)."""
    test = _test_set(datamodule)
    if getattr(datamodule, "views", None) and hasattr(test, "batch_of"):
        return "fusion"
    source = getattr(test, "source", test)
    if hasattr(datamodule, "frames_per_sample") and all(hasattr(source, a) for a in ("sequences", "index", "transform")):
        return "landmarks"
    if all(hasattr(test, a) for a in ("image", "mean", "std")):
        if hasattr(test, "aus"):  # AUDetectionDataModule: multi-label AU targets, not a depression score
            raise Unsupported(f"{type(model).__name__} detects AUs per frame (multi-label); it has no explanation here")
        return "images"
    explainable_test_set(model, datamodule)  # raises Unsupported with the reason
    return "aus"


def explain_run(model: nn.Module, datamodule: object, out_dir: str | Path, repeats: int = DEFAULT_REPEATS,
                pseudonym: Callable[[str], str] | None = None) -> dict[str, str]:
    """Write the explanations of a tested model into ``out_dir``; returns their paths, ``kind`` and ``method``.

    ``pseudonym`` maps subject ids in ``explanations.json`` (``run.privacy``); raises :class:`Unsupported` (nothing
    written) for a model or data set without explanations.
    """
    kind = explanation_kind(model, datamodule)
    out = Path(out_dir)
    existed = out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        paths, sections, method = WRITERS[kind](model, datamodule, out, repeats,
                                                lambda ids: _subject_names(datamodule, ids, pseudonym))
    except Exception:
        if not existed and not any(out.iterdir()):
            out.rmdir()  # an Unsupported found late (e.g. a landmark set without regions) leaves no empty folder
        raise
    summary = out / "explanations.json"
    summary.write_text(json.dumps({"kind": kind, **sections}, indent=1))
    return {**{k: str(v) for k, v in paths.items()}, "summary": str(summary), "kind": kind, "method": method}


def _subject_names(datamodule: object, ids: list[int], pseudonym: Callable[[str], str] | None) -> list[str]:
    """Subject ids -> names (the DataModule's ``sample_names``), pseudonymised when asked; sorted."""
    table = datamodule.sample_names()["subject"] if hasattr(datamodule, "sample_names") else {}
    names = [str(table.get(i, i)) for i in ids]
    return sorted(pseudonym(n) if pseudonym is not None else n for n in names)
