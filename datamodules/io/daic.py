"""DAIC-WOZ and E-DAIC: AU files, official split/label CSVs, AU-file discovery.

Layouts:
    DAIC-WOZ: ``{root}/{pid}_P/{pid}_CLNF_AUs.txt`` and ``{root}/train_split_Depression_AVEC2017.csv``,
    ``dev_split_Depression_AVEC2017.csv``, ``full_test_split.csv`` (or ``test_split_...``).
    E-DAIC: ``{root}/{pid}_P/features/{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv`` and
    ``{root}/labels/{train,dev,test}_split.csv``.

Example:
    >>> labels = read_daic_woz_labels("/data/daic-woz")  # doctest: +SKIP
    >>> labels.columns.tolist()  # doctest: +SKIP
    ['subject_id', 'label', 'score', 'split']
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import AUTable, DataFormatError
from datamodules.io.frame_table import CANONICAL_NAMES, read_au_csv
from datamodules.manifest import check_split_column

LABEL_COLUMNS: tuple[str, ...] = ("subject_id", "label", "score", "split")
DAIC_WOZ_SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train_split_Depression_AVEC2017.csv",),
    "val": ("dev_split_Depression_AVEC2017.csv",),
    "test": ("full_test_split.csv", "test_split_Depression_AVEC2017.csv"),
}
E_DAIC_SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train_split.csv",),
    "val": ("dev_split.csv",),
    "test": ("test_split.csv",),
}
DAIC_WOZ_AU_SUFFIX = "_CLNF_AUs.txt"
DAIC_WOZ_LANDMARK_SUFFIX = "_CLNF_features3D.txt"
E_DAIC_AU_SUFFIX = "_OpenFace2.1.0_Pose_gaze_AUs.csv"


def read_daic_woz_aus(path: str | Path) -> AUTable:
    """Read a DAIC-WOZ ``{pid}_CLNF_AUs.txt`` (14 AU_r + 6 AU_c; the rest are NaN)."""
    return read_au_csv(path, CANONICAL_NAMES)


def _participant_ids(col: pd.Series, path: Path) -> pd.Series:
    num = pd.to_numeric(col, errors="coerce")
    if num.notna().all() and (num == np.round(num)).all():
        return num.astype(np.int64).astype(str)
    bad = np.flatnonzero(col.isna().to_numpy())
    if bad.size:
        raise DataFormatError(f"{path}: empty Participant_ID in data row {int(bad[0]) + 1}")
    return col.astype(str).str.strip()


def _read_split_file(path: Path, split: str) -> pd.DataFrame | None:
    """One split CSV -> subject_id/label/score/split; ``None`` (with a warning) if it has no labels."""
    raw = pd.read_csv(path, skipinitialspace=True).dropna(how="all").reset_index(drop=True)
    raw.columns = [str(c).strip() for c in raw.columns]
    lower = {c.lower(): c for c in raw.columns}
    pid = lower.get("participant_id")
    binary = lower.get("phq8_binary") or lower.get("phq_binary")
    score = lower.get("phq8_score") or lower.get("phq_score")
    if pid is None:
        raise DataFormatError(f"{path}: no Participant_ID column; it has {list(raw.columns)}")
    if binary is None:
        warnings.warn(f"{path}: no PHQ8_Binary/PHQ_Binary column, split '{split}' skipped", UserWarning, stacklevel=3)
        return None
    lab = pd.to_numeric(raw[binary], errors="coerce")
    bad = np.flatnonzero(~lab.isin([0, 1]).to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(f"{path}: data row {i + 1}, column '{binary}': label must be 0 or 1, got {raw[binary].iloc[i]!r}")
    out = pd.DataFrame({
        "subject_id": _participant_ids(raw[pid], path),
        "label": lab.astype(np.int64),
        "score": pd.to_numeric(raw[score], errors="coerce").astype(float) if score else np.nan,
        "split": split,
    })
    dup = out["subject_id"][out["subject_id"].duplicated()].tolist()
    if dup:
        raise DataFormatError(f"{path}: participant(s) listed twice: {dup[:10]}")
    return out


def _read_labels(root: str | Path, files: dict[str, tuple[str, ...]], dataset: str) -> pd.DataFrame:
    root = Path(root)
    folders = [root, root / "labels"]
    found = {split: [d / n for n in names for d in folders if (d / n).is_file()] for split, names in files.items()}
    if not any(found.values()):
        expected = [n for names in files.values() for n in names]
        raise DataFormatError(f"{dataset}: none of the split files {expected} found in {root} or {root / 'labels'}")
    parts: list[pd.DataFrame] = []
    for split, candidates in found.items():
        if not candidates:
            names = " or ".join(files[split])
            warnings.warn(f"{dataset}: no {split} split file ({names}) in {root}", UserWarning, stacklevel=3)
        for path in candidates:
            df = _read_split_file(path, split)
            if df is not None:
                parts.append(df)
                break
    if not parts:
        raise DataFormatError(f"{dataset}: no split file in {root} has labels")
    labels = pd.concat(parts, ignore_index=True)
    check_split_column(labels, f"{dataset} split files in {root}")
    return labels[list(LABEL_COLUMNS)]


def read_daic_woz_labels(root: str | Path) -> pd.DataFrame:
    """DAIC-WOZ (AVEC 2017) split CSVs -> subject_id, label (PHQ8_Binary), score, split (train/val/test)."""
    return _read_labels(root, DAIC_WOZ_SPLIT_FILES, "DAIC-WOZ")


def read_e_daic_labels(root: str | Path) -> pd.DataFrame:
    """E-DAIC ``labels/{train,dev,test}_split.csv`` -> subject_id, label, score, split."""
    return _read_labels(root, E_DAIC_SPLIT_FILES, "E-DAIC")


def _find(root: str | Path, suffix: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(Path(root).rglob(f"*{suffix}")):
        found.setdefault(p.name[: -len(suffix)], p)
    return found


def find_daic_woz_au_files(root: str | Path) -> dict[str, Path]:
    """Participant id -> ``{pid}_CLNF_AUs.txt`` found anywhere under ``root``."""
    return _find(root, DAIC_WOZ_AU_SUFFIX)


def find_daic_woz_landmark_files(root: str | Path) -> dict[str, Path]:
    """Participant id -> ``{pid}_CLNF_features3D.txt`` (68 3D landmarks) found anywhere under ``root``."""
    return _find(root, DAIC_WOZ_LANDMARK_SUFFIX)


def find_e_daic_au_files(root: str | Path) -> dict[str, Path]:
    """Participant id -> ``{pid}_OpenFace2.1.0_Pose_gaze_AUs.csv`` found anywhere under ``root``."""
    return _find(root, E_DAIC_AU_SUFFIX)
