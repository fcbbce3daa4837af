#!/usr/bin/env python
"""Per-subject manifest of Hugging-Rain-Man label CSVs, for HRMSequenceDataModule (atypicality regression).

Walks ``<root>/labels/[<group>/]<subject>.csv`` (``*-backup.csv`` ignored) and writes
``subject_id, path, label`` (label = the group folder, ``unknown`` without one; it only stratifies folds).
For the frame-level manifest of AU detection use ``scripts/make_au_manifest.py`` instead.

Example:
    python scripts/make_hrm_manifest.py --format hrm demo_hrm --out demo_hrm/hrm_sequences.csv
"""

from __future__ import annotations

import argparse
import sys

from datamodules.hrm_sequences import build_hrm_manifest
from datamodules.io.au_table import DataFormatError

FORMATS: tuple[str, ...] = ("hrm",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", required=True, choices=FORMATS, help="hrm: <root>/labels/[<group>/]<subject>.csv")
    parser.add_argument("root", help="HRM folder (with labels/)")
    parser.add_argument("--out", required=True, help="manifest file (.csv or .parquet)")
    args = parser.parse_args(argv)
    try:
        df = build_hrm_manifest(args.root, args.out)
    except DataFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(df)} subject file(s); per group: {df['label'].value_counts().sort_index().to_dict()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
