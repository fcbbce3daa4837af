"""``python scripts/agreement.py OURS OPENFACE [--out DIR]``: per-AU agreement of two AU CSVs of one video,
or of two folders of them (paired by file stem: a pooled table and one per video).

Prints the table and the goal line; ``--out DIR`` writes ``agreement.csv``, ``agreement.md`` and
``plots/AUxx.png`` (folders: ``agreement_per_video.csv`` and ``plots/<stem>/AUxx.png``). Exit 2 on bad input.

Example:
    python scripts/agreement.py runs/aus/subj01_timepoint01.csv subj01_timepoint01_openface.csv --out runs/agree
    python scripts/agreement.py runs/aus/ openface_outputs/ --out runs/agree
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from datamodules.io.au_table import DataFormatError
from facedep.evaluation.agreement import (
    MOVING_STD,
    MatchedFrames,
    au_agreement,
    match_frames,
    pool_matches,
    read_au_frames,
    summarize_agreement,
)
from facedep.evaluation.agreement_plots import plot_agreement
from facedep.evaluation.agreement_report import agreement_markdown, format_agreement_table, write_agreement


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Per-AU agreement (Pearson r, ICC(3,1), MAD, presence F1) of two "
                                            "OpenFace-layout AU CSVs, or two folders of them paired by file stem.")
    p.add_argument("ours", help="our AU CSV (e.g. from extract_aus.py), or a folder of them")
    p.add_argument("reference", help="the reference AU CSV (e.g. OpenFace's FeatureExtraction), or a folder")
    p.add_argument("--out", help="folder for agreement.csv, agreement.md and plots/")
    p.add_argument("--moving-std", type=float, default=MOVING_STD,
                   help="an AU 'moves' when the reference's std is at least this (default %(default)s)")
    p.add_argument("--no-plots", action="store_true", help="with --out: skip the PNGs")
    return p


@dataclass
class Pairing:
    """File pairs by stem, and the stems found on one side only."""

    pairs: list[tuple[str, Path, Path]]
    only_ours: list[str]
    only_reference: list[str]


def pair_inputs(ours: Path, reference: Path) -> Pairing:
    """Two files -> one pair; two folders -> their ``*.csv`` paired by stem. Raises ValueError otherwise."""
    for path in (ours, reference):
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
    if ours.is_file() and reference.is_file():
        return Pairing([(ours.stem, ours, reference)], [], [])
    if not (ours.is_dir() and reference.is_dir()):
        raise ValueError(f"give two files or two folders, got {ours} and {reference}")
    mine = {p.stem: p for p in sorted(ours.glob("*.csv"))}
    theirs = {p.stem: p for p in sorted(reference.glob("*.csv"))}
    common = sorted(mine.keys() & theirs.keys())
    if not common:
        raise ValueError(f"no CSV file stem is in both {ours} ({len(mine)} CSVs) and {reference} ({len(theirs)} CSVs)")
    return Pairing([(s, mine[s], theirs[s]) for s in common], sorted(mine.keys() - theirs.keys()),
                   sorted(theirs.keys() - mine.keys()))


def run_agreement(args: argparse.Namespace) -> int:
    """Read, match, score, print and (with ``--out``) write; raises on bad input."""
    pairing = pair_inputs(Path(args.ours), Path(args.reference))
    matches: list[MatchedFrames] = []
    for stem, ours_path, reference_path in pairing.pairs:
        matched = match_frames(read_au_frames(ours_path), read_au_frames(reference_path), video=stem)
        if matched.counts["matched"] == 0:
            raise ValueError(f"{ours_path} and {reference_path}: no frame is successful in both ({matched.line()})")
        matches.append(matched)
    pooled = pool_matches(matches)
    table = au_agreement(pooled, moving_std=args.moving_std)
    if table.empty:
        raise ValueError(f"{args.ours} and {args.reference} share no AUxx_r column")
    per_video = None
    if len(matches) > 1:
        per_video = pd.concat([au_agreement(m, moving_std=args.moving_std).assign(video=m.video[0])
                               for m in matches], ignore_index=True)
    summary = summarize_agreement(table, args.moving_std)
    matching = pooled.line() + (f" over {len(matches)} videos (pooled)" if len(matches) > 1 else "") + "."
    for side, stems in (("ours", pairing.only_ours), ("the reference", pairing.only_reference)):
        if stems:
            matching += f" Only in {side} (skipped): {', '.join(stems)}."
    print(format_agreement_table(table))
    print(matching)
    print(summary.line())
    if args.out:
        out = Path(args.out)
        plots: dict[str, str] = {}
        if not args.no_plots:
            for m in matches:
                folder = out / "plots" / (m.video[0] if len(matches) > 1 else "")
                paths = plot_agreement(m, au_agreement(m, moving_std=args.moving_std) if len(matches) > 1 else table, folder)
                if len(matches) == 1:
                    plots = {p.stem: str(p.relative_to(out)) for p in paths}
        markdown = agreement_markdown(table, summary, matching, per_video, plots)
        for path in write_agreement(out, table, markdown, per_video):
            print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; 0 on success, 2 with a one-line error on bad input."""
    args = build_parser().parse_args(argv)
    try:
        return run_agreement(args)
    except (DataFormatError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
