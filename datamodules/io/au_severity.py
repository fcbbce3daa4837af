"""Frame-level AU depression-severity CSV (Gilanie, Zenodo 10.5281/zenodo.15245035).

35 OpenFace AU columns (read by name, with or without a leading space) plus a 4-class label.
The file has no subject id, so frame-level splits leak identity unless a group column exists.

Example:
    >>> x, y, groups = read_au_severity_csv("data/AU_features.csv")  # doctest: +SKIP
    >>> x.shape[1], sorted(set(y.tolist()))  # doctest: +SKIP
    (35, [0, 1, 2, 3])
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.io.frame_table import read_header

AU_SEVERITY_CLASSES: tuple[str, ...] = ("healthy", "mild", "moderate", "severe")
LEAKAGE_WARNING = (
    "{path}: no group (subject) column given. This AU severity CSV has no subject id, so any "
    "frame-level train/val/test split puts frames of the same person in several splits and "
    "LEAKS IDENTITY: scores will be optimistic and say little about new people."
)


def _first_bad(mask: np.ndarray) -> int | None:
    bad = np.flatnonzero(mask)
    return int(bad[0]) if bad.size else None


def read_au_severity_csv(
    path: str | Path, label_column: str = "label", group_column: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(X (N, 35) float32 in ALL_AU_COLUMNS order, y (N,) int64 in 0..3, groups or None)``.

    Raises :class:`DataFormatError` for missing AU/label/group columns, unparseable AU values
    or labels outside {0, 1, 2, 3} (naming the first bad row). Warns (UserWarning) about
    identity leakage when ``group_column`` is None.
    """
    header = read_header(path)
    present = set(header)
    missing = [c for c in ALL_AU_COLUMNS if c not in present]
    if missing:
        raise DataFormatError(f"{path}: missing {len(missing)} AU column(s): {missing}")
    if label_column not in present:
        raise DataFormatError(f"{path}: no label column '{label_column}'; columns present: {header}")
    if group_column is not None and group_column not in present:
        raise DataFormatError(f"{path}: no group column '{group_column}'; columns present: {header}")
    wanted = set(ALL_AU_COLUMNS) | {label_column} | ({group_column} if group_column else set())
    dtypes = {group_column: str} if group_column else None
    try:
        df = pd.read_csv(path, usecols=lambda c: c.strip() in wanted, skipinitialspace=True,
                         encoding="utf-8-sig", engine="c", low_memory=False, dtype=dtypes)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataFormatError(f"{path}: cannot parse CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise DataFormatError(f"{path}: no data rows")
    x = np.empty((len(df), len(ALL_AU_COLUMNS)), dtype=np.float32)
    for j, c in enumerate(ALL_AU_COLUMNS):
        num = pd.to_numeric(df[c], errors="coerce")
        i = _first_bad((num.isna() & df[c].notna()).to_numpy())
        if i is not None:
            raise DataFormatError(f"{path}: data row {i + 1} (file line {i + 2}), column '{c}': cannot parse {df[c].iloc[i]!r}")
        x[:, j] = num.to_numpy(dtype=np.float32, na_value=np.nan)
    lab = pd.to_numeric(df[label_column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    i = _first_bad(~np.isin(lab, [0.0, 1.0, 2.0, 3.0]))
    if i is not None:
        raise DataFormatError(
            f"{path}: data row {i + 1} (file line {i + 2}), column '{label_column}': label must be an integer "
            f"in 0..3 {AU_SEVERITY_CLASSES}, got {df[label_column].iloc[i]!r}"
        )
    groups = None
    if group_column is None:
        warnings.warn(LEAKAGE_WARNING.format(path=path), UserWarning, stacklevel=2)
    else:
        g = df[group_column]
        i = _first_bad(g.isna().to_numpy())
        if i is not None:
            raise DataFormatError(f"{path}: data row {i + 1} (file line {i + 2}): empty group column '{group_column}'")
        groups = g.astype(str).str.strip().to_numpy(dtype=object)
    return x, lab.astype(np.int64), groups
