"""Frame manifests for AU detection: one row per labelled frame that has an image.

Sources (``--format``):

* ``hrm``: ``ROOT/labels/[<group>/]<subject>.csv`` (:mod:`datamodules.io.hrm`) and frame images in
  ``ROOT/images/[<group>/]<subject>/``. The group folder is the subject's class (``label``) and
  part of its id (``ASD/S1``, ``TD/S1``: the release reuses names across groups); without a
  group the label is ``unknown`` (a valid class: folds are then stratified by nothing).
* ``openface``: an OpenFace CSV (or a folder of them) and its ``<name>_aligned/`` images.
  ``AUxx_c`` give presence and ``AUxx_r`` intensity (0-5); frames with ``success == 0`` or
  confidence below ``min_confidence`` are skipped and counted.

Columns: ``subject_id, path, label, segment, frame, <AU>...`` (presence 0/1, empty where the
source has no value), ``<AU>_intensity`` (openface), ``atypicality`` (HRM regression CSVs:
``Abnormal-avg``, 0-4). Labelled frames without an image and images without labels are skipped,
counted, warned about and written to ``<manifest>.report.json`` (read by
:class:`~datamodules.au_detection.AUDetectionDataModule` into its data report).

Example:
    $ python scripts/make_au_manifest.py --format hrm data/HRM --aus hrm22 --out data/HRM/frames.csv
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.io.au_table import INTENSITY_AUS, PRESENCE_AUS, DataFormatError
from datamodules.io.frame_table import read_header
from datamodules.io.hrm import (
    HRM_AU_NAMES,
    find_hrm_label_files,
    index_frame_images,
    presence,
    read_hrm_labels,
    resolve_au_subset,
    segments,
)
from datamodules.io.openface import read_openface_csv
from datamodules.make_manifest import DEFAULT_SUBJECT_REGEX, manifest_path, parse_subject, subject_fallback_note
from datamodules.manifest import write_manifest

FORMATS: tuple[str, ...] = ("hrm", "openface")
UNKNOWN = "unknown"
MAX_NAMED = 5
_AU_COLUMN = re.compile(r"^AU\d+_[cr]$")


class _Tally:
    """Skip counts with the first few names per reason."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.examples: dict[str, list[str]] = {}
        self.notes: list[str] = []

    def add(self, reason: str, names: Sequence[str]) -> None:
        if names:
            self.counts[reason] += len(names)
            self.examples.setdefault(reason, []).extend(list(names)[: MAX_NAMED - len(self.examples.get(reason, []))])

    def report(self) -> dict[str, Any]:
        return {"skipped": dict(self.counts), "examples": self.examples, "notes": self.notes}


def _frame_rows(subject: str, label: str, frames: np.ndarray, seg: np.ndarray, images: dict[int, Path],
                columns: dict[str, np.ndarray], tally: _Tally, where: str) -> pd.DataFrame:
    """Rows of the labelled ``frames`` that have an image; the rest (both ways) counted in ``tally``."""
    has = np.array([f in images for f in frames], dtype=bool)
    tally.add("labelled_frame_without_image", [f"{where} frame {f}" for f in frames[~has]])
    labelled = set(frames.tolist())
    tally.add("image_without_label", [str(p) for f, p in sorted(images.items()) if f not in labelled])
    rows = pd.DataFrame({"subject_id": subject, "path": [str(images[f]) for f in frames[has]], "label": label,
                         "segment": seg[has], "frame": frames[has]})
    extra = pd.DataFrame({name: values[has] for name, values in columns.items()})
    return pd.concat([rows, extra], axis=1)


# ---- HRM ---------------------------------------------------------------------------------------
def _hrm_subjects(root: Path, tally: _Tally) -> list[tuple[str, str, Path, Path | None]]:
    """``(subject_id, label, label_csv, image_folder or None)`` for every label CSV under ``root/labels``."""
    images_dir, out = root / "images", []
    backups = sorted((root / "labels").rglob("*-backup.csv")) if (root / "labels").is_dir() else []
    tally.notes += [f"ignored annotation-tool backup {p.relative_to(root).as_posix()}" for p in backups]
    for subject, group, csv in find_hrm_label_files(root):
        candidates = [images_dir / subject] + ([images_dir / csv.stem] if group is not None else [])
        folder = next((c for c in candidates if c.is_dir()), None)
        out.append((subject, group or UNKNOWN, csv, folder))
    users = Counter(f for _, _, _, f in out if f is not None)
    shared = [f for f, n in users.items() if n > 1]
    if shared:
        raise DataFormatError(f"{shared[0]}: these images are claimed by several subjects "
                              f"{[s for s, _, _, f in out if f == shared[0]]}; move them to images/<group>/<subject>/")
    return out


def read_hrm_frames(root: str | Path, aus: str | Sequence[str] = "hrm_all", frame_pattern: str | None = None,
                    image_glob: str = "*") -> pd.DataFrame:
    """Frame table of an HRM-layout folder; ``df.attrs["report"]`` holds the skip counts."""
    root, tally = Path(root), _Tally()
    names = resolve_au_subset(aus)
    wrong = [a for a in names if a not in HRM_AU_NAMES]
    if wrong:
        raise ValueError(f"AU(s) {wrong} are not HRM labels; use HRM names {list(HRM_AU_NAMES)}")
    parts, claimed = [], set()
    for subject, label, csv, folder in _hrm_subjects(root, tally):
        table = read_hrm_labels(csv)
        frames = table["frame"].to_numpy()
        if folder is None:
            tally.notes.append(f"no image folder for subject {subject}")
        else:
            claimed.add(folder.resolve())
        images = index_frame_images(folder, frame_pattern, image_glob) if folder is not None else {}
        present = presence(table, names)
        columns = {a: present[:, j] for j, a in enumerate(names)}
        if "Abnormal-avg" in table.columns:
            columns["atypicality"] = table["Abnormal-avg"].to_numpy(np.float32)
        parts.append(_frame_rows(subject, label, frames, segments(frames), images, columns, tally, subject))
    images_dir = root / "images"
    folders = [p for p in images_dir.rglob("*") if p.is_dir()] if images_dir.is_dir() else []
    for folder in sorted(f for f in folders if f.resolve() not in claimed):
        if any(f.resolve() in claimed for f in [folder, *folder.parents]):
            continue
        files = index_frame_images(folder, frame_pattern, image_glob)
        tally.add("image_without_label", [str(p) for p in files.values()])
    return _finish(parts, names, tally, "hrm", root)


# ---- OpenFace ----------------------------------------------------------------------------------
def _openface_files(root: Path, images: Path | None) -> list[tuple[Path, Path]]:
    """``(csv, aligned folder)`` pairs: ROOT a CSV (``images`` or ``<stem>_aligned`` next to it) or a folder."""
    if root.is_file():
        return [(root, images or root.with_name(f"{root.stem}_aligned"))]
    if images is not None:
        raise DataFormatError("--images goes with a single OpenFace CSV, not a folder")
    csvs = [p for p in sorted(root.rglob("*.csv")) if any(_AU_COLUMN.match(c) for c in read_header(p))]
    if not csvs:
        raise DataFormatError(f"{root}: no OpenFace CSV (with AUxx_c / AUxx_r columns)")
    return [(p, p.with_name(f"{p.stem}_aligned")) for p in csvs]


def read_openface_frames(root: str | Path, aus: str | Sequence[str] | None = None, images: str | Path | None = None,
                         min_confidence: float = 0.8, label: str = UNKNOWN, subject_regex: str = DEFAULT_SUBJECT_REGEX,
                         frame_pattern: str | None = None, image_glob: str = "*") -> pd.DataFrame:
    """Frame table of OpenFace output (CSV + ``<name>_aligned/``); ``df.attrs["report"]`` holds the counts.

    ``aus`` default: every AU with an ``AUxx_c`` column in some file (empty where a file lacks it);
    AUs named explicitly must be in every file.
    """
    root, tally = Path(root), _Tally()
    names = resolve_au_subset(aus) if aus is not None else None
    wrong = [a for a in names or () if a not in PRESENCE_AUS]
    if wrong:
        raise ValueError(f"AU(s) {wrong} are not OpenFace AUs; use {list(PRESENCE_AUS)}")
    pairs = _openface_files(root, Path(images) if images is not None else None)
    tables = [read_openface_csv(csv) for csv, _ in pairs]
    if names is None:  # every AU with a presence column in any file; NaN (unknown) in the others
        names = tuple(a for a in PRESENCE_AUS if any(f"{a}_c" in t.available for t in tables))
    regex, parts, offsets = re.compile(subject_regex), [], Counter()
    for (csv, folder), table in zip(pairs, tables):
        missing = [f"{a}_c" for a in names if f"{a}_c" not in table.available and aus is not None]
        if missing:
            raise DataFormatError(f"{csv}: no presence column(s) {missing}; it has {list(table.available)}")
        failed = ~table.success
        used = table.channel_index([c for c in table.available if c[:-2] in names])
        nonfinite = ~failed & (~np.isfinite(table.confidence) | np.isinf(table.values[:, used]).any(axis=1))
        low = ~failed & ~nonfinite & (table.confidence < min_confidence)
        tally.add("tracker_failed", [f"{csv.name} frame {f}" for f in table.frame[failed]])
        tally.add("nonfinite", [f"{csv.name} frame {f}" for f in table.frame[nonfinite]])
        tally.add("low_confidence", [f"{csv.name} frame {f}" for f in table.frame[low]])
        keep = ~(failed | nonfinite | low)
        subject, _ = parse_subject(csv.stem, regex)
        fallback = subject_fallback_note(csv.name, csv.stem, regex)
        if fallback:
            tally.notes.append(fallback)
        seg = segments(table.frame) + offsets[subject]  # segments from the CSV's frames, unique per subject
        offsets[subject] = int(seg.max()) + 1 if len(seg) else offsets[subject]
        if not folder.is_dir():
            tally.notes.append(f"no aligned-image folder {folder}")
        found = index_frame_images(folder, frame_pattern, image_glob) if folder.is_dir() else {}
        columns = {a: table.values[keep, table.channel_index([f"{a}_c"])[0]] for a in names}
        for a in names:
            if a in INTENSITY_AUS and f"{a}_r" in table.available:
                columns[f"{a}_intensity"] = table.values[keep, table.channel_index([f"{a}_r"])[0]]
        masked = set(table.frame[~keep].tolist())
        images_kept = {f: p for f, p in found.items() if f not in masked}
        parts.append(_frame_rows(subject, label, table.frame[keep], seg[keep], images_kept, columns, tally, csv.name))
    return _finish(parts, names, tally, "openface", root)


def _finish(parts: list[pd.DataFrame], names: Sequence[str], tally: _Tally, fmt: str, root: Path) -> pd.DataFrame:
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if df.empty:
        raise DataFormatError(f"{root}: no labelled frame with an image (skipped: {dict(tally.counts)}; "
                              f"{'; '.join(tally.notes[:MAX_NAMED])})")
    for a in names:
        df[a] = df[a].round().astype("Int8")  # 0/1, <NA> where the source has no value
    if tally.counts:
        named = {k: v[:MAX_NAMED] for k, v in tally.examples.items()}
        warnings.warn(f"{root}: skipped {dict(tally.counts)}, e.g. {named}", stacklevel=3)
    df.attrs["report"] = {"format": fmt, "root": str(root), "frames": len(df),
                          "subjects": int(df["subject_id"].nunique()),
                          "aus": list(names), "positives": {a: int(df[a].sum()) for a in names}, **tally.report()}
    return df


# ---- writing and the CLI -----------------------------------------------------------------------
def report_path(manifest: str | Path) -> Path:
    """``frames.csv`` -> ``frames.report.json`` (the build report next to the manifest)."""
    return Path(manifest).with_suffix(".report.json")


def build_au_manifest(fmt: str, root: str | Path, out: str | Path, aus: str | Sequence[str] | None = None,
                      **kwargs: Any) -> pd.DataFrame:
    """Read ``root`` in format ``fmt`` and write the manifest (paths relative to ``out``) and its report.

    Example:
        >>> build_au_manifest("hrm", "data/HRM", "data/HRM/frames.csv", aus="hrm22")  # doctest: +SKIP
    """
    if fmt == "hrm":
        df = read_hrm_frames(root, aus or "hrm_all", **kwargs)
    elif fmt == "openface":
        df = read_openface_frames(root, aus, **kwargs)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {list(FORMATS)}")
    report, out_dir = df.attrs["report"], Path(os.path.abspath(out)).parent
    folders = {str(Path(p).parent) for p in df["path"].unique()}
    relative = {f: manifest_path(Path(f), out_dir) for f in folders}
    df["path"] = [f"{relative[str(Path(p).parent)]}/{Path(p).name}" for p in df["path"]]
    write_manifest(df, out)
    report_path(out).write_text(json.dumps(report, indent=2))
    df.attrs["report"] = report
    return df


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Build a frame manifest for AU detection (HRM layout or OpenFace output).")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("root", help="HRM folder (labels/, images/), or an OpenFace CSV / a folder of them")
    p.add_argument("--out", required=True, help="manifest file (.csv or .parquet)")
    p.add_argument("--aus", nargs="+", help="subset name (hrm22, hrm17, hrm_all, openface_r17, openface_c18) or AU "
                                            "names; default: every AU of the source (hrm_all / the AUxx_c found)")
    p.add_argument("--images", help="aligned-image folder of a single OpenFace CSV (default: <name>_aligned)")
    p.add_argument("--min-confidence", type=float, default=0.8, help="openface: frames below are skipped")
    p.add_argument("--label", default=UNKNOWN, help="openface: the subject class written to 'label'")
    p.add_argument("--subject-regex", default=DEFAULT_SUBJECT_REGEX, help="openface: subject from the CSV name")
    p.add_argument("--frame-pattern", help="regex whose first group is the frame number in an image stem "
                                           "(default: the last run of digits)")
    p.add_argument("--image-glob", default="*", help="which images to index, e.g. 'frame_det_00_*'")
    return p


def make_au_manifest(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 on a data error)."""
    args = build_parser().parse_args(argv)
    aus: str | list[str] | None = None
    if args.aus:
        aus = args.aus[0] if len(args.aus) == 1 and not args.aus[0].startswith(("AU", "AD")) else args.aus
    kwargs: dict[str, Any] = {"frame_pattern": args.frame_pattern, "image_glob": args.image_glob}
    if args.format == "openface":
        kwargs.update(images=args.images, min_confidence=args.min_confidence, label=args.label,
                      subject_regex=args.subject_regex)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            df = build_au_manifest(args.format, args.root, args.out, aus, **kwargs)
        except (DataFormatError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"WARNING: {w.message}", file=sys.stderr)
    report = df.attrs["report"]
    print(f"wrote {args.out}: {len(df)} frame(s), {report['subjects']} subject(s), "
          f"{df.groupby(['subject_id', 'segment']).ngroups} segment(s)")
    print(f"label counts (frames): {df['label'].value_counts().sort_index().to_dict()}")
    print(f"positives per AU: {report['positives']}")
    print(f"skipped: {report['skipped'] or 0}")
    for reason, names in report["examples"].items():
        print(f"  {reason}: e.g. {names}")
    for note in report["notes"][:20]:
        print(f"note: {note}")
    print(f"report: {report_path(args.out)}")
    return 0


main = make_au_manifest
