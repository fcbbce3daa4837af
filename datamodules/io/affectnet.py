"""AffectNet readers: the Kaggle folder layout and the official CSV -> manifest-like DataFrames.

Two layouts are read:

* **Kaggle "affectnet-training-data"** (:func:`read_affectnet_folders`): one folder per emotion
  (``anger, contempt, disgust, fear, happy, neutral, sad, surprise``) and usually a ``labels.csv``
  with ``pth, label`` (and ``relFCs``). When ``labels.csv`` exists its ``label`` is used (it can
  disagree with the folder; disagreements are counted); otherwise the folder name is the label.
* **Official AffectNet CSV** (:func:`read_affectnet_csv`): ``subDirectory_filePath, face_x, face_y,
  face_width, face_height, facial_landmarks, expression, valence, arousal``; expression codes
  0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger, 7 contempt; 8 none,
  9 uncertain and 10 no-face are skipped and counted.

Emotions become labels through a label map (:data:`LABEL_MAPS` or a user dict; a value of
``None`` drops that emotion). ``depression_binary`` is a *proxy*, not a diagnosis: AffectNet has no
depression labels, and which emotions count as "depression-like" is a modelling choice (the seed
left its mapping undocumented). The default marks only ``sad`` as 1; ``negative_affect`` marks
all negative emotions; pass your own dict for anything else.

AffectNet has no identity labels: unless a ``group_column`` names one, every image is its own
subject, so the same person may land in training and test (identity leakage); a warning says so.

The returned frame has ``subject_id, path, label, emotion`` (+ ``relFCs``, ``face_x, face_y,
face_width, face_height``, ``valence, arousal``, ``split`` when known) and ``df.attrs["report"]``:
``{"rows": n, "skipped": {reason: count}, "notes": [...]}``.

Example:
    >>> df = read_affectnet_folders("affectnet/", label_map="depression_binary")  # doctest: +SKIP
    >>> df.attrs["report"]["skipped"]  # doctest: +SKIP
    {}
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.io.au_table import DataFormatError

#: Emotions in the official code order (0..7).
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
#: Official expression codes that carry no emotion: skipped (and counted) by :func:`read_affectnet_csv`.
SKIPPED_CODES: dict[int, str] = {8: "none", 9: "uncertain", 10: "no-face"}
#: Kaggle folder names (alphabetical, as the data set ships them).
KAGGLE_FOLDERS: tuple[str, ...] = tuple(sorted(EMOTIONS))
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
BOX_COLUMNS: tuple[str, ...] = ("face_x", "face_y", "face_width", "face_height")
ALIASES: dict[str, str] = {
    "happiness": "happy", "sadness": "sad", "angry": "anger", "surprised": "surprise",
    "fearful": "fear", "disgusted": "disgust", "neutrality": "neutral",
}

#: Named label maps: emotion -> label (``None`` drops the emotion).
LABEL_MAPS: dict[str, dict[str, Any]] = {
    "emotions8": {e: e for e in EMOTIONS},
    # Proxy, configurable: only sadness counts as "depression-like".
    "depression_binary": {e: int(e == "sad") for e in EMOTIONS},
    # Broader proxy: every negative-valence emotion counts as "depression-like".
    "negative_affect": {e: int(e in ("sad", "fear", "disgust", "contempt", "anger")) for e in EMOTIONS},
}
LEAKAGE_WARNING = (
    "AffectNet has no identity labels: every image is its own subject, so images of the same person "
    "may fall into both training and test (identity leakage); pass a group column if you have one"
)


def canonical_emotion(value: object) -> str:
    """Lower-cased, stripped emotion name with common aliases resolved.

    >>> canonical_emotion(" Sadness ")
    'sad'
    """
    text = str(value).strip().lower()
    return ALIASES.get(text, text)


def resolve_label_map(label_map: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A named map from :data:`LABEL_MAPS`, or a user dict (keys made canonical); ``None``: ``emotions8``.

    >>> resolve_label_map("depression_binary")["sad"]
    1
    """
    if label_map is None:
        label_map = "emotions8"
    if isinstance(label_map, str):
        if label_map not in LABEL_MAPS:
            raise ValueError(f"unknown label map {label_map!r}; use one of {list(LABEL_MAPS)} or a dict")
        return dict(LABEL_MAPS[label_map])
    return {canonical_emotion(k): v for k, v in label_map.items()}


def _map_emotions(emotions: list[str], where: list[str], mapping: dict[str, Any], source: str) -> list[Any]:
    """Label of every emotion; raises naming the first row (``where``) whose emotion the map does not know."""
    labels = []
    for emotion, place in zip(emotions, where):
        if emotion not in mapping:
            raise DataFormatError(
                f"{source}, {place}: emotion {emotion!r} is not in the label map (keys: {sorted(mapping)})"
            )
        labels.append(mapping[emotion])
    return labels


def _as_label_column(values: list[Any]) -> pd.Series:
    """Integer labels as ``int64`` (``1.0`` -> ``1``), anything else as text."""
    if all(isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()) for v in values):
        return pd.Series(values, dtype=np.int64)
    return pd.Series([str(v) for v in values], dtype=object)


def _group_ids(table: pd.DataFrame, group_column: str | None, fallback: pd.Series, source: str) -> pd.Series:
    """Subject ids from ``group_column`` (checked), else ``fallback`` (one per image) with a leakage warning."""
    if group_column is None:
        warnings.warn(f"{source}: {LEAKAGE_WARNING}", stacklevel=3)
        return fallback.astype(str)
    if group_column not in table.columns:
        raise DataFormatError(f"{source}: group column {group_column!r} not found; columns are {list(table.columns)}")
    groups = table[group_column].astype(str).str.strip()
    empty = np.flatnonzero(table[group_column].isna().to_numpy() | groups.isin(["", "nan"]).to_numpy())
    if empty.size:
        raise DataFormatError(f"{source}, row {int(table.index[empty[0]]) + 2}: empty group ({group_column!r})")
    return groups


def _finish(df: pd.DataFrame, mapping: dict[str, Any], where: list[str], skipped: Counter, notes: list[str],
            source: str) -> pd.DataFrame:
    """Map emotions to labels, drop emotions mapped to ``None``, attach the report and warn about skips."""
    df = df.reset_index(drop=True)
    labels = _map_emotions(df["emotion"].tolist(), where, mapping, source)
    dropped = np.array([v is None for v in labels], dtype=bool)
    if dropped.any():
        skipped["excluded_by_label_map"] += int(dropped.sum())
        df = df[~dropped].reset_index(drop=True)
    if df.empty:
        raise DataFormatError(f"{source}: no image left (skipped: {dict(skipped)})")
    df.insert(2, "label", _as_label_column([v for v, d in zip(labels, dropped) if not d]))
    if skipped:
        warnings.warn(f"{source}: skipped {sum(skipped.values())} image(s): {dict(skipped)}", stacklevel=3)
    df.attrs["report"] = {"rows": len(df), "skipped": dict(skipped), "notes": notes}
    return df


# ---- Kaggle folder layout --------------------------------------------------------------------
def _class_folders(root: Path) -> dict[str, Path]:
    """Emotion -> folder for the sub-folders of ``root`` named after an emotion."""
    return {canonical_emotion(p.name): p for p in sorted(root.iterdir())
            if p.is_dir() and canonical_emotion(p.name) in EMOTIONS}


def _folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_kaggle_labels(path: Path) -> pd.DataFrame:
    """``labels.csv`` with ``pth`` (or ``path``) and ``label`` columns; an unnamed index column is dropped."""
    table = pd.read_csv(path)
    table.columns = [str(c).strip() for c in table.columns]
    table = table.drop(columns=[c for c in table.columns if c.startswith("Unnamed:")])
    if "pth" not in table.columns and "path" in table.columns:
        table = table.rename(columns={"path": "pth"})
    missing = [c for c in ("pth", "label") if c not in table.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {missing}; it has {list(table.columns)}")
    return table


def read_affectnet_folders(
    root: str | Path,
    label_map: str | Mapping[str, Any] | None = "emotions8",
    group_column: str | None = None,
    check_files: bool = True,
) -> pd.DataFrame:
    """Read the Kaggle layout (``root/<emotion>/*.jpg`` + optional ``root/labels.csv``).

    ``group_column`` names a column of ``labels.csv`` holding identities. Rows of ``labels.csv``
    whose file is missing are skipped (``check_files``); images not listed there are counted.

    Example:
        >>> read_affectnet_folders("affectnet/", "depression_binary")[["path", "label"]]  # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"AffectNet folder {root} does not exist")
    mapping = resolve_label_map(label_map)
    folders = _class_folders(root)
    images = {emotion: _folder_images(folder) for emotion, folder in folders.items()}
    notes: list[str] = []
    for emotion, files in images.items():
        if not files:
            warnings.warn(f"{root}: class folder {folders[emotion]} is empty", stacklevel=2)
            notes.append(f"empty class folder: {folders[emotion].name}")
    labels_csv = root / "labels.csv"
    if labels_csv.exists():
        return _from_labels_csv(root, labels_csv, images, mapping, group_column, check_files, notes)
    if not folders:
        raise DataFormatError(f"{root}: no emotion folders ({', '.join(KAGGLE_FOLDERS)}) and no labels.csv")
    if group_column is not None:
        raise DataFormatError(f"{root}: group column {group_column!r} needs a labels.csv that holds it")
    notes.append("labels from folder names (no labels.csv)")
    files = [(e, p) for e, ps in images.items() for p in ps]
    df = pd.DataFrame({"path": [str(p) for _, p in files], "emotion": [e for e, _ in files]})
    rel = pd.Series([p.relative_to(root).with_suffix("").as_posix() for _, p in files])
    df.insert(0, "subject_id", _group_ids(df, None, rel, str(root)))
    where = [f"file {p.relative_to(root).as_posix()}" for _, p in files]
    return _finish(df, mapping, where, Counter(), notes, str(root))


def _from_labels_csv(root: Path, labels_csv: Path, images: dict[str, list[Path]], mapping: dict[str, Any],
                     group_column: str | None, check_files: bool, notes: list[str]) -> pd.DataFrame:
    table = _read_kaggle_labels(labels_csv)
    notes.append("labels from labels.csv")
    skipped: Counter = Counter()
    paths = [root / str(p).strip() for p in table["pth"]]
    keep = np.array([p.is_file() for p in paths]) if check_files else np.ones(len(paths), bool)
    if not keep.all():
        skipped["missing_file"] += int((~keep).sum())
        warnings.warn(f"{labels_csv}: {int((~keep).sum())} listed file(s) do not exist, e.g. "
                      f"{[str(p) for p, k in zip(paths, keep) if not k][:3]}", stacklevel=3)
    listed = {str(p.resolve()) for p in paths}
    unlisted = [p for files in images.values() for p in files if str(p.resolve()) not in listed]
    if unlisted:
        notes.append(f"{len(unlisted)} image(s) in class folders are not in labels.csv (ignored), "
                     f"e.g. {[p.relative_to(root).as_posix() for p in unlisted[:3]]}")
    rel = pd.Series([Path(str(p).strip()).with_suffix("").as_posix() for p in table["pth"]], index=table.index)
    subjects = _group_ids(table, group_column, rel, str(labels_csv))
    emotions = [canonical_emotion(v) for v in table["label"]]
    folder = [canonical_emotion(Path(str(p).strip()).parts[0]) if len(Path(str(p).strip()).parts) > 1 else None
              for p in table["pth"]]
    differs = sum(f is not None and f in EMOTIONS and f != e for f, e in zip(folder, emotions))
    if differs:
        notes.append(f"{differs} labels.csv label(s) differ from the image's folder (labels.csv is used)")
    df = pd.DataFrame({"subject_id": subjects.to_numpy(), "path": [str(p) for p in paths], "emotion": emotions})
    for column in ("relFCs", *BOX_COLUMNS):
        if column in table.columns:  # boxes are not in the Kaggle file, but are passed through when added
            df[column] = pd.to_numeric(table[column], errors="coerce").to_numpy()
    where = [f"row {i}" for i in (table.index.to_numpy() + 2)[keep]]
    return _finish(df[keep], mapping, where, skipped, notes, str(labels_csv))


# ---- official AffectNet CSV ------------------------------------------------------------------
def _expression_codes(table: pd.DataFrame, source: str) -> np.ndarray:
    """Integer expression codes; raises naming the first row that is not a code 0..10."""
    codes = pd.to_numeric(table["expression"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(codes) | (codes != np.round(codes)) | (codes < 0) | (codes > 10))
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(
            f"{source}, row {i + 2}: expression {table['expression'].tolist()[i]!r} is not a code 0..10"
        )
    return codes.astype(np.int64)


def default_image_root(csv_path: Path) -> Path:
    """``Manually_Annotated_Images`` next to the CSV when it exists, else the CSV's folder."""
    candidate = csv_path.parent / "Manually_Annotated_Images"
    return candidate if candidate.is_dir() else csv_path.parent


def read_affectnet_csv(
    csv_path: str | Path,
    image_root: str | Path | None = None,
    label_map: str | Mapping[str, Any] | None = "emotions8",
    group_column: str | None = None,
    split: str | None = None,
    check_files: bool = True,
) -> pd.DataFrame:
    """Read an official AffectNet annotation CSV (``training.csv`` / ``validation.csv``).

    Images are ``image_root / subDirectory_filePath`` (default: :func:`default_image_root`).
    Codes 8-10 are skipped and counted; valence/arousal of -2 (not annotated) become NaN; the
    face box columns are kept for cropping. ``split`` fills a ``split`` column when given.

    Example:
        >>> df = read_affectnet_csv("AffectNet/training.csv", label_map="depression_binary")  # doctest: +SKIP
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataFormatError(f"AffectNet CSV {csv_path} does not exist")
    table = pd.read_csv(csv_path)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("subDirectory_filePath", "expression") if c not in table.columns]
    if missing:
        raise DataFormatError(f"{csv_path}: missing column(s) {missing}; it has {list(table.columns)}")
    mapping = resolve_label_map(label_map)
    root = Path(image_root) if image_root is not None else default_image_root(csv_path)
    codes = _expression_codes(table, str(csv_path))
    skipped: Counter = Counter({f"expression {c} ({name})": int((codes == c).sum())
                                for c, name in SKIPPED_CODES.items() if (codes == c).any()})
    keep = ~np.isin(codes, list(SKIPPED_CODES))
    rel = table["subDirectory_filePath"].astype(str).str.strip()
    paths = np.array([str(root / p) for p in rel], dtype=object)
    if check_files:
        exists = np.array([keep[i] and Path(p).is_file() for i, p in enumerate(paths)])
        if (keep & ~exists).any():
            skipped["missing_file"] += int((keep & ~exists).sum())
            warnings.warn(f"{csv_path}: {int((keep & ~exists).sum())} image(s) not found under {root}, e.g. "
                          f"{paths[keep & ~exists][:3].tolist()}", stacklevel=2)
        keep &= exists
    fallback = pd.Series([str(Path(p).with_suffix("").as_posix()) for p in rel], index=table.index)
    subjects = _group_ids(table, group_column, fallback, str(csv_path))
    df = pd.DataFrame({"subject_id": subjects.to_numpy(), "path": paths,
                       "emotion": [EMOTIONS[c] if c < len(EMOTIONS) else "" for c in codes]})
    for column in BOX_COLUMNS:
        if column in table.columns:
            df[column] = pd.to_numeric(table[column], errors="coerce").to_numpy()
    for column in ("valence", "arousal"):
        if column in table.columns:
            values = pd.to_numeric(table[column], errors="coerce")
            df[column] = values.where(values > -2).to_numpy()  # -2: not annotated
    if split is not None:
        df["split"] = split
    where = [f"row {i}" for i in (table.index.to_numpy() + 2)[keep]]
    return _finish(df[keep], mapping, where, skipped, [f"images under {root}"], str(csv_path))


def read_affectnet_official(
    root: str | Path,
    image_root: str | Path | None = None,
    label_map: str | Mapping[str, Any] | None = "emotions8",
    group_column: str | None = None,
    check_files: bool = True,
) -> pd.DataFrame:
    """A CSV file, or a folder with ``training.csv`` (split ``train``) and/or ``validation.csv`` (``test``).

    The official validation set is AffectNet's usual test set; with both files, the manifest's
    ``split`` column holds ``train``/``test`` (``split: column`` then has no validation images;
    k-fold ignores the column).
    """
    root = Path(root)
    if root.is_file():
        return read_affectnet_csv(root, image_root, label_map, group_column, None, check_files)
    parts = [(root / name, split) for name, split in (("training.csv", "train"), ("validation.csv", "test"))
             if (root / name).is_file()]
    if not parts:
        raise DataFormatError(f"{root}: neither a CSV file nor a folder with training.csv / validation.csv")
    frames = [read_affectnet_csv(path, image_root, label_map, group_column, split if len(parts) > 1 else None,
                                 check_files) for path, split in parts]
    df = pd.concat(frames, ignore_index=True)
    skipped: Counter = Counter()
    for frame in frames:
        skipped.update(frame.attrs["report"]["skipped"])
    df.attrs["report"] = {"rows": len(df), "skipped": dict(skipped),
                          "notes": [n for f in frames for n in f.attrs["report"]["notes"]]}
    return df
