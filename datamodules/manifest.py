"""The manifest: one table that lists samples, the single contract between readers and DataModules.

Required columns: ``subject_id, path, label``. Optional: ``score, split, session, row``. ``score`` (e.g. the
PHQ-8 total) is needed by ``target: score`` and ``score_bands``, which check it (:mod:`datamodules.scores`).
``path`` is absolute or relative to the manifest's own folder. CSV or Parquet by file suffix.
A sample (``path``, or ``path`` + ``row`` in frame-level manifests) is listed once, under one subject.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": ["s1"], "path": ["a.csv"], "label": [1]})
    >>> write_manifest(df, "/tmp/m.csv")  # doctest: +SKIP
    >>> load_manifest("/tmp/m.csv", check_paths=False)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import DataFormatError

REQUIRED_COLUMNS: tuple[str, ...] = ("subject_id", "path", "label")
OPTIONAL_COLUMNS: tuple[str, ...] = ("score", "split", "session", "row")
SPLIT_VALUES: tuple[str, ...] = ("train", "val", "test")
MAX_NAMED = 5


def csv_rows(index: pd.Index | list[int]) -> list[int]:
    """Row numbers as a user sees them in the CSV (header = row 1) of 0-based manifest positions."""
    return [int(i) + 2 for i in index]


def write_manifest(df: pd.DataFrame, out: str | Path) -> Path:
    """Validate the columns of ``df`` and write it as CSV or Parquet (by ``out``'s suffix)."""
    out = Path(out)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(f"manifest for {out}: missing required columns {missing}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)
    return out


def load_manifest(path: str | Path, check_paths: bool = True) -> pd.DataFrame:
    """Read and validate a manifest; ``path`` column is made absolute.

    Raises :class:`DataFormatError` naming the manifest (and row) for a missing column, an empty
    table, an empty subject id, a sample listed twice or under two subject ids
    (:func:`check_duplicates`) or, with ``check_paths``, a listed file that does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"manifest {path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow

        df = pd.read_parquet(path)
        pyarrow.default_memory_pool().release_unused()  # the decode buffers: ~10 MB per 100k rows kept otherwise
    else:
        df = pd.read_csv(path, dtype={"subject_id": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(f"manifest {path}: missing required columns {missing}; it has {list(df.columns)}")
    if df.empty:
        raise DataFormatError(f"manifest {path} lists no samples")
    df = df.copy()
    df["subject_id"] = df["subject_id"].astype(str)
    bad = df.index[df["subject_id"].str.strip().isin(["", "nan"])].tolist()
    if bad:
        raise DataFormatError(f"manifest {path}: empty subject_id in row(s) {csv_rows(bad[:10])}")
    root = path.parent
    unique = df["path"].astype(str).unique()  # frame-level manifests repeat one path many times
    df["path"] = df["path"].astype(str).map({p: str(p if Path(p).is_absolute() else (root / p)) for p in unique})
    check_duplicates(df, f"manifest {path}")
    if check_paths:
        for i, p in enumerate(df["path"].unique()):
            if not Path(p).exists():
                row = int(df.index[df["path"] == p][0]) + 2
                raise DataFormatError(f"manifest {path}, row {row}: file {p} does not exist")
    if "split" in df.columns:
        check_split_column(df, str(path))
    return df


def check_duplicates(df: pd.DataFrame, source: str) -> None:
    """Fail when one sample is listed twice: the same file (after resolving links and ``..``; with a ``row``
    column, the same file and row) under two subject ids (identity leakage across folds) or repeated.

    Rows are named as in the CSV (header = row 1). ``df`` has its manifest order and 0-based index.
    """
    listed, names = pd.factorize(df["path"])
    resolved_codes, resolved = pd.factorize(pd.Series([os.path.realpath(p) for p in names], dtype=object))
    codes = resolved_codes.astype(np.int64)[listed]  # one integer per resolved file
    if "row" in df.columns:
        rows = pd.factorize(df["row"])[0].astype(np.int64)
        codes = codes * (int(rows.max()) + 1) + rows  # one integer per (file, row): a fast duplicate test
    codes = pd.Series(codes, index=df.index)
    if not codes.duplicated().any():
        return
    key = pd.DataFrame({"path": np.asarray(resolved, dtype=object)[resolved_codes[listed]]}, index=df.index)
    if "row" in df.columns:
        key["row"] = df["row"].to_numpy()
    repeated = codes.duplicated(keep=False).to_numpy()
    by = list(key.columns) if len(key.columns) > 1 else "path"
    groups = list(key[repeated].groupby(by, sort=False).groups.values())
    lines = []
    for rows in groups[:MAX_NAMED]:
        subjects = df.loc[rows, "subject_id"]
        where = f"file {key.loc[rows[0], 'path']}" + (f" row {df.loc[rows[0], 'row']}" if "row" in df.columns else "")
        if subjects.nunique() > 1:
            listed = ", ".join(f"{s!r} (row {r})" for s, r in zip(subjects, csv_rows(rows)))
            lines.append(f"{where} is listed under {subjects.nunique()} subject ids: {listed} (identity leakage across folds)")
        else:
            lines.append(f"{where} is listed {len(rows)} times, rows {csv_rows(rows)} (subject {subjects.iloc[0]!r})")
    more = f"; and {len(groups) - MAX_NAMED} more" if len(groups) > MAX_NAMED else ""
    raise DataFormatError(f"{source}: {len(groups)} sample(s) listed more than once: " + "; ".join(lines) + more)


def check_split_complete(df: pd.DataFrame, source: str) -> None:
    """Fail on blank ``split`` cells (they would silently drop their subjects), naming rows and subjects."""
    blank = df["split"].isna() | (df["split"].astype(str).str.strip() == "")
    if blank.any():
        rows = df.index[blank.to_numpy()]
        subjects = sorted(df.loc[rows, "subject_id"].astype(str).unique())
        raise DataFormatError(
            f"{source}: {int(blank.sum())} row(s) have a blank 'split' cell, rows {csv_rows(rows[:10])}, "
            f"subject(s) {subjects[:10]}; give every row one of {list(SPLIT_VALUES)} (or drop the rows)")


def check_split_column(df: pd.DataFrame, source: str) -> None:
    """Fail if a split value is unknown or a subject appears in more than one split."""
    values = set(df["split"].dropna().astype(str))
    unknown = values - set(SPLIT_VALUES)
    if unknown:
        raise DataFormatError(f"{source}: column 'split' has unknown values {sorted(unknown)}; use {list(SPLIT_VALUES)}")
    per_subject = df.dropna(subset=["split"]).groupby("subject_id")["split"].nunique()
    leaking = per_subject[per_subject > 1].index.tolist()
    if leaking:
        examples = {s: sorted(df.loc[df["subject_id"] == s, "split"].astype(str).unique()) for s in leaking[:5]}
        raise DataFormatError(
            f"{source}: {len(leaking)} subject(s) appear in more than one split (identity leakage): {examples}"
        )
