"""Synthetic drawn faces: Kaggle layout, determinism, class-dependent expressions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.io.affectnet import read_affectnet_folders
from datamodules.manifest import load_manifest
from datamodules.synthetic.faces import EXPRESSIONS, _mouth_curves, draw_face, make_face_demo


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.jpg"))}


@pytest.mark.filterwarnings("ignore:.*identity leakage")
def test_layout_manifest_and_determinism(tmp_path: Path) -> None:
    manifest = make_face_demo(tmp_path / "a", images_per_class=3, size=48, classes=("happy", "sad"), seed=4)
    assert manifest == tmp_path / "a" / "manifest.csv"
    assert sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_dir()) == ["happy", "sad"]
    labels = pd.read_csv(tmp_path / "a" / "labels.csv")
    assert list(labels.columns[:4]) == ["Unnamed: 0", "pth", "label", "relFCs"]  # the Kaggle columns
    df = load_manifest(manifest)
    assert len(df) == 6 and dict(zip(df["emotion"], df["label"])) == {"happy": 0, "sad": 1}  # depression_binary
    assert df["subject_id"].nunique() == 6
    again = make_face_demo(tmp_path / "b", images_per_class=3, size=48, classes=("happy", "sad"), seed=4)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert pd.read_csv(again).drop(columns="path").equals(pd.read_csv(manifest).drop(columns="path"))
    make_face_demo(tmp_path / "c", images_per_class=3, size=48, classes=("happy", "sad"), seed=5)
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    assert len(read_affectnet_folders(tmp_path / "a", label_map="emotions8")) == 6
    boxed = load_manifest(make_face_demo(tmp_path / "d", images_per_class=2, size=48, classes=("fear",), face_boxes=True))
    assert (boxed["face_width"] > 10).all() and (boxed["face_x"] + boxed["face_width"] <= 48).all()


def test_expressions_depend_on_the_class() -> None:
    def corner_lift(name: str) -> float:  # > 0: mouth corners above the middle of the lip (a smile)
        upper, _ = _mouth_curves(EXPRESSIONS[name], 50.0, 50.0, 20.0)
        return float(upper[len(upper) // 2, 1] - (upper[0, 1] + upper[-1, 1]) / 2)

    assert corner_lift("happy") > 0 > corner_lift("sad")
    assert EXPRESSIONS["sad"].brow_tilt > 0 > EXPRESSIONS["anger"].brow_tilt  # inner brows raised vs lowered
    assert EXPRESSIONS["surprise"].mouth_open > 0.5 and EXPRESSIONS["neutral"].mouth_open == 0
    images = {name: draw_face(name, np.random.default_rng(1), 64) for name in EXPRESSIONS}
    for name, (image, box) in images.items():
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64 and (x1 - x0) > 20
    # same pose and colours (same generator seed), different expression: the pictures differ only a little
    diff = np.abs(images["happy"][0].astype(int) - images["sad"][0].astype(int))
    assert 0 < (diff.max(axis=2) > 40).mean() < 0.2
