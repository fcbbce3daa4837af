"""Build a manifest of face images (AffectNet layouts). See ``python scripts/make_image_manifest.py --help``.

Example:
    $ python scripts/make_image_manifest.py --format affectnet-folders data/affectnet \\
        --out data/affectnet/manifest.csv --label-map depression_binary
    $ python scripts/make_image_manifest.py --format affectnet-csv data/AffectNet/training.csv \\
        --out data/AffectNet/manifest.csv --label-map '{"sad": 1, "happy": 0, "neutral": 0}'
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.io.affectnet import LABEL_MAPS, read_affectnet_folders, read_affectnet_official
from datamodules.io.au_table import DataFormatError
from datamodules.make_manifest import manifest_path
from datamodules.manifest import write_manifest

FORMATS: tuple[str, ...] = ("affectnet-folders", "affectnet-csv")


def parse_label_map(text: str) -> str | dict[str, Any]:
    """A named map, a JSON object, or a path to a ``.json`` file holding one.

    >>> parse_label_map('{"sad": 1, "happy": 0}')
    {'sad': 1, 'happy': 0}
    """
    if text in LABEL_MAPS:
        return text
    if Path(text).is_file():
        text = Path(text).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--label-map: {text!r} is neither one of {list(LABEL_MAPS)} nor a JSON object ({exc})")
    if not isinstance(value, dict):
        raise ValueError(f"--label-map: expected a JSON object emotion -> label, got {type(value).__name__}")
    return value


def read_images(fmt: str, root: str | Path, label_map: str | Mapping[str, Any] = "emotions8",
                group_column: str | None = None, image_root: str | Path | None = None) -> pd.DataFrame:
    """The image table of ``root`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "affectnet-folders":
        return read_affectnet_folders(root, label_map, group_column)
    if fmt == "affectnet-csv":
        return read_affectnet_official(root, image_root, label_map, group_column)
    raise ValueError(f"unknown image format {fmt!r}; use one of {list(FORMATS)}")


def build_image_manifest(fmt: str, root: str | Path, out: str | Path, label_map: str | Mapping[str, Any] = "emotions8",
                         group_column: str | None = None, image_root: str | Path | None = None) -> pd.DataFrame:
    """Read ``root`` and write the manifest to ``out`` (paths relative to its folder when under it).

    Example:
        >>> build_image_manifest("affectnet-folders", "faces/", "faces/manifest.csv")  # doctest: +SKIP
    """
    df = read_images(fmt, root, label_map, group_column, image_root)
    report = df.attrs.get("report", {})
    out_dir = Path(out).parent.absolute()
    df = df.assign(path=[manifest_path(Path(p), out_dir) for p in df["path"]])
    write_manifest(df, out)
    df.attrs["report"] = report
    return df


def _print_summary(df: pd.DataFrame, out: str | Path) -> None:
    report = df.attrs.get("report", {})
    print(f"wrote {out}: {len(df)} image(s), {df['subject_id'].nunique()} subject(s)")
    print(f"label counts: {df['label'].value_counts().sort_index().to_dict()}")
    print(f"emotion counts: {df['emotion'].value_counts().sort_index().to_dict()}")
    if "split" in df.columns:
        print(f"split counts: {df['split'].value_counts().to_dict()}")
    print(f"skipped: {report.get('skipped', {})}")
    for note in report.get("notes", []):
        print(f"note: {note}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Build a facedep manifest from face images (AffectNet layouts).")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("root", help="Kaggle folder (affectnet-folders), or an official CSV / a folder with "
                                "training.csv and validation.csv (affectnet-csv)")
    p.add_argument("--out", required=True, help="manifest file (.csv or .parquet)")
    p.add_argument("--label-map", default="emotions8", type=parse_label_map,
                   help=f"{' | '.join(LABEL_MAPS)} or a JSON object / .json file emotion -> label "
                        "(null drops an emotion); depression_binary is a proxy: sad=1, others 0")
    p.add_argument("--group-column", help="CSV column with identities (default: every image is its own subject)")
    p.add_argument("--image-root", help="folder of the images of an official CSV "
                                        "(default: Manually_Annotated_Images next to it, else its folder)")
    return p


def make_image_manifest(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 on a data error)."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            df = build_image_manifest(args.format, args.root, args.out, args.label_map, args.group_column,
                                      args.image_root)
        except (DataFormatError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"WARNING: {w.message}", file=sys.stderr)
    _print_summary(df, args.out)
    return 0


main = make_image_manifest
