"""SubjectDataModule: what the manifest-driven DataModules share.

Classes and their names, the target (the ``label`` class, or the manifest's ``score``), subject-level split
assignment (stratified k-fold or the manifest's ``split`` column), the content-keyed cache, loaders and the data report.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from datamodules.cache import DEFAULT_CACHE_DIR, ArrayCache
from datamodules.io.au_table import DataFormatError
from datamodules.label_stats import class_weights_from_labels
from datamodules.labels import encode_labels
from datamodules.manifest import check_split_complete, load_manifest
from datamodules.score_bands import Band, band_labels, resolve_bands
from datamodules.scores import (
    check_score_range, checked_scores, require_score_column, score_summary, subject_scores, training_target_stats,
)
from datamodules.splits import assert_disjoint, default_val_fraction, subject_kfold_split, subject_labels
from datamodules.window_dataset import collate_windows

STAGES: tuple[str, ...] = ("train", "val", "test")


def resolve_val_fraction(val_fraction: float | None, val_folds: int | None, num_folds: int) -> float:
    """The validation share from ``val_fraction``, or from the deprecated ``val_folds`` (with a warning).

    >>> resolve_val_fraction(None, None, 4), resolve_val_fraction(None, 1, 3)
    (0.25, 0.5)
    """
    if val_folds is not None:
        if val_fraction is not None:
            raise ValueError(f"give val_fraction ({val_fraction}) or the deprecated val_folds ({val_folds}), not both")
        val_fraction = val_folds / max(num_folds - 1, 2)
        if val_folds:
            rank_zero_warn(f"val_folds is deprecated: val_folds={val_folds} is val_fraction={val_fraction:.3g} "
                           "(share of the non-test subjects that validate)", category=DeprecationWarning)
    fraction = default_val_fraction(num_folds) if val_fraction is None else float(val_fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) (share of the non-test subjects), got {val_fraction}")
    return fraction


def check_inner_fold(inner_fold: int | None, inner_folds: int, module: type) -> tuple[int | None, int]:
    """Validate the inner-fold settings of a tuning run (``inner_fold`` None: an ordinary run).

    >>> check_inner_fold(None, 3, object)
    (None, 3)
    """
    if inner_fold is None:
        return None, int(inner_folds)
    if not getattr(module, "supports_inner_folds", False):
        raise ValueError(f"{module.__name__} does not support inner folds (hyper-parameter tuning): "
                         "use an AU-sequence, landmark or face-image DataModule")
    if inner_folds < 2:
        raise ValueError(f"inner_folds must be >= 2, got {inner_folds}")
    if not 0 <= inner_fold < inner_folds:
        raise ValueError(f"inner_fold must be in [0, {inner_folds}), got {inner_fold}")
    return int(inner_fold), int(inner_folds)


def per_sample_subjects(table: pd.DataFrame) -> bool:
    """True when every sample is its own subject (no identities: a sample-level split leaks identity)."""
    return len(table) > 1 and bool(table["subject_id"].is_unique)


class SubjectDataModule(pl.LightningDataModule):
    """Base of the manifest-driven DataModules; subclasses fill ``self.datasets`` in ``setup``.

    Args:
        manifest: CSV/Parquet with ``subject_id, path, label`` (+ optional ``split, session, row``).
        classes: the label values, in class-index order; other labels are an error.
        class_names: display names (default: ``classes`` as text).
        split: ``kfold`` (stratified subject-level folds) or ``column`` (the manifest's ``split``).
        fold: which fold is the test fold; num_folds: how many folds;
            val_fraction: share of the non-test subjects that validate, stratified by class (default
            ``1 / num_folds``: about one fold of the training subjects; 0: no validation set).
        val_folds: deprecated (the old inner-fold count): ``k`` means ``val_fraction = k / max(num_folds - 1, 2)``.
        standardize: z-score channels with statistics of training subjects only.
        batch_size, num_workers, pin_memory: loader settings (``pin_memory`` null: on with CUDA).
        cache_dir: where parsed files are cached by content (null disables).
        seed: seed of the fold assignment.
        target: ``label`` (classify the ``label`` column) or ``score`` (regress the manifest's ``score``: items'
            ``y`` is the video's score as float32, ``num_classes`` 1, ``class_names`` ``["score"]``; the label
            still stratifies the folds; after ``setup`` :attr:`target_stats` holds the training subjects' scale).
        score_range: ``[low, high]`` every score must lie in (null: any finite score); also the clip range.
        score_threshold: score at and above which a subject counts as positive (thresholded metrics).
        score_bands: with ``target: label``, the label of each row is the band of its score: ``phq8`` or
            ``[[name, low, high], ...]``; ``classes`` must then be the band names in band order.
        inner_fold / inner_folds: hyper-parameter tuning inside an outer fold (``scripts/tune.py``): the outer
            test subjects (fold ``fold`` of ``num_folds``, or the split column's ``test``) are dropped before any
            file is read, the others are split into ``inner_folds`` stratified subject folds; inner fold
            ``inner_fold`` validates, the rest train, the test stage is empty.
    """

    #: DataModules whose items can carry a score target (``target: score``); the others refuse it.
    supports_score_target: bool = False
    #: DataModules that can hold out an outer test fold and split the rest into inner folds (``inner_fold``).
    supports_inner_folds: bool = False

    def __init__(
        self,
        manifest: str,
        classes: list[str | int] = [0, 1],
        class_names: list[str] | None = None,
        split: Literal["kfold", "column"] = "kfold",
        fold: int = 0,
        num_folds: int = 5,
        val_fraction: float | None = None,
        val_folds: int | None = None,
        standardize: bool = True,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        cache_dir: str | None = str(DEFAULT_CACHE_DIR),
        seed: int = 0,
        target: Literal["label", "score"] = "label",
        score_range: list[float] | None = [0, 24],
        score_threshold: float | None = 10,
        score_bands: str | list[list[float | str]] | None = None,
        inner_fold: int | None = None,
        inner_folds: int = 3,
    ) -> None:
        super().__init__()
        self.manifest_path = manifest
        self.classes = list(classes)
        self.class_names = class_names or [str(c) for c in classes]
        if len(self.class_names) != len(self.classes):
            raise ValueError(f"class_names {self.class_names} and classes {self.classes} differ in length")
        self.target = target
        self.score_range = check_score_range(score_range)
        self.score_threshold = None if score_threshold is None else float(score_threshold)
        self.bands: tuple[Band, ...] | None = None
        self._check_target(score_bands)
        self.split, self.fold, self.num_folds = split, fold, num_folds
        self.val_fraction = resolve_val_fraction(val_fraction, val_folds, num_folds)
        self.inner_fold, self.inner_folds = check_inner_fold(inner_fold, inner_folds, type(self))
        self.outer_test_excluded = 0  # outer test subjects left out of an inner-fold run (set by _inner_parts)
        self.standardize = standardize
        self.batch_size, self.num_workers = batch_size, num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.cache = ArrayCache(cache_dir)
        self.seed = seed
        self.datasets: dict[str, Dataset] = {}
        self.class_weights: torch.Tensor | None = None
        self.target_stats: dict[str, Any] | None = None
        self.data_report: dict = {}
        self.videos: pd.DataFrame | None = None

    def _check_target(self, score_bands: str | list[list[float | str]] | None) -> None:
        """Validate ``target``/``score_bands`` and set what a score target changes (class names, label role)."""
        if self.target not in ("label", "score"):
            raise ValueError(f"target must be 'label' or 'score', got {self.target!r}")
        if self.target == "score":
            if not self.supports_score_target:
                raise ValueError(f"{type(self).__name__} does not support target: score")
            if score_bands is not None:
                raise ValueError("score_bands turn scores into class labels: use them with target: label, not score")
            self.class_names = ["score"]
            self.labels_are_targets = False  # the label only stratifies the folds
            return
        if score_bands is None:
            return
        self.bands = resolve_bands(score_bands)
        expected = [b.name for b in self.bands]
        if [str(c) for c in self.classes] != expected:
            raise DataFormatError(f"score_bands {score_bands if isinstance(score_bands, str) else expected}: classes "
                                  f"{self.classes} must be the band names in band order: classes: {expected}")

    def save_hyperparameters(self, *args: Any, frame: Any = None, **kwargs: Any) -> None:
        """Lightning's, without ``class_names`` for a score target: the model's ``["score"]`` (linked from
        :attr:`class_names`) would clash with the configured value when the hyper-parameters are merged."""
        super().save_hyperparameters(*args, frame=frame or inspect.currentframe().f_back, **kwargs)
        if self.target == "score":
            for store in (self.hparams, getattr(self, "_hparams_initial", None) or {}):
                store.pop("class_names", None)

    @property
    def num_channels(self) -> int:
        """Input channels per time step (AU channels, or image channels); subclasses define it."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """Outputs of the model: the number of classes, or 1 for a score target."""
        return 1 if self.target == "score" else len(self.classes)

    #: ``label`` is the prediction target: every class must be in the manifest, train and test. Off where
    #: the labels only stratify the folds (subject groups of AU detection and atypicality regression, and
    #: ``target: score``, which turns it off per instance).
    labels_are_targets: bool = True

    def assign_splits(self, table: pd.DataFrame) -> dict[str, list[str]]:
        """Subjects per stage from ``table`` (``subject_id``, ``label_index``, optional ``split``).

        Raises :class:`DataFormatError` for a blank split cell (``split: column``, naming rows and
        subjects) and, see :meth:`check_classes`, for a configured class missing from a split.
        """
        if self.split == "column":
            if "split" not in table.columns:
                raise DataFormatError(f"{self.manifest_path}: split='column' but the manifest has no 'split' column")
            check_split_complete(table, self.manifest_path)
            parts = {s: sorted(table.loc[table["split"] == s, "subject_id"].unique()) for s in STAGES}
        else:
            per_subject = subject_labels(table)
            parts = subject_kfold_split(
                per_subject.index.to_numpy(), per_subject.to_numpy(), self.fold, self.num_folds, self.val_fraction, self.seed
            )
        if self.inner_fold is not None:
            parts = self._inner_parts(table, parts)
        assert_disjoint(parts)
        stage_of = {s: name for name, subjects in parts.items() for s in subjects}
        self.check_classes(table, table["subject_id"].map(stage_of))
        return parts

    def _inner_parts(self, table: pd.DataFrame, outer: dict[str, list[str]]) -> dict[str, list[str]]:
        """Inner fold ``inner_fold`` of the outer training subjects (``outer`` train + val) validates, the other
        inner folds train; the outer test subjects are in no stage (their rows are dropped before any read)."""
        kept = sorted(set(outer["train"]) | set(outer["val"]))
        per_subject = subject_labels(table[table["subject_id"].isin(kept)])
        inner = subject_kfold_split(per_subject.index.to_numpy(), per_subject.to_numpy(), self.inner_fold,
                                    self.inner_folds, 0.0, self.seed)
        self.outer_test_excluded = len(outer["test"])
        return {"train": inner["train"], "val": inner["test"], "test": []}

    def split_description(self) -> str:
        """How the subjects were split, for messages: ``fold 2 of 5 (seed 0)`` or ``the manifest's split column``."""
        outer = "the manifest's split column" if self.split == "column" else f"fold {self.fold} of {self.num_folds} (seed {self.seed})"
        if self.inner_fold is None:
            return outer
        return f"inner fold {self.inner_fold} of {self.inner_folds} inside {outer}"

    def check_classes(self, table: pd.DataFrame, stage: pd.Series) -> None:
        """Every configured class must have a sample in the manifest, in train and in test (else macro-F1 is
        meaningless: a one-class run scores 1.000 per fold); a class missing from validation is a warning.

        ``table`` has ``label_index``; ``stage`` is the split of each row (NaN: none).
        """
        if not self.labels_are_targets:
            return
        labels = table["label_index"].to_numpy()
        absent = [self.class_names[c] for c in range(self.num_classes) if not (labels == c).any()]
        if absent:
            raise DataFormatError(
                f"{self.manifest_path}: configured class(es) {absent} have no sample in the manifest "
                f"(classes {self.classes}); fix the manifest or the classes setting")
        stage = np.asarray(stage, dtype=object)
        for name in STAGES:
            present = set(labels[stage == name].tolist())
            missing = [self.class_names[c] for c in range(self.num_classes) if c not in present]
            if not present or not missing:
                continue  # an empty stage (no validation set) is checked elsewhere
            message = (f"{self.manifest_path}: class(es) {missing} have no sample in the {name} split of "
                       f"{self.split_description()}")
            if name == "val":
                rank_zero_warn(f"{message}; validation metrics, thresholds and checkpoint choice ignore it")
            else:
                hint = "" if self.split == "column" else " (too few subjects of it for this many folds?)"
                raise DataFormatError(f"{message}{hint}")

    def split_summary(self, parts: dict[str, list[str]]) -> dict:
        """The split for the data report: method, fold, validation share and subjects per part."""
        summary: dict = {"method": self.split, "subjects": {name: len(parts[name]) for name in STAGES}}
        if self.split == "kfold":
            summary.update(fold=self.fold, num_folds=self.num_folds, val_fraction=self.val_fraction, seed=self.seed)
        if self.inner_fold is not None:
            summary.update(inner_fold=self.inner_fold, inner_folds=self.inner_folds,
                           outer_test_excluded=self.outer_test_excluded)
        return summary

    def index_videos(self) -> tuple[pd.DataFrame, dict[str, list[str]]]:
        """The manifest with ``label_index, target, subject_index, video_index, stage`` columns, and the split.

        ``target`` is ``label_index`` (int64) or, for ``target: score``, the checked score (float; float32 in items). With
        ``score_bands`` the ``label`` column is replaced by the band of each row's score first.
        """
        videos = load_manifest(self.manifest_path)
        if self.target == "score":
            videos["target"] = checked_scores(videos, self.manifest_path, self.score_range)  # float64; items: float32
        elif self.bands is not None:
            require_score_column(videos, self.manifest_path, "score_bands")
            scores = checked_scores(videos, self.manifest_path, self.score_range)
            videos["label"] = band_labels(scores, self.bands, self.manifest_path)
        videos["label_index"] = encode_labels(videos["label"], self.classes, self.manifest_path)
        if self.target != "score":
            videos["target"] = videos["label_index"]
        parts = self.assign_splits(videos)
        codes = {s: i for i, s in enumerate(sorted(videos["subject_id"].unique()))}
        videos["subject_index"] = videos["subject_id"].map(codes)
        videos["video_index"] = np.arange(len(videos))
        videos["stage"] = videos["subject_id"].map({s: name for name, subjects in parts.items() for s in subjects})
        if self.inner_fold is not None:  # the outer test subjects: never read
            videos = videos[videos["stage"].notna()].reset_index(drop=True)
        return videos, parts

    def rows_to_read(self) -> pd.DataFrame:
        """The manifest rows whose files this run may read (``prepare_data`` caches them): all of them, or with
        ``inner_fold`` those of the outer training subjects only."""
        return load_manifest(self.manifest_path) if self.inner_fold is None else self.index_videos()[0]

    def stage_subjects(self) -> dict[str, list[str]]:
        """Subject ids per stage after ``setup`` (the run's ``subjects.json``)."""
        if self.videos is None:
            return {}
        return {name: sorted(self.videos.loc[self.videos["stage"] == name, "subject_id"].astype(str).unique().tolist())
                for name in STAGES}

    def stage_summary(self, rows: pd.DataFrame, dataset: Dataset, frames: dict) -> dict:
        """Counts of one stage for the data report: subjects, videos, windows and classes (for a score target:
        the score statistics over the stage's subjects, see :func:`~datamodules.scores.score_summary`), frames."""
        labels = dataset.window_labels()
        if self.target == "score":
            targets: dict = {"score": score_summary(subject_scores(rows, "target"))}
        else:
            per_subject = np.bincount(subject_labels(rows), minlength=self.num_classes).tolist() if len(rows) else None
            targets = {
                "windows_per_class": dict(zip(self.class_names, np.bincount(labels, minlength=self.num_classes).tolist())),
                "subjects_per_class": dict(zip(self.class_names, per_subject)) if per_subject is not None else {},
            }
        return {
            "subjects": int(rows["subject_id"].nunique()),
            "videos": int(len(rows)),
            "windows": int(len(labels)),
            **targets,
            "frames": frames,
            "subject_ids": sorted(rows["subject_id"].unique().tolist()),
        }

    def fit_targets(self) -> None:
        """After the datasets are built: :attr:`class_weights` from the training windows (labels), or
        :attr:`target_stats` from the training subjects (score; class weights None)."""
        assert self.videos is not None, "set self.videos first"
        if self.target == "score":
            self.class_weights = None
            train = self.videos[self.videos["stage"] == "train"]
            self.target_stats = training_target_stats(train, self.manifest_path, self.score_range,
                                                      self.score_threshold, column="target")
        else:
            self.class_weights = class_weights_from_labels(self.datasets["train"].window_labels(), self.num_classes)

    def target_report(self) -> dict[str, Any]:
        """The data report's entries about the target: ``target`` (score stats) or ``score_bands``."""
        if self.target == "score":
            return {"target": dict(self.target_stats or {})}
        if self.bands is not None:
            return {"score_bands": [[b.name, b.low, b.high] for b in self.bands]}
        return {}

    def sample_names(self) -> dict[str, dict[int, str]]:
        """Readable names of the integer ids in batches: video id -> path, subject id -> subject_id."""
        assert self.videos is not None, "call setup() first"
        return {
            "video": dict(zip(self.videos["video_index"], self.videos["path"])),
            "subject": dict(zip(self.videos["subject_index"], self.videos["subject_id"])),
        }

    def write_report(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data_report, indent=2))
        return path

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[name],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_windows,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
