"""Subject-level splits: disjoint, complete, stratified; split-column leakage is rejected."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from datamodules.io.au_table import DataFormatError
from datamodules.manifest import check_split_column
from datamodules.splits import assert_disjoint, subject_kfold_split, subject_labels

SUBJECTS = [f"s{i:02d}" for i in range(23)]
LABELS = [0] * 15 + [1] * 8


@pytest.mark.parametrize("num_folds", [2, 5])
def test_every_subject_is_tested_exactly_once(num_folds: int) -> None:
    tested = []
    for fold in range(num_folds):
        parts = subject_kfold_split(SUBJECTS, LABELS, fold, num_folds, seed=3)
        assert_disjoint(parts)
        assert sorted(parts["train"] + parts["val"] + parts["test"]) == SUBJECTS
        tested += parts["test"]
    assert sorted(tested) == SUBJECTS


def test_folds_are_stratified_and_val_is_not_empty() -> None:
    label_of = dict(zip(SUBJECTS, LABELS))
    positives = [Counter(label_of[s] for s in subject_kfold_split(SUBJECTS, LABELS, f, 4)["test"])[1] for f in range(4)]
    assert max(positives) - min(positives) <= 1
    parts = subject_kfold_split(SUBJECTS, LABELS, 0, 4)
    assert {label_of[s] for s in parts["val"]} == {0, 1}


def test_split_depends_on_seed_but_is_deterministic() -> None:
    a = subject_kfold_split(SUBJECTS, LABELS, 0, 5, seed=0)
    assert a == subject_kfold_split(SUBJECTS, LABELS, 0, 5, seed=0)
    assert a != subject_kfold_split(SUBJECTS, LABELS, 0, 5, seed=1)


def test_too_few_subjects_is_an_error() -> None:
    with pytest.raises(DataFormatError, match="3 subjects for 5 folds"):
        subject_kfold_split(["a", "b", "c"], [0, 1, 0], 0, 5)


def test_assert_disjoint_names_the_subject() -> None:
    with pytest.raises(DataFormatError, match="s7"):
        assert_disjoint({"train": ["s1", "s7"], "test": ["s7"]})


def test_subject_in_two_splits_of_a_split_column_is_rejected() -> None:
    df = pd.DataFrame({"subject_id": ["a", "a", "b"], "split": ["train", "test", "val"]})
    with pytest.raises(DataFormatError, match=r"more than one split.*'a'"):
        check_split_column(df, "m.csv")


def test_subject_label_is_the_majority_of_its_sessions() -> None:
    df = pd.DataFrame({"subject_id": ["a", "a", "a", "b"], "label_index": [1, 1, 0, 0]})
    assert subject_labels(df).to_dict() == {"a": 1, "b": 0}
    assert np.array_equal(subject_labels(pd.DataFrame({"subject_id": ["c", "c"], "label_index": [0, 1]})).to_numpy(), [1])
