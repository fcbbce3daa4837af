"""A sub-manifest: only some subjects' rows of a manifest, with every path made absolute.

The inner cross-validation of late fusion trains on the outer training subjects only: their rows are written to a
new manifest (the outer test subjects' rows are not in it, so no inner run can read them). ``path`` and every
``*_path`` column (``au_path``, ``landmarks_path``, ``faces_path`` of a multimodal manifest) are relative to the
manifest's folder; they are resolved against the original folder so that the new file can live anywhere. Blank
cells (a video without that view) stay blank.

Example:
    >>> write_submanifest("data/manifest.csv", ["s1", "s2"], "runs/lf/fold0/inner/aus/manifest.csv")  # doctest: +SKIP
    {'path': 'runs/lf/fold0/inner/aus/manifest.csv', 'subjects': 2, 'rows': 4, ...}
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.manifest import write_manifest


def read_raw_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest as stored (CSV or Parquet), ``subject_id`` as text; paths untouched."""
    path = Path(path)
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path, dtype={"subject_id": str}, keep_default_na=True)
    table["subject_id"] = table["subject_id"].astype(str)
    return table


def path_columns(table: pd.DataFrame) -> list[str]:
    """``path`` and the ``*_path`` columns.

    Example:
        >>> path_columns(pd.DataFrame(columns=["subject_id", "path", "au_path", "label"]))
        ['path', 'au_path']
    """
    return [c for c in table.columns if c == "path" or str(c).endswith("_path")]


def _absolute(value: object, root: Path) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == "":
        return value
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else root / path)


def write_submanifest(manifest: str | Path, subjects: Iterable[str], out: str | Path) -> dict[str, Any]:
    """Write the rows of ``subjects`` of ``manifest`` to ``out`` (CSV) with absolute paths; returns what was written.

    Raises ValueError when a subject is not in the manifest (the views and the manifest disagree).
    """
    manifest = Path(os.path.abspath(manifest))  # as load_manifest: relative to the file's folder, links kept
    table = read_raw_manifest(manifest)
    wanted = sorted({str(s) for s in subjects})
    unknown = sorted(set(wanted) - set(table["subject_id"]))
    if unknown:
        raise ValueError(f"{manifest}: subject(s) {unknown[:5]} of the outer training fold are not in the manifest")
    kept = table[table["subject_id"].isin(wanted)].copy()
    for column in path_columns(kept):
        kept[column] = kept[column].map(lambda v: _absolute(v, manifest.parent))
    out = write_manifest(kept, Path(out).with_suffix(".csv"))
    return {"path": str(out), "source": str(manifest), "subjects": int(kept["subject_id"].nunique()), "rows": len(kept),
            "rows_left_out": len(table) - len(kept), "subjects_left_out": int(table["subject_id"].nunique() - kept["subject_id"].nunique())}
