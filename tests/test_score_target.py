"""``target: score``: windows carry the video's PHQ-8 score (float32), statistics from training subjects only,
bad scores rejected with the manifest row and subject named; in AU-sequence, landmark and image DataModules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.au_sequence import AUSequenceDataModule
from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS, DataFormatError
from datamodules.synthetic.openface_csv import make_openface_csv

SCORES = [3.0, 12.0, 5.5, 18.0, 0.0, 21.0, 7.0, 15.0]  # subject i; label = score >= 10


def _write(path: Path, n: int = 40, seed: int = 0) -> Path:
    values = np.random.default_rng(seed).uniform(0, 2, size=(n, len(ALL_AU_COLUMNS)))
    values[:, len(INTENSITY_COLUMNS):] = values[:, len(INTENSITY_COLUMNS):] > 1
    return make_openface_csv(path, values)


def _rows(tmp_path: Path, scores: list[float] = SCORES, sessions: int = 1) -> list[dict]:
    """One row per (subject, session); the second session's score is the first's + 1."""
    rows = []
    for i, score in enumerate(scores):
        for k in range(sessions):
            path = _write(tmp_path / f"s{i}_{k}.csv", seed=10 * i + k)
            rows.append({"subject_id": f"s{i}", "path": str(path), "label": int(score >= 10), "score": score + k})
    return rows


def _manifest(tmp_path: Path, rows: list[dict], name: str = "m.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _dm(manifest: Path, **kwargs) -> AUSequenceDataModule:
    defaults = dict(target="score", num_folds=4, window=16, stride=16, batch_size=4, cache_dir=None)
    return AUSequenceDataModule(str(manifest), **{**defaults, **kwargs})


def test_score_windows_are_float32_scores_of_their_video(tmp_path: Path) -> None:
    rows = _rows(tmp_path, sessions=2)
    dm = _dm(_manifest(tmp_path, rows))
    dm.setup("fit")
    assert dm.num_classes == 1 and dm.class_names == ["score"] and dm.class_weights is None
    assert not dm.labels_are_targets
    score_of = {r["path"]: r["score"] for r in rows}
    path_of = dm.sample_names()["video"]
    for name in ("train", "val", "test"):
        ds = dm.datasets[name]
        assert ds.window_labels().dtype == np.float32
        batch = next(iter(dm._loader(name, shuffle=False)))  # __getitems__ path
        assert batch["y"].dtype == torch.float32
        expected = [score_of[path_of[int(v)]] for v in batch["video"]]
        assert batch["y"].tolist() == pytest.approx(expected)
        item = ds[0]  # __getitem__ path
        assert item["y"].dtype == torch.float32 and float(item["y"]) == score_of[path_of[int(item["video"])]]
    assert dm.data_report["train"]["score"]["n"] == dm.data_report["train"]["subjects"]
    assert "windows_per_class" not in dm.data_report["train"]


def test_target_stats_come_from_training_subjects_only(tmp_path: Path) -> None:
    dm = _dm(_manifest(tmp_path, _rows(tmp_path, sessions=2)), score_threshold=9.5)
    dm.setup("fit")
    train = sorted(dm.data_report["train"]["subject_ids"])
    # hand computation: a subject's score is the mean of its two sessions (score, score + 1)
    per_subject = np.array([SCORES[int(s[1:])] + 0.5 for s in train])
    mean, std = per_subject.sum() / len(per_subject), np.sqrt(((per_subject - per_subject.mean()) ** 2).mean())
    assert dm.target_stats == pytest.approx({"name": "score", "mean": mean, "std": std, "low": 0.0, "high": 24.0,
                                             "threshold": 9.5})
    assert dm.data_report["target"] == dm.target_stats

    # a test subject's score changes: the statistics must not
    test_subject = dm.data_report["test"]["subject_ids"][0]
    changed = [{**r, "score": 24.0 if r["subject_id"] == test_subject else r["score"]} for r in _rows(tmp_path, sessions=2)]
    again = _dm(_manifest(tmp_path, changed, "changed.csv"), score_threshold=9.5)
    again.setup("fit")
    assert again.data_report["test"]["subject_ids"] == dm.data_report["test"]["subject_ids"]  # the label keeps the folds
    assert again.target_stats == dm.target_stats
    # a training subject's score changes: they must
    moved = [{**r, "score": r["score"] + 2 if r["subject_id"] == train[0] else r["score"]} for r in changed]
    third = _dm(_manifest(tmp_path, moved, "moved.csv"), score_threshold=9.5)
    third.setup("fit")
    assert third.target_stats["mean"] == pytest.approx(mean + 2 / len(train))


def test_the_label_still_stratifies_the_folds(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    by_score = _dm(_manifest(tmp_path, rows))
    by_label = AUSequenceDataModule(str(_manifest(tmp_path, rows)), num_folds=4, window=16, stride=16, cache_dir=None)
    by_score.setup("fit")
    by_label.setup("fit")
    for name in ("train", "val", "test"):
        assert by_score.data_report[name]["subject_ids"] == by_label.data_report[name]["subject_ids"]
    assert by_label.datasets["train"].window_labels().dtype == np.int64  # label targets stay class indices


def test_manifest_without_score_is_named(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "score"} for r in _rows(tmp_path)]
    manifest = _manifest(tmp_path, rows, "noscore.csv")
    with pytest.raises(DataFormatError, match=r"noscore\.csv: target: score needs a 'score' column"):
        _dm(manifest).setup("fit")


@pytest.mark.parametrize(("bad", "why"), [
    ("abc", r"score 'abc' is not a number"),
    ("", r"blank \(or NaN\) score"),
    (30, r"score 30(\.0)? is outside score_range \[0, 24\]"),
    ("inf", r"score inf is not finite"),
])
def test_bad_score_names_row_and_subject(tmp_path: Path, bad: object, why: str) -> None:
    rows = _rows(tmp_path)
    rows[4]["score"] = bad  # CSV row 6 (header = row 1), subject s4
    manifest = _manifest(tmp_path, rows, "bad.csv")
    with pytest.raises(DataFormatError, match=rf"bad\.csv: 1 row\(s\) with a bad score: row 6 \(subject 's4'\): {why}; "
                                              r"every row needs a finite number in \[0, 24\] in column 'score'"):
        _dm(manifest).setup("fit")


def test_same_score_for_every_training_subject_is_refused(tmp_path: Path) -> None:
    rows = _rows(tmp_path, scores=[8.0, 8.0, 5.0, 12.0, 3.0, 20.0, 1.0, 14.0])
    for row, split in zip(rows, ["train", "train", "val", "val", "test", "test", "test", "test"]):
        row["split"] = split
    with pytest.raises(DataFormatError, match=r"the 2 training subject\(s\) all have the same score \(8\)"):
        _dm(_manifest(tmp_path, rows), split="column").setup("fit")


def test_score_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="target must be 'label' or 'score'"):
        AUSequenceDataModule("m.csv", target="phq")
    with pytest.raises(ValueError, match="score_range must be"):
        AUSequenceDataModule("m.csv", target="score", score_range=[24, 0])
    with pytest.raises(ValueError, match="use them with target: label"):
        AUSequenceDataModule("m.csv", target="score", score_bands="phq8")


def test_no_range_and_no_threshold(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    rows[0]["score"] = 30.5  # no range: any finite score
    dm = _dm(_manifest(tmp_path, rows), score_range=None, score_threshold=None)
    dm.setup("fit")
    assert dm.target_stats["low"] is None and dm.target_stats["high"] is None and dm.target_stats["threshold"] is None
    assert 30.5 in dm.videos["target"].tolist()


def test_datamodules_without_score_items_refuse_the_score_target() -> None:
    from datamodules.hrm_sequences import HRMSequenceDataModule

    with pytest.raises(ValueError, match="HRMSequenceDataModule does not support target: score"):
        HRMSequenceDataModule("m.csv", target="score")


def test_score_target_drops_class_names_from_hparams(tmp_path: Path) -> None:
    dm = _dm(_manifest(tmp_path, _rows(tmp_path)), class_names=["healthy", "depressed"])
    assert "class_names" not in dm.hparams and "class_names" not in dm.hparams_initial
    assert dm.hparams["target"] == "score"


def test_landmark_windows_carry_float_scores(tmp_path: Path) -> None:
    from datamodules.landmarks import LandmarkDataModule
    from datamodules.synthetic.landmarks import make_landmark_demo

    manifest = make_landmark_demo(tmp_path / "lm", num_subjects=6, frames=(24, 30), effect_size=2.0, seed=1)
    table = pd.read_csv(manifest)
    dm = LandmarkDataModule(str(manifest), target="score", mode="temporal", frames_per_sample=8, stride=8,
                            num_folds=3, batch_size=4, cache_dir=None)
    dm.setup("fit")
    assert dm.num_classes == 1 and dm.class_weights is None
    score_of = dict(zip(table["subject_id"].astype(str), table["score"].astype(float)))
    subject_of = dm.sample_names()["subject"]
    batch = next(iter(dm.train_dataloader()))
    assert batch["y"].dtype == torch.float32
    assert batch["y"].tolist() == [score_of[subject_of[int(s)]] for s in batch["subject"]]
    train = [score_of[s] for s in dm.data_report["train"]["subject_ids"]]
    assert dm.target_stats["mean"] == pytest.approx(np.mean(train)) and dm.target_stats["std"] == pytest.approx(np.std(train))


@pytest.mark.filterwarnings("ignore:.*identity", "ignore:.*num_workers")
def test_face_images_carry_float_scores(tmp_path: Path) -> None:
    from datamodules.images import FaceImageDataModule
    from datamodules.synthetic.faces import make_face_demo

    manifest = make_face_demo(tmp_path / "faces", images_per_class=3, size=32, classes=("happy", "sad"), seed=0)
    table = pd.read_csv(manifest)
    table["score"] = np.where(table["label"] == 1, 14.0, 2.0) + np.arange(len(table)) * 0.5
    table.to_csv(manifest, index=False)
    dm = FaceImageDataModule(str(manifest), target="score", image_size=16, num_folds=3, batch_size=8,
                             train_transforms=[], cache_dir=None)
    dm.setup("fit")
    assert dm.num_classes == 1 and dm.class_names == ["score"] and dm.class_weights is None
    score_of = dict(zip(table["subject_id"].astype(str), table["score"]))  # every image is its own subject
    subject_of = dm.sample_names()["subject"]
    batch = next(iter(dm.test_dataloader()))
    assert batch["y"].dtype == torch.float32
    assert batch["y"].tolist() == pytest.approx([score_of[subject_of[int(s)]] for s in batch["subject"]])
    train = [score_of[s] for s in dm.data_report["train"]["subject_ids"]]
    assert dm.data_report["target"]["mean"] == pytest.approx(np.mean(train))
