"""The manifest: one table that lists samples, the single contract between readers and DataModules.

Required columns: ``subject_id, path, label``. Optional: ``score, split, session, row``.
``path`` is absolute or relative to the manifest's own folder. CSV or Parquet by file suffix.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": ["s1"], "path": ["a.csv"], "label": [1]})
    >>> write_manifest(df, "/tmp/m.csv")  # doctest: +SKIP
    >>> load_manifest("/tmp/m.csv", check_paths=False)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datamodules.io.au_table import DataFormatError

REQUIRED_COLUMNS: tuple[str, ...] = ("subject_id", "path", "label")
OPTIONAL_COLUMNS: tuple[str, ...] = ("score", "split", "session", "row")
SPLIT_VALUES: tuple[str, ...] = ("train", "val", "test")


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
    table, an empty subject id or, with ``check_paths``, a listed file that does not exist.
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
        raise DataFormatError(f"manifest {path}: empty subject_id in row(s) {[i + 2 for i in bad[:10]]}")
    root = path.parent
    unique = df["path"].astype(str).unique()  # frame-level manifests repeat one path many times
    df["path"] = df["path"].astype(str).map({p: str(p if Path(p).is_absolute() else (root / p)) for p in unique})
    if check_paths:
        for i, p in enumerate(df["path"].unique()):
            if not Path(p).exists():
                row = int(df.index[df["path"] == p][0]) + 2
                raise DataFormatError(f"manifest {path}, row {row}: file {p} does not exist")
    if "split" in df.columns:
        check_split_column(df, str(path))
    return df


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
