"""Synthetic landmark demo: real OpenFace format, parseable, with a learnable group effect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from datamodules.io.frame_table import read_header
from datamodules.io.landmarks import read_landmark_file, read_openface_landmarks
from datamodules.preprocessing.normalize import EYE_INDICES, interocular_distance, normalize_sequence
from datamodules.synthetic.landmarks import (
    COLUMNS,
    face_template,
    group_features,
    make_landmark_demo,
    project,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_landmark_demo(tmp_path_factory.mktemp("lmk"), num_subjects=40, frames=(40, 60), seed=0)


def test_template_is_a_plausible_face() -> None:
    t = face_template()
    assert interocular_distance(t[None], *EYE_INDICES[68])[0] == pytest.approx(64.0)
    assert t[30, 2] < t[27, 2] < t[0, 2]  # nose tip nearest the camera, jaw corners furthest
    assert t[8, 1] > t[57, 1] > t[33, 1] > t[39, 1] > t[21, 1]  # y down: chin, lip, nose, eye, brow
    np.testing.assert_allclose(t[[17, 36, 48]] * [-1, 1, 1], t[[26, 45, 54]])  # mirror-symmetric


def test_demo_files_parse(demo: Path) -> None:
    manifest = pd.read_csv(demo)
    assert manifest.columns.tolist() == ["subject_id", "path", "label", "score", "session"]
    assert len(manifest) == 40 and manifest.label.sum() == 20
    path = demo.parent / manifest.path[0]
    assert tuple(read_header(path)) == COLUMNS
    assert path.read_text().splitlines()[1].startswith("1,  0,  0.000,  ")
    seqs = [read_landmark_file(demo.parent / p) for p in manifest.path]
    assert all(s.points.shape[1:] == (68, 3) and 40 <= s.num_frames <= 60 for s in seqs)
    assert all(s.fps == pytest.approx(30.0, abs=0.05) for s in seqs)
    invalid = sum(s.num_frames - s.num_valid for s in seqs)
    assert 0 < invalid < 0.2 * sum(s.num_frames for s in seqs)
    seq = seqs[0]
    assert 300 < np.median(seq.points[seq.valid, :, 2]) < 900  # mm from the camera
    flat = read_openface_landmarks(path, dims="2d")
    np.testing.assert_allclose(flat.points[seq.valid, :, :2], project(seq.points[seq.valid]), atol=0.3)


def test_demo_effect_is_learnable(demo: Path) -> None:
    manifest = pd.read_csv(demo)
    feats = []
    for p in manifest.path:
        seq = normalize_sequence(read_landmark_file(demo.parent / p), align=True)
        feats.append(group_features(seq.points, seq.valid))
    x, y = np.array(feats), manifest.label.to_numpy()
    # Depressed: mouth corners lower (larger y), inner brows closer together.
    assert x[y == 1, 0].mean() > x[y == 0, 0].mean() and x[y == 1, 1].mean() < x[y == 0, 1].mean()
    model = make_pipeline(StandardScaler(), LogisticRegression())
    acc = cross_val_score(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    assert 0.75 <= acc < 1.0


def test_demo_is_deterministic(tmp_path: Path) -> None:
    a = make_landmark_demo(tmp_path / "a", num_subjects=2, frames=(5, 8), seed=3)
    b = make_landmark_demo(tmp_path / "b", num_subjects=2, frames=(5, 8), seed=3)
    paths = pd.read_csv(a).path
    assert all((a.parent / p).read_bytes() == (b.parent / p).read_bytes() for p in paths)
