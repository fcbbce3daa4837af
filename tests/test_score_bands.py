"""``score_bands`` (target: label): each row's label is the PHQ-8 band (or a configured band) of its score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datamodules.au_sequence import AUSequenceDataModule
from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS, DataFormatError
from datamodules.score_bands import PHQ8_BANDS, band_labels
from datamodules.synthetic.openface_csv import make_openface_csv

SCORES = [0, 4, 5, 9, 10, 14, 15, 19, 20, 24]
BANDS = ["none", "none", "mild", "mild", "moderate", "moderate", "moderately_severe", "moderately_severe",
         "severe", "severe"]
PHQ8_CLASSES = ["none", "mild", "moderate", "moderately_severe", "severe"]


def _manifest(tmp_path: Path, with_score: bool = True) -> Path:
    rows = []
    for i, score in enumerate(SCORES):
        values = np.random.default_rng(i).uniform(0, 2, size=(40, len(ALL_AU_COLUMNS)))
        values[:, len(INTENSITY_COLUMNS):] = values[:, len(INTENSITY_COLUMNS):] > 1
        path = make_openface_csv(tmp_path / f"s{i}.csv", values)
        rows.append({"subject_id": f"s{i}", "path": str(path), "label": int(score >= 10),
                     **({"score": score} if with_score else {})})
    path = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _dm(manifest: Path, **kwargs) -> AUSequenceDataModule:
    defaults = dict(score_bands="phq8", classes=PHQ8_CLASSES, num_folds=2, val_fraction=0.0, window=16, stride=16,
                    cache_dir=None)
    return AUSequenceDataModule(str(manifest), **{**defaults, **kwargs})


def test_phq8_band_of_each_score() -> None:
    assert band_labels(SCORES, PHQ8_BANDS, "m.csv").tolist() == BANDS


def test_bands_become_the_labels(tmp_path: Path) -> None:
    dm = _dm(_manifest(tmp_path))
    dm.setup("fit")
    assert dm.classes == PHQ8_CLASSES and dm.num_classes == 5
    by_subject = dm.videos.set_index("subject_id")
    assert [by_subject.loc[f"s{i}", "label"] for i in range(10)] == BANDS
    assert [int(by_subject.loc[f"s{i}", "label_index"]) for i in range(10)] == [PHQ8_CLASSES.index(b) for b in BANDS]
    for name in ("train", "test"):  # two subjects per band: one in each of the two folds
        labels = dm.datasets[name].window_labels()
        assert labels.dtype == np.int64 and sorted(set(labels.tolist())) == [0, 1, 2, 3, 4]
    assert dm.data_report["score_bands"][0] == ["none", 0.0, 4.0]
    assert dm.target_stats is None and dm.class_weights is not None


def test_configured_bands(tmp_path: Path) -> None:
    dm = _dm(_manifest(tmp_path), score_bands=[["low", 0, 9], ["high", 10, 24]], classes=["low", "high"])
    dm.setup("fit")
    assert dm.videos["label_index"].tolist() == [int(s >= 10) for s in SCORES]


def test_classes_out_of_band_order_are_refused() -> None:
    wrong = ["mild", "none", "moderate", "moderately_severe", "severe"]
    with pytest.raises(DataFormatError, match=r"must be the band names in band order: classes: "
                                              r"\['none', 'mild', 'moderate', 'moderately_severe', 'severe'\]"):
        AUSequenceDataModule("m.csv", score_bands="phq8", classes=wrong)
    with pytest.raises(DataFormatError, match="band order"):
        AUSequenceDataModule("m.csv", score_bands="phq8")  # the default classes [0, 1]


def test_bands_need_the_score_column(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"m\.csv: score_bands needs a 'score' column"):
        _dm(_manifest(tmp_path, with_score=False)).setup("fit")
