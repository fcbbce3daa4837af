"""``python scripts/analyze_aus.py --manifest M --out DIR``: group statistics, time curves, PCA and
clustering of facial AUs, written as ``DIR/report.md``, ``DIR/results.json`` and a few PNGs.

Example:
    python scripts/analyze_aus.py --manifest demo_data/manifest.csv --out runs/analysis
    python scripts/analyze_aus.py --manifest sev.parquet --out runs/sev --groups healthy mild,moderate,severe
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from facedep.analysis.clustering import FeatureSetResult, build_feature_sets, cluster_feature_set, subsample_units
from facedep.analysis.expressivity import EMOTIONS, expressivity, missing_aus, missing_notes
from facedep.analysis.group_stats import assign_groups, compare_groups, group_curves, group_label, resolve_groups, unit_means
from facedep.analysis.loading import FORMATS, FrameData, detect_format, load_frames
from facedep.analysis.report import log_to_wandb, write_report
from datamodules.au_channels import resolve_channels
from datamodules.cache import DEFAULT_CACHE_DIR, ArrayCache
from datamodules.io.au_severity import AU_SEVERITY_CLASSES
from datamodules.io.au_table import INTENSITY_COLUMNS, PRESENCE_COLUMNS, DataFormatError

DEFAULT_CURVE_AUS: tuple[str, ...] = ("AU01", "AU04", "AU06", "AU12", "AU15")
COMPARISON = "comparison"
"""Frame/unit column holding the two-group name (NaN for classes in neither group)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Statistics, time curves and clustering of facial AUs between groups.")
    p.add_argument("--manifest", required=True, help="manifest CSV/Parquet (one row per video, or per frame with 'row')")
    p.add_argument("--out", required=True, help="output folder (report.md, results.json, PNGs)")
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="AU file format; 'au-severity' (or auto with a 'row' column) = frame-level AU severity CSV")
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR), help="parsed-array cache; 'none' disables it")
    p.add_argument("--min-confidence", type=float, default=0.8, help="drop frames below this tracker confidence")
    p.add_argument("--classes", nargs="+", help="label values in class order (default 0 1, or 0 1 2 3 for au-severity)")
    p.add_argument("--class-names", nargs="+", help="a name per class (default healthy depressed / the severity names)")
    p.add_argument("--groups", nargs=2, metavar=("A", "B"),
                   help="two groups to compare, each a class name or comma-separated names (default: first vs rest)")
    p.add_argument("--label-column", default="label", help="label column of the AU severity CSV")
    p.add_argument("--curve-aus", nargs="+", default=list(DEFAULT_CURVE_AUS), help="AUs drawn as group mean curves")
    p.add_argument("--bins", type=int, default=20, help="bins of normalised time for the curves")
    p.add_argument("--cluster-unit", default="subject", choices=("subject", "video"), help="rows of the clustering matrix")
    p.add_argument("--cluster-bins", type=int, default=10, help="time bins in each emotion's clustering profile")
    p.add_argument("--clusters", type=int, default=2, help="k for K-means, agglomerative and GMM")
    p.add_argument("--variance", type=float, default=0.95, help="PCA keeps this fraction of the variance")
    p.add_argument("--max-cluster-units", type=int, default=5000, help="subsample above this many units")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level for q-values in figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wandb", default="disabled", choices=("auto", "online", "offline", "disabled"))
    p.add_argument("--wandb-project", default="facedep-analysis")
    return p


def default_classes(manifest: str, fmt: str, classes: list[str] | None, names: list[str] | None) -> tuple[list[str], list[str]]:
    """Class values and names: given, or 0 1 healthy/depressed (0..3 severity names for au-severity)."""
    if classes is None:
        path = Path(manifest)
        columns = pd.read_parquet(path).columns if path.suffix == ".parquet" else pd.read_csv(path, nrows=0).columns
        if detect_format(pd.DataFrame(columns=columns), fmt) == "au-severity":
            classes, default_names = ["0", "1", "2", "3"], list(AU_SEVERITY_CLASSES)
        else:
            classes, default_names = ["0", "1"], ["healthy", "depressed"]
        names = names or (default_names if len(default_names) == len(classes) else None)
    names = names or [str(c) for c in classes]
    if len(names) != len(classes):
        raise ValueError(f"--class-names has {len(names)} names for {len(classes)} classes {classes}")
    return list(classes), list(names)


def per_class_summary(data: FrameData) -> list[dict[str, Any]]:
    """Subjects, videos, frames listed and kept per class (and a total row)."""
    v = data.videos
    rows = []
    for name, part in [*((n, v[v["group"] == n]) for n in data.class_names), ("total", v)]:
        rows.append({"class": name, "subjects": int(part["subject_id"].nunique()), "videos": len(part),
                     "frames_listed": int(part["frames"].sum()), "frames_kept": int(part["kept"].sum())})
    return rows


def add_expressivity(data: FrameData) -> list[str]:
    """Add the six emotion columns to ``data.frames``; return the emotions with at least one term."""
    expr = expressivity(data.frames[data.channels])
    usable = [e for e in EMOTIONS if not expr[e].isna().all()]
    for e in usable:
        data.frames[e] = expr[e].to_numpy()
    return usable


def curve_features(curve_aus: list[str], channels: list[str], notes: list[str]) -> list[str]:
    """Canonical channels of ``--curve-aus`` that the data has (absent ones noted)."""
    wanted = resolve_channels(curve_aus)
    absent = [c for c in wanted if c not in channels]
    if absent:
        notes.append(f"curve channels {absent} are not in the data and were skipped")
    return [c for c in wanted if c in channels]


def run_clustering(
    frames: pd.DataFrame, data: FrameData, emotions: list[str], args: argparse.Namespace, notes: list[str]
) -> dict[str, FeatureSetResult]:
    """PCA + clustering of every feature set, on the units of the two compared groups."""
    unit = "subject_id" if args.cluster_unit == "subject" else "video"
    sets = build_feature_sets(frames, data.channels, emotions, unit, args.cluster_bins, data.has_time)
    truth_of = frames.groupby(frames[unit].astype(str), observed=True)[COMPARISON].first()
    results: dict[str, FeatureSetResult] = {}
    n_units = len(next(iter(sets.values())))
    if n_units > args.max_cluster_units:
        notes.append(f"clustering: {n_units} units, the same random {args.max_cluster_units} used for every feature set "
                     "(--max-cluster-units)")
    for name, table in sets.items():
        table = subsample_units(table, args.max_cluster_units, args.seed)
        try:
            results[name] = cluster_feature_set(table, truth_of.loc[table.index].to_numpy(dtype=str),
                                                args.clusters, args.variance, args.seed, name)
        except ValueError as exc:
            notes.append(f"clustering '{name}' skipped: {exc}")
    return results


def make_figures(
    data: FrameData, tests: pd.DataFrame, curves: pd.DataFrame | None, clusters: dict[str, FeatureSetResult],
    emotions: list[str], groups: list[str], out: Path, args: argparse.Namespace, curve_cols: list[str],
) -> dict[str, str]:
    """Draw every figure; returns ``key -> file name`` relative to ``out``."""
    from facedep.analysis import plots

    f = data.frames
    paths = {"effects": plots.plot_effects(tests, out / "group_effects.png", args.alpha, (groups[0], groups[1]))}
    if curves is not None and not curves.empty:
        paths["curves_aus"] = plots.plot_curves(curves, curve_cols, groups, out / "curves_aus.png", "AU intensity: group mean +- SD")
        paths["curves_emotions"] = plots.plot_curves(curves, emotions, groups, out / "curves_emotions.png",
                                                     "emotion expressivity: group mean +- SD")
    if clusters:
        paths["scree"] = plots.plot_scree({k: r.pca for k, r in clusters.items()}, args.variance, out / "pca_scree.png")
        paths["clusters"] = plots.plot_clusters(clusters, groups, out / "clusters_pca.png")
    intensity = [c for c in INTENSITY_COLUMNS if c in data.channels]
    presence = [c for c in PRESENCE_COLUMNS if c in data.channels]
    if intensity:
        paths["dist_intensity"] = plots.plot_distributions(f, intensity, "group", data.class_names, out / "dist_intensity.png",
                                                           "AU intensity per class (frames)", seed=args.seed)
    if emotions:
        paths["dist_emotions"] = plots.plot_distributions(f, emotions, "group", data.class_names, out / "dist_emotions.png",
                                                          "emotion expressivity per class (frames)", seed=args.seed)
    if presence:
        paths["dist_presence"] = plots.plot_presence_rates(f, presence, "group", data.class_names, out / "dist_presence.png")
    return {k: Path(p).name for k, p in paths.items()}


def run_analysis(args: argparse.Namespace) -> dict[str, Any]:
    """Everything but argument parsing: returns the results dict (also written to ``args.out``)."""
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    classes, names = default_classes(args.manifest, args.format, args.classes, args.class_names)
    cache = ArrayCache(None if str(args.cache_dir).lower() == "none" else args.cache_dir)
    data = load_frames(args.manifest, classes, names, cache, args.min_confidence, args.format, args.label_column)
    notes = data.notes
    emotions = add_expressivity(data)
    a, b = resolve_groups(names, args.groups)
    name_a, name_b = group_label(a), group_label(b)
    data.frames[COMPARISON] = assign_groups(data.frames["group"], a, b)
    frames = data.frames[data.frames[COMPARISON].notna()]
    features = [*data.channels, *emotions]

    units = unit_means(frames, features, "subject_id")
    units[COMPARISON] = assign_groups(units["group"], a, b)
    tests = compare_groups(units, features, COMPARISON, name_a, name_b)

    curves, curve_cols = None, []
    if data.has_time:
        curve_cols = curve_features(args.curve_aus, data.channels, notes)
        curves = group_curves(frames, [*curve_cols, *emotions], args.bins, COMPARISON)
    clusters = run_clustering(frames, data, emotions, args, notes)
    figures = make_figures(data, tests, curves, clusters, emotions, [name_a, name_b], out, args, curve_cols)

    unit_word = "subject" if data.subject_level else "frame"
    results = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()} | {
            "classes": classes, "class_names": names},
        "data": {"format": data.source_format, "subject_level": data.subject_level, "has_time": data.has_time,
                 "channels": data.channels, "emotions": emotions, "drops": data.drops,
                 "per_group": per_class_summary(data), "notes": notes},
        "comparison": {"group_a": name_a, "group_b": name_b, "classes_a": a, "classes_b": b, "unit": unit_word,
                       "n_a": int((units[COMPARISON] == name_a).sum()), "n_b": int((units[COMPARISON] == name_b).sum()),
                       "sign": "positive t, d, r_rb = group B higher"},
        "missing_aus": missing_aus(data.channels),
        "missing_notes": missing_notes(data.channels),
        "group_tests": tests,
        "curves": curves if curves is not None else [],
        "pca": {k: {"n_features": len(r.pca.used_columns), "n_components": r.pca.n_components,
                    "explained": r.pca.explained, "explained_ratio": r.pca.explained_ratio[:20]}
                for k, r in clusters.items()},
        "clustering": pd.concat([r.table for r in clusters.values()], ignore_index=True) if clusters else [],
        "figures": figures,
    }
    results["wall_time_s"] = time.perf_counter() - start
    write_report(results, out)
    return results


def _print_summary(results: dict[str, Any], out: Path) -> None:
    comp = results["comparison"]
    tests = results["group_tests"].sort_values(["q_t", "p_t"], na_position="last")
    print(f"{comp['group_a']} (n={comp['n_a']}) vs {comp['group_b']} (n={comp['n_b']}), per {comp['unit']}; "
          f"{int((tests['q_t'] < 0.05).sum())} of {len(tests)} features with Welch q < 0.05")
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(tests.head(8)[["feature", "mean_a", "mean_b", "d", "r_rb", "p_t", "q_t", "q_u"]].to_string(index=False))
    for note in results["data"]["notes"]:
        print(f"NOTE: {note}", file=sys.stderr)
    print(f"wrote {out / 'report.md'} and {out / 'results.json'} ({results['wall_time_s']:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; 0 on success, 1 on a data or configuration error."""
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.filterwarnings("ignore", message=".*KMeans is known to have a memory leak.*")
            results = run_analysis(args)  # small matrices only: one BLAS/OpenMP thread is much faster
    except (DataFormatError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.wandb != "disabled":
        from facedep.experiment.tracking import resolve_wandb_mode

        run_dir = log_to_wandb(results, out, resolve_wandb_mode(args.wandb), args.wandb_project)
        if run_dir:
            print(f"W&B run: {run_dir}")
    _print_summary(results, out)
    return 0
