"""Write the analysis as ``report.md`` (human) and ``results.json`` (machine), optionally to W&B.

``results`` is the plain dict built by :func:`facedep.analysis.cli.run_analysis`; DataFrames inside it are
stored as lists of records. NaN becomes ``null`` in JSON.

Example:
    >>> md_table(["a", "b"], [["1", "2"]])
    ['| a | b |', '| --- | --- |', '| 1 | 2 |']
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIGN_NOTE = (
    "Sign convention: t, d and r_rb are positive when group **B** is higher. U is group A's Mann-Whitney "
    "statistic; r_rb = 1 - 2U/(n_A n_B). q = Benjamini-Hochberg over all tested features."
)


def jsonable(obj: Any) -> Any:
    """Numpy scalars/arrays, DataFrames and NaN turned into JSON-friendly values.

    Example:
        >>> jsonable({"x": np.float32(1.5), "y": float("nan"), "z": np.arange(2)})
        {'x': 1.5, 'y': None, 'z': [0, 1]}
    """
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.to_dict("records")]
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(float(obj)) or math.isinf(float(obj)) else float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: small p-values in scientific notation, NaN as a dash.

    Example:
        >>> fmt(0.1234), fmt(1.2e-6), fmt(float("nan")), fmt(7)
        ('0.123', '1.20e-06', '-', '7')
    """
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "-"
        if v != 0 and abs(v) < 10 ** -digits:
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return str(value)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Markdown table lines."""
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _frame_table(df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return md_table(list(columns), [[fmt(r[c]) for c in columns] for r in df.to_dict("records")])


def _data_section(results: Mapping[str, Any]) -> list[str]:
    data = results["data"]
    lines = ["## Data", ""]
    lines += [f"Manifest `{results['settings']['manifest']}` ({data['format']}); channels analysed: "
              f"{len(data['channels'])} ({', '.join(data['channels'])})."]
    lines += ["", *_frame_table(pd.DataFrame(data["per_group"]),
                                ["class", "subjects", "videos", "frames_listed", "frames_kept"]), ""]
    drops = data["drops"]
    conf = f" (min confidence {results['settings']['min_confidence']})" if data["has_time"] else ""
    lines.append("Frames dropped: " + ", ".join(f"{k} {v}" for k, v in drops.items() if k != "files") + f"{conf}.")
    for note in data["notes"]:
        lines += ["", f"> **Note:** {note}"]
    return lines + [""]


def _tests_section(results: Mapping[str, Any], figures: Mapping[str, str]) -> list[str]:
    comp = results["comparison"]
    tests = pd.DataFrame(results["group_tests"])
    lines = ["## Group tests", "",
             f"A = **{comp['group_a']}** (n={comp['n_a']}), B = **{comp['group_b']}** (n={comp['n_b']}); "
             f"one value per {comp['unit']} (mean over its valid frames). {SIGN_NOTE}", ""]
    if comp["unit"] != "subject":
        lines += ["> **WARNING: frames are the unit here, and frames are not independent. Treat the p- and "
                  "q-values as descriptive only.**", ""]
    if not tests.empty:
        tests = tests.sort_values(["q_t", "p_t"], na_position="last")
        lines += _frame_table(tests, ["feature", "n_a", "n_b", "mean_a", "mean_b", "t", "p_t", "U", "p_u",
                                      "d", "r_rb", "q_t", "q_u"])
    if "effects" in figures:
        lines += ["", f"![effect sizes]({figures['effects']})"]
    return lines + [""]


def _missing_section(results: Mapping[str, Any]) -> list[str]:
    lines = ["## Emotion expressivity", "",
             "Per-frame sums of AU intensities: happiness AU06+AU12; sadness AU01+AU04+AU15; surprise "
             "AU01+AU02+AU05+AU26; fear AU01+AU02+AU04+AU05+AU20+AU26+AU28 (AU28 is a 0/1 presence: "
             "OpenFace has no AU28 intensity); disgust AU09+AU15+AU16; anger AU04+AU05+AU07+AU23.", ""]
    lines += [f"- {note}" for note in results["missing_notes"]] or ["- every term is available"]
    return lines + [""]


def _curves_section(results: Mapping[str, Any], figures: Mapping[str, str]) -> list[str]:
    lines = ["## Group mean curves over normalised time", ""]
    if "curves_aus" not in figures:
        return lines + ["No time axis in this data (frame-level rows): curves are skipped.", ""]
    s = results["settings"]
    lines.append(f"Each video averaged in {s['bins']} bins of normalised time, videos averaged per subject, "
                 "then mean (line) and SD (band) over subjects.")
    lines += ["", f"![AU curves]({figures['curves_aus']})", "", f"![emotion curves]({figures['curves_emotions']})"]
    return lines + [""]


def _clustering_section(results: Mapping[str, Any], figures: Mapping[str, str]) -> list[str]:
    s = results["settings"]
    lines = ["## PCA and clustering", "",
             f"Per-{s['cluster_unit']} features (mean and SD per channel or expressivity; per-emotion sets add "
             f"the {s['cluster_bins']}-bin time profile when there is time), standardised, PCA keeping "
             f"{s['variance']:.0%} of the variance, then {s['clusters']} clusters. Silhouette in PCA space; "
             "ARI against the true groups.", ""]
    pca = results["pca"]
    lines += md_table(["feature set", "features", "components", "explained"],
                      [[k, str(v["n_features"]), str(v["n_components"]), f"{v['explained']:.3f}"] for k, v in pca.items()])
    if "scree" in figures:
        lines += ["", f"![scree]({figures['scree']})"]
    table = pd.DataFrame(results["clustering"])
    if not table.empty:
        lines += ["", *_frame_table(table, ["feature_set", "method", "n_units", "n_components", "silhouette", "ari", "sizes"])]
    if "clusters" in figures:
        lines += ["", f"![clusters]({figures['clusters']})"]
    return lines + [""]


def _distribution_section(figures: Mapping[str, str]) -> list[str]:
    lines = ["## Per-class distributions (frames)", "",
             "Frame values pooled over subjects (descriptive; the tests above use subject means)."]
    for key in ("dist_intensity", "dist_emotions", "dist_presence"):
        if key in figures:
            lines += ["", f"![{key}]({figures[key]})"]
    return lines + [""]


def render_markdown(results: Mapping[str, Any]) -> str:
    """The whole ``report.md`` text."""
    figures = results.get("figures", {})
    lines = ["# AU analysis report", ""]
    if results["data"]["notes"] and not results["data"]["subject_level"]:
        lines += [f"> **{results['data']['notes'][0]}**", ""]
    lines += _data_section(results)
    lines += _missing_section(results)
    lines += _tests_section(results, figures)
    lines += _curves_section(results, figures)
    lines += _clustering_section(results, figures)
    lines += _distribution_section(figures)
    lines += [f"_Wall time {results.get('wall_time_s', float('nan')):.1f} s._", ""]
    return "\n".join(lines)


def write_report(results: Mapping[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``results.json`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clean = jsonable(results)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(clean, indent=2))
    md_path = out_dir / "report.md"
    md_path.write_text(render_markdown(clean))
    return md_path, json_path


def log_to_wandb(
    results: Mapping[str, Any], out_dir: str | Path, mode: str, project: str = "facedep-analysis",
    name: str | None = None,
) -> str | None:
    """One W&B run with the tables (``wandb.Table``) and figures; ``mode`` online|offline|disabled.

    Returns the run folder (None when disabled).
    """
    if mode == "disabled":
        return None
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    out_dir = Path(out_dir)
    run = wandb.init(project=project, name=name or out_dir.name, dir=str(out_dir), mode=mode,
                     config=jsonable(results["settings"]), job_type="analysis",
                     settings=wandb.Settings(console="off", x_disable_stats=True))
    try:
        payload: dict[str, Any] = {}
        for key in ("group_tests", "clustering"):
            frame = pd.DataFrame(results[key])
            if not frame.empty:
                payload[key] = wandb.Table(dataframe=frame.astype({c: str for c in frame.columns if frame[c].dtype == object}))
        payload["pca"] = wandb.Table(dataframe=pd.DataFrame(
            [{"feature_set": k, **{f: v[f] for f in ("n_features", "n_components", "explained")}} for k, v in results["pca"].items()]
        ))
        for key, rel in results.get("figures", {}).items():
            payload[f"figures/{key}"] = wandb.Image(str(out_dir / rel))
        run.log(payload)
        return str(Path(run.dir).parent)
    finally:
        run.finish()
