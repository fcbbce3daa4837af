"""Build a manifest (see :mod:`datamodules.manifest`) from AU files and labels.

Formats: ``openface-dir`` / ``opendbm-dir`` (a folder of per-video CSVs + a ``--labels`` CSV),
``daic-woz`` / ``e-daic`` (official folder layout and split CSVs), ``au-severity-csv`` (one
frame-level CSV -> one manifest row per frame).

Example:
    $ python scripts/make_manifest.py --format opendbm-dir data/ --labels labels.csv --out data/manifest.csv
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_severity import read_au_severity_csv
from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError
from datamodules.io.daic import (
    find_daic_woz_au_files,
    find_daic_woz_landmark_files,
    find_e_daic_au_files,
    read_daic_woz_labels,
    read_e_daic_labels,
)
from datamodules.io.frame_table import read_header
from datamodules.manifest import check_split_column, write_manifest

FORMATS: tuple[str, ...] = ("openface-dir", "opendbm-dir", "daic-woz", "e-daic", "au-severity-csv")
DEFAULT_SUBJECT_REGEX = r"(?P<subject>.+?)_(?P<session>timepoint\d+|session\d+|t\d+)"
KNOWN_SUFFIXES: tuple[str, ...] = ("_OpenFace2.1.0_Pose_gaze_AUs", "_CLNF_AUs", "_facau", "_openface")
MAX_LISTED = 50


def parse_subject(stem: str, regex: re.Pattern[str]) -> tuple[str, str | None]:
    """``(subject, session)`` from a file stem; fallback: the stem minus a known suffix, no session.

    >>> parse_subject("subj01_timepoint02_openface", re.compile(DEFAULT_SUBJECT_REGEX))
    ('subj01', 'timepoint02')
    """
    m = regex.match(stem)
    if m and m.groupdict().get("subject"):
        return m.group("subject"), m.groupdict().get("session")
    for suffix in KNOWN_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)], None
    return stem, None


def subject_fallback_note(name: str, stem: str, regex: re.Pattern[str]) -> str | None:
    """A line for the report when ``regex`` does not match ``stem`` (the subject then comes from the name).

    >>> subject_fallback_note("anna.csv", "anna", re.compile(DEFAULT_SUBJECT_REGEX))
    "anna.csv: file name does not match --subject-regex; subject 'anna' taken from the name"
    """
    m = regex.match(stem)
    if m and m.groupdict().get("subject"):
        return None
    return f"{name}: file name does not match --subject-regex; subject {parse_subject(stem, regex)[0]!r} taken from the name"


def manifest_path(path: Path, out_dir: Path) -> str:
    """``path`` relative to ``out_dir`` when under it, else absolute (symlinks are not resolved)."""
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(out_dir).as_posix()
    except ValueError:
        return str(p)


def load_labels(path: str | Path, label_column: str = "label") -> pd.DataFrame:
    """Labels CSV: ``subject_id, label`` (+ optional ``score, split, session``), validated."""
    df = pd.read_csv(path, dtype={"subject_id": str, "session": str}, skipinitialspace=True)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("subject_id", label_column) if c not in df.columns]
    if missing:
        raise DataFormatError(f"labels {path}: missing column(s) {missing}; it has {list(df.columns)}")
    lab = pd.to_numeric(df[label_column], errors="coerce")
    bad = np.flatnonzero((lab.isna() | (lab != np.round(lab))).to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataFormatError(f"labels {path}: data row {i + 1}: label {df[label_column].iloc[i]!r} is not an integer")
    out = df.rename(columns={label_column: "label"})
    out["label"] = lab.astype(np.int64)
    out["subject_id"] = out["subject_id"].astype(str).str.strip()
    keep = ["subject_id", "label"] + [c for c in ("score", "split", "session") if c in out.columns]
    out = out[keep]
    if "session" in out.columns:
        out["session"] = out["session"].where(out["session"].notna(), None)
    key = ["subject_id", "session"] if "session" in out.columns else ["subject_id"]
    dup = out[out.duplicated(key, keep=False)]
    if not dup.empty:
        raise DataFormatError(f"labels {path}: duplicate entries for {dup[key].drop_duplicates().values.tolist()[:10]}")
    if "split" in out.columns:
        check_split_column(out, f"labels {path}")
    return out


def _lookup(labels: pd.DataFrame) -> dict[tuple[str, str | None], dict]:
    has_session = "session" in labels.columns
    return {
        (r["subject_id"], r["session"] if has_session else None): r
        for r in labels.to_dict("records")
    }


FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {"aus": ALL_AU_COLUMNS, "landmarks": ("X_0", "X0", "x_0", "l0_x")}
"""Columns that mark a CSV as holding the wanted features (any one of them)."""


def _has_features(path: Path, features: str) -> bool:
    try:
        return any(c in FEATURE_COLUMNS[features] for c in read_header(path))
    except DataFormatError:
        return False


def _dir_rows(args: argparse.Namespace, out_dir: Path, skipped: list[str], unmatched: list[str]) -> list[dict]:
    """Manifest rows of a folder of per-video CSVs; ``skipped`` and ``unmatched`` (subject from the file name) get lines."""
    root = Path(args.root)
    if args.labels is None:
        raise DataFormatError(f"--format {args.format} needs --labels LABELS.csv (subject_id,label[,score,split,session])")
    labels = load_labels(args.labels, args.label_column)
    lookup = _lookup(labels)
    regex = re.compile(args.subject_regex)
    pattern = "*_facau.csv" if args.format == "opendbm-dir" else "*.csv"
    ignore = {os.path.abspath(args.out), os.path.abspath(args.labels)}
    rows = []
    for path in sorted(root.rglob(pattern)):
        if os.path.abspath(path) in ignore:
            continue
        if args.format == "openface-dir" and not _has_features(path, args.features):
            skipped.append(f"{path}: no OpenFace {'AU' if args.features == 'aus' else 'landmark'} columns")
            continue
        subject, session = parse_subject(path.stem, regex)
        fallback = subject_fallback_note(str(path), path.stem, regex)
        hit = lookup.get((subject, session)) or lookup.get((subject, None))
        if hit is None:
            skipped.append(f"{path}: no label for subject {subject!r}" + (f" session {session!r}" if session else "")
                           + (" (file name does not match --subject-regex)" if fallback else ""))
            continue
        if fallback:
            unmatched.append(fallback)
        row = {**hit, "subject_id": subject, "path": manifest_path(path, out_dir)}
        if session is not None:
            row["session"] = session
        rows.append(row)
    return rows


def _daic_rows(args: argparse.Namespace, out_dir: Path, skipped: list[str]) -> list[dict]:
    root = Path(args.root)
    if args.format == "daic-woz":
        find = find_daic_woz_landmark_files if args.features == "landmarks" else find_daic_woz_au_files
        labels, files = read_daic_woz_labels(root), find(root)
    elif args.features == "landmarks":
        raise DataFormatError("E-DAIC ships no 3D landmark files; use --features aus (or extract landmarks from video)")
    else:
        labels, files = read_e_daic_labels(root), find_e_daic_au_files(root)
    rows = []
    for r in labels.to_dict("records"):
        path = files.get(r["subject_id"])
        if path is None:
            skipped.append(f"participant {r['subject_id']} ({r['split']}): no {'AU' if args.features == 'aus' else 'landmark'} file")
            continue
        rows.append({**r, "path": manifest_path(path, out_dir)})
    for pid in sorted(set(files) - set(labels["subject_id"])):
        skipped.append(f"{files[pid]}: participant {pid} is in no labelled split")
    return rows


def _severity_frame(args: argparse.Namespace, out_dir: Path) -> pd.DataFrame:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, y, groups = read_au_severity_csv(args.root, args.label_column, args.group_column)
    for w in caught:
        print(f"WARNING: {w.message}")
        warnings.warn(w.message, w.category, stacklevel=3)
    n = len(y)
    subjects = groups if groups is not None else np.array([f"frame{i}" for i in range(n)], dtype=object)
    return pd.DataFrame({
        "subject_id": subjects,
        "path": manifest_path(Path(args.root), out_dir),
        "label": y,
        "row": np.arange(n, dtype=np.int64),
    })


def _print_summary(df: pd.DataFrame, skipped: list[str]) -> None:
    unmatched = df.attrs.get("subject_from_name", [])
    if unmatched:
        print(f"WARNING: {len(unmatched)} listed file(s) did not match --subject-regex, so each file name became "
              "a subject id (sessions of one person would be separate subjects):")
        for line in unmatched[:MAX_LISTED]:
            print(f"  {line}")
    counts = df["label"].value_counts().sort_index().to_dict()
    print(f"files: {df['path'].nunique()}  rows: {len(df)}  subjects: {df['subject_id'].nunique()}")
    print(f"label counts: {counts}")
    if "split" in df.columns:
        print(f"split counts: {df['split'].value_counts().to_dict()}")
    print(f"skipped: {len(skipped)}")
    for line in skipped[:MAX_LISTED]:
        print(f"  skipped {line}")
    if len(skipped) > MAX_LISTED:
        print(f"  ... and {len(skipped) - MAX_LISTED} more")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Build a facedep manifest from AU files and labels.")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("root", help="folder (dir formats, daic-woz, e-daic) or the CSV (au-severity-csv)")
    p.add_argument("--out", required=True, help="manifest file (.csv or .parquet)")
    p.add_argument("--labels", help="labels CSV: subject_id,label[,score,split,session] (dir formats)")
    p.add_argument("--label-column", default="label", help="label column in --labels or the AU severity CSV")
    p.add_argument("--subject-regex", default=DEFAULT_SUBJECT_REGEX,
                   help="regex on the file stem with named groups 'subject' and optional 'session'")
    p.add_argument("--group-column", help="subject/group column of the AU severity CSV")
    p.add_argument("--features", choices=tuple(FEATURE_COLUMNS), default="aus",
                   help="which files to list: AU files (default) or landmark files (openface-dir, daic-woz)")
    return p


def build_manifest(args: argparse.Namespace) -> tuple[pd.DataFrame, list[str]]:
    """The manifest table and the list of skipped items (as text) for parsed ``args``."""
    out_dir = Path(os.path.abspath(args.out)).parent
    skipped: list[str] = []
    if args.format == "au-severity-csv":
        return _severity_frame(args, out_dir), skipped
    unmatched: list[str] = []
    rows = _dir_rows(args, out_dir, skipped, unmatched) if args.format.endswith("-dir") else _daic_rows(args, out_dir, skipped)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["subject_id", "path", "label"]), skipped
    order = ["subject_id", "path", "label", "score", "split", "session"]
    df = df[[c for c in order if c in df.columns]]
    if "session" in df.columns and df["session"].isna().all():
        df = df.drop(columns="session")
    df.attrs["subject_from_name"] = unmatched
    return df, skipped


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 0 on success, 1 on a data error or an empty manifest."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        re.compile(args.subject_regex)
        if "(?P<subject>" not in args.subject_regex:
            parser.error("--subject-regex needs a named group (?P<subject>...)")
    except re.error as exc:
        parser.error(f"--subject-regex: {exc}")
    try:
        df, skipped = build_manifest(args)
        if df.empty:
            if skipped:
                _print_summary(df, skipped)
            print(f"error: no labelled samples found under {args.root}; nothing written", file=sys.stderr)
            return 1
        if "split" in df.columns:
            check_split_column(df, f"manifest {args.out}")
        out = write_manifest(df, args.out)
    except DataFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print_summary(df, skipped)
    print(f"wrote {out}")
    return 0
