"""Per-AU agreement between two AU CSVs in OpenFace 2.x layout (ours vs a reference, e.g. OpenFace itself).

Frames are matched on ``frame``; only frames that both files mark ``success`` count. Per AU: Pearson r,
ICC(3,1), mean absolute difference of the ``_r`` intensities, both standard deviations and the presence
F1 of the ``_c`` columns (the reference as truth).

Example:
    >>> ours = pd.DataFrame({"frame": [1, 2, 3, 4], "AU12_r": [0.0, 1.0, 2.0, 3.0]})
    >>> ref = pd.DataFrame({"frame": [1, 2, 3, 4], "AU12_r": [0.0, 1.0, 2.0, 3.0]})
    >>> row = au_agreement(ours, ref).iloc[0]
    >>> row["au"], float(row["pearson_r"]), float(row["icc_3_1"]), float(row["mad"])
    ('AU12', 1.0, 1.0, 0.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.io.au_table import DataFormatError
from datamodules.io.frame_table import read_frame_csv, read_header

AU_COLUMN = re.compile(r"^AU\d+_[rc]$")
MOVING_STD = 0.25
"""An AU "visibly moves" in a video when the reference's intensity std is at least this (the issue's goal)."""
GOAL_MEDIAN_R = 0.6
GOAL_AU45_R = 0.7
TABLE_COLUMNS: tuple[str, ...] = ("au", "n", "pearson_r", "icc_3_1", "mad", "reference_std", "ours_std",
                                  "presence_f1", "moving", "note")


def read_au_frames(path: str | Path) -> pd.DataFrame:
    """``frame``, ``success`` (bool, True without the column) and every ``AUxx_r``/``AUxx_c`` column of a CSV.

    Header spaces are stripped (OpenFace writes ``' AU01_r'``). Raises :class:`DataFormatError` naming the
    file and column for: no ``frame``, no AU column, a non-numeric cell, a non-integer frame, repeated frames.

    Example:
        >>> read_au_frames("subj01_timepoint01_openface.csv").shape  # doctest: +SKIP
        (158, 37)
    """
    header = read_header(path)
    if "frame" not in header:
        raise DataFormatError(f"{path}: missing column 'frame'; it has {header[:8]}{' ...' if len(header) > 8 else ''}")
    au_columns = [c for c in header if AU_COLUMN.match(c)]
    if not au_columns:
        raise DataFormatError(f"{path}: no AU columns (AUxx_r / AUxx_c) found")
    wanted = ["frame", *(["success"] if "success" in header else []), *au_columns]
    df = read_frame_csv(path, {c: c for c in wanted})
    for column in df.columns:
        values = pd.to_numeric(df[column], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & df[column].notna().to_numpy())
        if bad.size:
            raise DataFormatError(f"{path}: column '{column}', data row {bad[0] + 1}: cannot parse "
                                  f"{df[column].iloc[bad[0]]!r} as a number")
        df[column] = values
    frame = df["frame"].to_numpy(dtype=float)
    if not np.all(np.isfinite(frame) & (frame == np.round(frame))):
        row = int(np.flatnonzero(~(np.isfinite(frame) & (frame == np.round(frame))))[0])
        raise DataFormatError(f"{path}: column 'frame', data row {row + 1}: {frame[row]!r} is not a frame number")
    df["frame"] = frame.astype(np.int64)
    repeated = df["frame"][df["frame"].duplicated()].unique()
    if repeated.size:
        shown = ", ".join(str(f) for f in repeated[:5]) + (" ..." if repeated.size > 5 else "")
        raise DataFormatError(f"{path}: column 'frame': {repeated.size} frame number(s) repeat ({shown}); "
                              "one face per file is expected")
    df["success"] = df["success"].fillna(0).to_numpy() > 0.5 if "success" in df.columns else True
    return df.sort_values("frame").reset_index(drop=True)[["frame", "success", *au_columns]]


@dataclass
class MatchedFrames:
    """Rows of ``ours`` and ``reference`` aligned on the frames both tracked successfully.

    Attributes:
        frame: matched frame numbers (per video; several videos pooled when ``video`` differs).
        ours, reference: the AU columns at those frames, same row order.
        video: the video each row comes from (one name for a single pair).
        counts: ``matched``, ``only_ours``, ``only_reference`` (frame in one file only) and ``failed``
            (frame in both, unsuccessful in either).
    """

    frame: np.ndarray
    ours: pd.DataFrame
    reference: pd.DataFrame
    video: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """E.g. ``"156 frames matched (0 only in ours, 2 only in the reference, 1 unsuccessful in either)"``."""
        c = self.counts
        return (f"{c['matched']} frames matched ({c['only_ours']} only in ours, {c['only_reference']} only in "
                f"the reference, {c['failed']} unsuccessful in either)")


def match_frames(ours: pd.DataFrame, reference: pd.DataFrame, video: str = "") -> MatchedFrames:
    """Inner join of two :func:`read_au_frames` tables on ``frame``, successful frames of both only.

    Example:
        >>> a = pd.DataFrame({"frame": [1, 2, 3], "success": [True, True, False], "AU45_r": [0.0, 1.0, 2.0]})
        >>> b = pd.DataFrame({"frame": [2, 3, 4], "success": True, "AU45_r": [1.5, 2.5, 3.5]})
        >>> m = match_frames(a, b)
        >>> m.frame.tolist(), m.counts
        ([2], {'matched': 1, 'only_ours': 1, 'only_reference': 1, 'failed': 1})
    """
    with_success = [t if "success" in t else t.assign(success=True) for t in (ours, reference)]
    joined = with_success[0].merge(with_success[1], on="frame", how="outer", suffixes=("@ours", "@ref"), indicator=True)
    both = joined["_merge"] == "both"
    keep = both.to_numpy() & _success(joined, "success@ours") & _success(joined, "success@ref")
    kept = joined[keep].sort_values("frame")
    counts = {"matched": int(keep.sum()), "only_ours": int((joined["_merge"] == "left_only").sum()),
              "only_reference": int((joined["_merge"] == "right_only").sum()), "failed": int(both.sum() - keep.sum())}
    return MatchedFrames(
        frame=kept["frame"].to_numpy(dtype=np.int64),
        ours=_side(kept, ours, "@ours"),
        reference=_side(kept, reference, "@ref"),
        video=np.full(len(kept), video, dtype=object),
        counts=counts,
    )


def _success(joined: pd.DataFrame, column: str) -> np.ndarray:
    """A success column after an outer join (NaN on the other file's rows) as bool."""
    return joined[column].to_numpy(dtype=object, na_value=False).astype(bool)


def _side(kept: pd.DataFrame, table: pd.DataFrame, suffix: str) -> pd.DataFrame:
    """One file's AU columns of the joined rows, under their own names."""
    columns = [c for c in table.columns if AU_COLUMN.match(c)]
    return pd.DataFrame({c: kept[c + suffix if c + suffix in kept else c].to_numpy(dtype=float) for c in columns})


def pool_matches(matches: Sequence[MatchedFrames]) -> MatchedFrames:
    """Several videos' matched frames as one (AU columns present in only some videos are NaN elsewhere)."""
    if not matches:
        raise ValueError("no matched videos to pool")
    return MatchedFrames(
        frame=np.concatenate([m.frame for m in matches]),
        ours=pd.concat([m.ours for m in matches], ignore_index=True),
        reference=pd.concat([m.reference for m in matches], ignore_index=True),
        video=np.concatenate([m.video for m in matches]),
        counts={k: sum(m.counts[k] for m in matches) for k in matches[0].counts},
    )


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either series is constant or has fewer than 2 values.

    Example:
        >>> pearson_r(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0]))  # doctest: +ELLIPSIS
        0.9933...
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    return float(np.clip((dx @ dy) / math.sqrt((dx @ dx) * (dy @ dy)), -1.0, 1.0))


def icc_3_1(x: np.ndarray, y: np.ndarray) -> float:
    """ICC(3,1) of two raters: two-way mixed effects, consistency, single rater (Shrout & Fleiss 1979).

    With ``n`` targets (frames) and ``k = 2`` raters, ``ICC = (MSR - MSE) / (MSR + (k - 1) MSE)`` where MSR
    is the between-frames mean square and MSE the residual mean square of the two-way ANOVA. A constant
    offset between the raters does not lower it (consistency); NaN when either rater is constant (as
    Pearson r; the ANOVA would give 0) or n < 2.

    Example:
        >>> icc_3_1(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0]))  # offset only
        1.0
    """
    data = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    n, k = data.shape
    if n < 2 or np.any(np.ptp(data, axis=0) == 0):
        return float("nan")
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    msr, mse = ss_rows / (n - 1), max(ss_error, 0.0) / ((n - 1) * (k - 1))
    return float((msr - mse) / (msr + (k - 1) * mse))


def presence_f1(reference: np.ndarray, ours: np.ndarray) -> float:
    """F1 of ``ours`` presence (0/1) against the ``reference``'s; NaN when neither marks any frame present.

    Example:
        >>> presence_f1(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
        0.5
    """
    truth, guess = np.asarray(reference) > 0.5, np.asarray(ours) > 0.5
    tp, fp, fn = (truth & guess).sum(), (~truth & guess).sum(), (truth & ~guess).sum()
    return float("nan") if tp + fp + fn == 0 else float(2 * tp / (2 * tp + fp + fn))


def au_agreement(ours: pd.DataFrame | MatchedFrames, reference: pd.DataFrame | None = None,
                 moving_std: float = MOVING_STD) -> pd.DataFrame:
    """One row per AU whose ``_r`` both have: :data:`TABLE_COLUMNS` (``n`` = frames finite in both).

    Pass two :func:`read_au_frames` tables, or one :class:`MatchedFrames` (e.g. pooled videos). Standard
    deviations are sample ones (ddof 1). A constant column gives NaN r / ICC (not an error) and a ``note``.
    """
    matched = ours if isinstance(ours, MatchedFrames) else match_frames(ours, reference)
    aus = [c[:-2] for c in matched.reference.columns if c.endswith("_r") and c in matched.ours.columns]
    rows = [_au_row(matched, au, moving_std) for au in sorted(aus)]
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table.attrs["counts"] = dict(matched.counts)
    return table


def _au_row(matched: MatchedFrames, au: str, moving_std: float) -> dict[str, object]:
    """The agreement statistics of one AU."""
    ref, our = matched.reference[f"{au}_r"].to_numpy(), matched.ours[f"{au}_r"].to_numpy()
    finite = np.isfinite(ref) & np.isfinite(our)
    ref, our = ref[finite], our[finite]
    std = (lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"))
    notes = [f"constant in {name}" for name, v in (("reference", ref), ("ours", our)) if len(v) and np.ptp(v) == 0]
    f1 = float("nan")
    if f"{au}_c" in matched.reference and f"{au}_c" in matched.ours:
        ref_c, our_c = matched.reference[f"{au}_c"].to_numpy(), matched.ours[f"{au}_c"].to_numpy()
        both = np.isfinite(ref_c) & np.isfinite(our_c)
        f1 = presence_f1(ref_c[both], our_c[both])
        if math.isnan(f1):
            notes.append("never present in either")
    reference_std = std(ref)
    return {"au": au, "n": int(finite.sum()), "pearson_r": pearson_r(our, ref), "icc_3_1": icc_3_1(our, ref),
            "mad": float(np.abs(our - ref).mean()) if len(ref) else float("nan"), "reference_std": reference_std,
            "ours_std": std(our), "presence_f1": f1, "moving": bool(reference_std >= moving_std),
            "note": "; ".join(notes)}


@dataclass
class AgreementSummary:
    """The issue's goal on one table: median r over the moving AUs, AU45's r, whether both are met.

    ``undefined_aus``: moving AUs whose r is NaN (ours constant); they count as r = 0 in the median, so
    an AU we never move cannot raise it by dropping out.
    """

    moving_aus: list[str]
    median_r: float
    au45_r: float
    moving_std: float = MOVING_STD
    undefined_aus: list[str] = field(default_factory=list)

    @property
    def goal_met(self) -> bool:
        """median r >= 0.6 over the moving AUs and AU45 r >= 0.7 (NaN counts as not met)."""
        return bool(self.median_r >= GOAL_MEDIAN_R and self.au45_r >= GOAL_AU45_R)

    def line(self) -> str:
        """One line, e.g. ``median r 0.65 over 9 moving AUs (reference std >= 0.25), AU45 r 0.81: goal met``."""
        verdict = "goal met" if self.goal_met else f"goal not met (needs median >= {GOAL_MEDIAN_R}, AU45 >= {GOAL_AU45_R})"
        undefined = f", r undefined (counted 0) for {', '.join(self.undefined_aus)}" if self.undefined_aus else ""
        return (f"median r {self.median_r:.3f} over {len(self.moving_aus)} moving AUs (reference std >= "
                f"{self.moving_std:g}{undefined}), AU45 r {self.au45_r:.3f}: {verdict}")


def summarize_agreement(table: pd.DataFrame, moving_std: float = MOVING_STD) -> AgreementSummary:
    """:class:`AgreementSummary` of an :func:`au_agreement` table; "moving" = reference std >= ``moving_std``.

    Example:
        >>> t = pd.DataFrame({"au": ["AU12", "AU45", "AU01"], "pearson_r": [0.5, 0.9, 0.0],
        ...                   "reference_std": [0.4, 0.6, 0.1]})
        >>> s = summarize_agreement(t)
        >>> s.moving_aus, s.median_r, s.goal_met
        (['AU12', 'AU45'], 0.7, True)
    """
    moving = table[table["reference_std"] >= moving_std]
    values = moving["pearson_r"].to_numpy(dtype=float)
    au45 = table.loc[table["au"] == "AU45", "pearson_r"]
    return AgreementSummary(
        moving_aus=moving["au"].tolist(),
        median_r=float(np.median(np.nan_to_num(values, nan=0.0))) if values.size else float("nan"),
        au45_r=float(au45.iloc[0]) if len(au45) else float("nan"),
        moving_std=moving_std,
        undefined_aus=moving["au"][np.isnan(values)].tolist(),
    )
