"""Hugging-Rain-Man (HRM) AU labels and frame images; AU subsets for multi-label AU detection.

Layout (our convention, mirroring the public release: one label CSV per subject, images named
by frame number)::

    <root>/labels/<subject>.csv   or   <root>/labels/<group>/<subject>.csv   (group: ASD / TD, ...)
    <root>/images/<subject>/000021.jpg | 21.png | frame_det_00_000021.bmp (OpenFace aligned)

A label CSV has the 38 :data:`HRM_LABEL_COLUMNS`; values are 0 absent, 1 present, 2 left,
3 right, 4 top, 5 bottom (2-5 all mean present). Regression CSVs add the 6
:data:`HRM_REGRESSION_COLUMNS` (0-4: five annotators and their average). Runs of consecutive
frame numbers are segments (the release starts a new segment at every gap).

Example:
    >>> segments([1, 2, 3, 7, 8, 10]).tolist()
    [0, 0, 0, 1, 1, 2]
    >>> frame_number("S1_aligned/frame_det_00_000021.bmp")
    21
    >>> resolve_au_subset("hrm17")[:3]
    ('AU1', 'AU2', 'AU4')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_AUS, PRESENCE_AUS, AUTable, DataFormatError

HRM_LABEL_COLUMNS: tuple[str, ...] = (
    "frame", "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU43", "AU8", "AU9", "AU10", "AU12", "AU13",
    "AU14", "AU15", "AU16", "AU17", "AU18", "AD19", "AU20", "AU21", "AU22", "AU23", "AU24", "AU25", "AU2X",
    "AU28", "AD29", "AD30", "AU31", "AD32", "AD33", "AD34", "AD35", "AD36", "AD37", "AU0", "ASD",
)
HRM_REGRESSION_COLUMNS: tuple[str, ...] = (
    "Abnormal-j", "Abnormal-jie", "Abnormal-y", "Abnormal-z", "Abnormal-w", "Abnormal-avg",
)
#: The 36 AU/AD columns of a label CSV (``frame`` and the ``ASD`` flag excluded).
HRM_AU_NAMES: tuple[str, ...] = HRM_LABEL_COLUMNS[1:-1]
#: OpenFace's AU names (the ``AUxx_c`` presence set; the ``_r`` intensity set is a subset).
OPENFACE_AU_NAMES: tuple[str, ...] = PRESENCE_AUS
AU_SUBSETS: dict[str, tuple[str, ...]] = {
    "hrm22": ("AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU16", "AU17", "AU18",
              "AD19", "AU20", "AU23", "AU24", "AU25", "AU2X", "AU28", "AD32", "AU43"),
    "hrm17": ("AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU16", "AU17", "AU20",
              "AU23", "AU24", "AU25", "AU2X"),
    "hrm_all": HRM_AU_NAMES,
    "openface_r17": INTENSITY_AUS,
    "openface_c18": PRESENCE_AUS,
}
KNOWN_AUS: tuple[str, ...] = HRM_AU_NAMES + OPENFACE_AU_NAMES
#: HRM names with an exact OpenFace counterpart (AU2X = 26/27, AU43 and the ADs have none).
HRM_TO_OPENFACE: dict[str, str] = {
    au: f"AU{int(au[2:]):02d}" for au in HRM_AU_NAMES
    if au.startswith("AU") and au[2:].isdigit() and f"AU{int(au[2:]):02d}" in PRESENCE_AUS
}
LABEL_RANGE: tuple[int, int] = (0, 5)
REGRESSION_RANGE: tuple[float, float] = (0.0, 4.0)
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def resolve_au_subset(spec: str | Sequence[str]) -> tuple[str, ...]:
    """AU names of a named subset (:data:`AU_SUBSETS`) or a validated explicit list.

    >>> resolve_au_subset(["AU1", "AD19"])
    ('AU1', 'AD19')
    """
    if isinstance(spec, str):
        if spec not in AU_SUBSETS:
            raise ValueError(f"unknown AU subset {spec!r}; use one of {list(AU_SUBSETS)} or a list of AU names")
        return AU_SUBSETS[spec]
    names = tuple(str(a).strip() for a in spec)
    unknown = [a for a in names if a not in KNOWN_AUS]
    if unknown:
        raise ValueError(f"unknown AU name(s) {unknown}; valid names: HRM {list(HRM_AU_NAMES)}, "
                         f"OpenFace {list(OPENFACE_AU_NAMES)}")
    if not names or len(set(names)) != len(names):
        raise ValueError(f"AU list must be non-empty without duplicates, got {list(names)}")
    return names


# ---- label CSVs ------------------------------------------------------------------------------
def _read_table(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, skipinitialspace=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot parse CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _bad_cells(raw: pd.Series, lo: float, hi: float, integer: bool, allow_empty: bool) -> np.ndarray:
    """Row positions whose value is not a number in [lo, hi] (integer if asked; empty allowed if asked)."""
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    empty = raw.isna().to_numpy() | raw.astype(str).str.strip().eq("").to_numpy()
    bad = np.isnan(values) | (values < lo) | (values > hi)
    if integer:
        bad |= ~np.isnan(values) & (values != np.round(values))
    if allow_empty:
        bad &= ~empty
    return np.flatnonzero(bad)


def read_hrm_labels(path: str | Path) -> pd.DataFrame:
    """One subject's label (or regression) CSV, validated, columns as in the file, sorted by frame.

    Raises :class:`DataFormatError` naming the file for missing columns, and the file, line,
    frame and column for a frame number that is not a unique integer >= 0, a label outside 0-5
    or not an integer, or a rating outside 0-4 (empty ratings are kept as NaN).

    Example:
        >>> read_hrm_labels("labels/ASD/S1.csv")[["frame", "AU1"]].head(2)  # doctest: +SKIP
    """
    path = Path(path)
    df = _read_table(path)
    missing = [c for c in HRM_LABEL_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {missing}; an HRM label CSV has {list(HRM_LABEL_COLUMNS)}")
    present = [c for c in HRM_REGRESSION_COLUMNS if c in df.columns]
    if present and len(present) != len(HRM_REGRESSION_COLUMNS):
        absent = [c for c in HRM_REGRESSION_COLUMNS if c not in df.columns]
        raise DataFormatError(f"{path}: missing regression column(s) {absent} (it has {present})")
    bad = _bad_cells(df["frame"], 0, np.inf, integer=True, allow_empty=False)
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(f"{path}, line {i + 2}, column 'frame': {df['frame'].iloc[i]!r} is not a frame number")
    df["frame"] = pd.to_numeric(df["frame"]).astype(np.int64)
    dup = df["frame"].duplicated(keep=False).to_numpy()
    if dup.any():
        lines = (np.flatnonzero(dup) + 2).tolist()
        first = int(df["frame"][dup].iloc[0])
        raise DataFormatError(f"{path}: frame {first} is listed more than once (lines {lines[:6]})")
    checks = [(c, *LABEL_RANGE, True, False) for c in HRM_LABEL_COLUMNS[1:]]
    checks += [(c, *REGRESSION_RANGE, False, True) for c in present]
    for column, lo, hi, integer, allow_empty in checks:
        bad = _bad_cells(df[column], lo, hi, integer, allow_empty)
        if bad.size:
            i = int(bad[0])
            kind = "a label code 0-5 (0 absent, 1 present, 2-5 present on one side)" if integer else "a rating 0-4"
            raise DataFormatError(f"{path}, line {i + 2} (frame {int(df['frame'].iloc[i])}), column '{column}': "
                                  f"{df[column].iloc[i]!r} is not {kind} ({bad.size} bad cell(s) in this column)")
        df[column] = pd.to_numeric(df[column]).astype(np.int64 if integer else np.float64)
    df = df.sort_values("frame", kind="stable").reset_index(drop=True)
    df.attrs["source"] = str(path)
    return df


def presence(table: pd.DataFrame, aus: Sequence[str]) -> np.ndarray:
    """``(N, K)`` float32 presence of ``aus``: 1 where the code is 1-5, 0 where 0, NaN where missing.

    >>> presence(pd.DataFrame({"AU1": [0, 1, 3], "AU2": [2, 0, 5]}), ["AU1", "AU2"]).tolist()
    [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    """
    missing = [a for a in aus if a not in table.columns]
    if missing:
        raise DataFormatError(f"{table.attrs.get('source', 'table')}: no column(s) for AU(s) {missing}")
    values = table[list(aus)].to_numpy(dtype=np.float32)
    return np.where(np.isnan(values), np.nan, (values > 0).astype(np.float32)).astype(np.float32)


def segments(frames: Sequence[int] | np.ndarray) -> np.ndarray:
    """Segment index per row: a new segment starts wherever a frame is not the previous one + 1."""
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(np.diff(frames) != 1)]).astype(np.int64)


def read_hrm_au_table(path: str | Path, aus: str | Sequence[str] = "hrm22") -> tuple[pd.DataFrame, np.ndarray | None]:
    """AU sequence of one subject: ``frame, segment`` + one 0/1 float32 column per AU; and the ratings.

    The second value is ``Abnormal-avg`` per row (float32, 0-4, NaN where empty) for a
    regression CSV, else ``None``. Windows must not cross ``segment`` boundaries.

    Example:
        >>> seq, atypicality = read_hrm_au_table("labels/ASD/S1.csv", "hrm22")  # doctest: +SKIP
        >>> seq.shape[1] - 2  # doctest: +SKIP
        22
    """
    names = resolve_au_subset(aus)
    table = read_hrm_labels(path)
    out = pd.DataFrame({"frame": table["frame"].to_numpy(), "segment": segments(table["frame"])})
    out = pd.concat([out, pd.DataFrame(presence(table, names), columns=list(names))], axis=1)
    rating = table["Abnormal-avg"].to_numpy(dtype=np.float32) if "Abnormal-avg" in table.columns else None
    return out, rating


def read_hrm_au_file(path: str | Path) -> AUTable:
    """An HRM label CSV as a canonical :class:`AUTable` (the registry's ``hrm`` reader).

    Only AUs with an exact OpenFace name (:data:`HRM_TO_OPENFACE`) fill their ``AUxx_c``
    presence channel; the others (AU2X, AU43, AD19, AD32, ...) are not representable there and
    are left out (use :func:`read_hrm_au_table` for them). No timestamps (NaN), confidence 1.
    """
    table = read_hrm_labels(path)
    n = len(table)
    if n == 0:
        raise DataFormatError(f"{path}: no data rows")
    values = np.full((n, len(ALL_AU_COLUMNS)), np.nan, dtype=np.float32)
    available = []
    for hrm, openface in HRM_TO_OPENFACE.items():
        j = ALL_AU_COLUMNS.index(f"{openface}_c")
        values[:, j] = presence(table, [hrm])[:, 0]
        available.append(f"{openface}_c")
    order = {c: i for i, c in enumerate(ALL_AU_COLUMNS)}
    return AUTable(
        source=str(path), values=values, frame=table["frame"].to_numpy(np.int64), timestamp=np.full(n, np.nan),
        confidence=np.ones(n, np.float32), success=np.ones(n, bool),
        available=tuple(sorted(available, key=order.__getitem__)),
        notes={"rows_read": n, "duplicate_frames_dropped": 0, "other_face_rows_dropped": 0, "values_clipped": 0,
               "segments": int(segments(table["frame"])[-1]) + 1},
    )


def find_hrm_label_files(root: str | Path) -> list[tuple[str, str | None, Path]]:
    """``(subject_id, group, csv)`` for ``root/labels/[<group>/]<subject>.csv`` (``*-backup.csv`` skipped).

    The subject id is ``<group>/<subject>`` inside a group folder (the release reuses names across
    ASD and TD), else the file stem.

    Example:
        >>> find_hrm_label_files("data/HRM")[0]  # doctest: +SKIP
        ('ASD/S1', 'ASD', PosixPath('data/HRM/labels/ASD/S1.csv'))
    """
    labels_dir = Path(root) / "labels"
    if not labels_dir.is_dir():
        raise DataFormatError(f"{root}: no labels/ folder (expected labels/[<group>/]<subject>.csv)")
    out = []
    for csv in sorted(labels_dir.rglob("*.csv")):
        if csv.stem.endswith("-backup"):  # the annotation tool's backup of the previous save
            continue
        group = csv.parent.relative_to(labels_dir).as_posix()
        group = None if group == "." else group
        out.append((csv.stem if group is None else f"{group}/{csv.stem}", group, csv))
    return out


# ---- frame images ----------------------------------------------------------------------------
def frame_number(path: str | Path, pattern: str | re.Pattern[str] | None = None) -> int:
    """Frame number of an image: the last run of digits in its stem (or ``pattern``'s first group).

    >>> frame_number("000021.jpg"), frame_number("21.png"), frame_number("21_0.jpg", r"^(\\d+)_")
    (21, 21, 21)
    """
    stem = Path(path).stem
    match = re.search(pattern, stem) if pattern is not None else _DIGITS.search(stem)
    if match is None:
        raise ValueError(f"{path}: no frame number in the file name"
                         + (f" (pattern {getattr(pattern, 'pattern', pattern)!r})" if pattern is not None else ""))
    return int(match.group(1))


def index_frame_images(folder: str | Path, pattern: str | None = None, glob: str = "*") -> dict[int, Path]:
    """Frame number -> image file for the images (by suffix) in ``folder`` matching ``glob``.

    Raises :class:`DataFormatError` naming the file whose name has no frame number, or both
    files when two images give the same frame number (e.g. ``21.jpg`` and ``000021.png``).

    Example:
        >>> index_frame_images("images/S1")  # doctest: +SKIP
        {1: PosixPath('images/S1/000001.jpg'), ...}
    """
    out: dict[int, Path] = {}
    for path in sorted(Path(folder).glob(glob)):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            frame = frame_number(path, pattern)
        except ValueError as exc:
            raise DataFormatError(str(exc)) from None
        if frame in out:
            raise DataFormatError(f"{folder}: frame {frame} has two images, {out[frame].name} and {path.name} "
                                  "(several faces? select one with a glob such as 'frame_det_00_*')")
        out[frame] = path
    return out
