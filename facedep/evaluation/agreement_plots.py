"""One PNG per AU of an agreement check: both intensity traces over the frames, and ours against the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facedep.evaluation.agreement import MatchedFrames
from facedep.evaluation.plots import new_figure


def plot_au_agreement(matched: MatchedFrames, au: str, path: Path, title: str = "") -> Path:
    """Save ``path``: left the two ``AUxx_r`` traces over ``frame``, right a scatter with the identity line."""
    ref, ours = matched.reference[f"{au}_r"].to_numpy(), matched.ours[f"{au}_r"].to_numpy()
    fig = new_figure((10.0, 3.2))
    trace, scatter = fig.subplots(1, 2, width_ratios=[2.4, 1])
    x = np.arange(len(matched.frame)) if len(set(matched.video)) > 1 else matched.frame
    trace.plot(x, ref, color="black", lw=1.2, label="reference")
    trace.plot(x, ours, color="tab:orange", lw=1.0, alpha=0.9, label="ours")
    trace.set_xlabel("frame" if len(set(matched.video)) <= 1 else "matched frame (videos in a row)")
    trace.set_ylabel(f"{au}_r")
    trace.legend(loc="upper right", fontsize=8)
    trace.set_title(title or au, fontsize=10)
    scatter.scatter(ref, ours, s=6, alpha=0.5, color="tab:blue")
    finite = np.isfinite(ref) & np.isfinite(ours)
    if finite.any():
        lo, hi = float(min(ref[finite].min(), ours[finite].min())), float(max(ref[finite].max(), ours[finite].max()))
        scatter.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    scatter.set_xlabel("reference")
    scatter.set_ylabel("ours")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_agreement(matched: MatchedFrames, table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``out_dir/AUxx.png`` for every AU row of ``table`` (titles carry n, r and ICC)."""
    return [
        plot_au_agreement(matched, row.au, out_dir / f"{row.au}.png",
                          f"{row.au}: n {row.n}, r {row.pearson_r:.2f}, ICC(3,1) {row.icc_3_1:.2f}, MAD {row.mad:.2f}")
        for row in table.itertuples()
    ]
