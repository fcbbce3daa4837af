"""Two-group comparisons at SUBJECT level, Benjamini-Hochberg correction, and group mean curves.

Every test sees one value per subject: the mean over all of that subject's valid frames (pooled
across its videos). A subject with 10,000 frames weighs the same as one with 200; frames are never
the unit, because frames of one person are not independent.

Sign convention (all signed effects): **positive = group B higher**. ``t`` is Welch's t of B vs A,
``d`` is Cohen's d = (mean_B - mean_A) / pooled SD, ``U`` is the Mann-Whitney U statistic of group
A (``scipy.stats.mannwhitneyu(a, b).statistic``: pairs with a > b, ties counting 1/2), and the
rank-biserial correlation is ``r_rb = 1 - 2 U / (n_A n_B)``, which is +1 when every B value exceeds
every A value.

Example:
    >>> import pandas as pd
    >>> units = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 6.0, 7.0], "group": ["a"] * 3 + ["b"] * 3})
    >>> row = compare_groups(units, ["x"], "group", "a", "b").iloc[0]
    >>> float(row["r_rb"]), round(float(row["d"]), 3)
    (1.0, 2.84)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

STAT_COLUMNS: tuple[str, ...] = (
    "feature", "n_a", "n_b", "mean_a", "mean_b", "t", "p_t", "U", "p_u", "d", "r_rb", "q_t", "q_u",
)


def resolve_groups(class_names: Sequence[str], groups: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Classes in groups A and B. ``groups`` = two specs, each a class name or comma-separated names;
    ``None``: the two classes, or the first class against all others.

    Example:
        >>> resolve_groups(["healthy", "mild", "severe"])
        (['healthy'], ['mild', 'severe'])
        >>> resolve_groups(["healthy", "mild", "severe"], ["healthy", "mild,severe"])
        (['healthy'], ['mild', 'severe'])
    """
    names = list(class_names)
    if groups is None:
        if len(names) < 2:
            raise ValueError(f"need at least two classes to compare, got {names}")
        return names[:1], names[1:]
    if len(groups) != 2:
        raise ValueError(f"--groups takes exactly two groups, got {list(groups)}")
    parsed = [[g.strip() for g in spec.split(",") if g.strip()] for spec in groups]
    for part in parsed:
        unknown = [g for g in part if g not in names]
        if unknown or not part:
            raise ValueError(f"--groups {list(groups)}: unknown class name(s) {unknown}; classes are {names}")
    if set(parsed[0]) & set(parsed[1]):
        raise ValueError(f"--groups {list(groups)}: a class is in both groups")
    return parsed[0], parsed[1]


def group_label(members: Sequence[str]) -> str:
    """Display name of a group made of classes ``members`` (``"mild+severe"``)."""
    return "+".join(members)


def assign_groups(group: pd.Series, a: Sequence[str], b: Sequence[str]) -> pd.Series:
    """Map class names onto the two group names; classes in neither group become NaN."""
    lookup = {c: group_label(a) for c in a} | {c: group_label(b) for c in b}
    return group.astype(str).map(lookup)


def unit_means(frames: pd.DataFrame, features: Sequence[str], unit: str = "subject_id") -> pd.DataFrame:
    """One row per ``unit`` (subject by default): the mean of each feature over the unit's frames,
    plus its ``label``, ``group`` and ``n_frames``.

    Example:
        >>> f = pd.DataFrame({"subject_id": ["s1"] * 3 + ["s2"], "label": [0] * 4, "group": ["h"] * 4,
        ...                   "x": [1.0, 2.0, 3.0, 10.0]})
        >>> unit_means(f, ["x"])["x"].tolist()
        [2.0, 10.0]
    """
    keys = frames[unit].astype(str) if not isinstance(frames[unit].dtype, pd.CategoricalDtype) else frames[unit]
    grouped = frames.groupby(keys, observed=True, sort=True)
    means = grouped[list(features)].mean()
    info = grouped.agg(label=("label", "first"), group=("group", "first"), n_frames=("label", "size"))
    out = pd.concat([info, means], axis=1)
    out.index = out.index.astype(str)
    out.index.name = unit
    out["group"] = out["group"].astype(str)
    return out


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """(mean_b - mean_a) / pooled SD (ddof 1); NaN when undefined.

    Example:
        >>> cohens_d(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0]))
        1.0
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan")
    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    return float((b.mean() - a.mean()) / pooled) if pooled > 0 else float("nan")


def rank_biserial(u_a: float, n_a: int, n_b: int) -> float:
    """Rank-biserial correlation from group A's U: ``1 - 2 U / (n_a n_b)`` (+1: all B above all A).

    Example:
        >>> rank_biserial(0.0, 3, 4), rank_biserial(12.0, 3, 4), rank_biserial(6.0, 3, 4)
        (1.0, -1.0, 0.0)
    """
    return float(1.0 - 2.0 * u_a / (n_a * n_b))


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q); NaN p-values stay NaN and are not counted in m.

    q_(i) = min over j >= i of p_(j) m / j, capped at 1 (same as ``scipy.stats.false_discovery_control``).

    Example:
        >>> benjamini_hochberg([0.01, 0.04, 0.03, np.nan]).round(3).tolist()
        [0.03, 0.04, 0.04, nan]
    """
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return q
    order = ok[np.argsort(p[ok], kind="mergesort")]
    m = ok.size
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return q


def compare_feature(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Welch t, Mann-Whitney U (two-sided), Cohen's d and rank-biserial r for one feature."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    row = {"n_a": len(a), "n_b": len(b), "mean_a": float(a.mean()) if len(a) else np.nan,
           "mean_b": float(b.mean()) if len(b) else np.nan,
           "t": np.nan, "p_t": np.nan, "U": np.nan, "p_u": np.nan, "d": cohens_d(a, b), "r_rb": np.nan}
    if len(a) < 2 or len(b) < 2:
        return row
    if np.ptp(np.concatenate([a, b])) > 0:
        with np.errstate(all="ignore"):
            t = stats.ttest_ind(b, a, equal_var=False)
        row.update(t=float(t.statistic), p_t=float(t.pvalue))
        u = stats.mannwhitneyu(a, b, alternative="two-sided")
        row.update(U=float(u.statistic), p_u=float(u.pvalue), r_rb=rank_biserial(u.statistic, len(a), len(b)))
    return row


def compare_groups(
    units: pd.DataFrame, features: Sequence[str], group_column: str, group_a: str, group_b: str
) -> pd.DataFrame:
    """Test every feature between the rows of ``units`` whose ``group_column`` is A or B.

    Returns the :data:`STAT_COLUMNS` table (one row per feature, in ``features`` order); q-values are
    BH-adjusted over all features with a defined p-value.
    """
    a_rows = units[units[group_column] == group_a]
    b_rows = units[units[group_column] == group_b]
    rows = [{"feature": f, **compare_feature(a_rows[f].to_numpy(), b_rows[f].to_numpy())} for f in features]
    table = pd.DataFrame(rows, columns=[c for c in STAT_COLUMNS if c not in ("q_t", "q_u")])
    table["q_t"] = benjamini_hochberg(table["p_t"].to_numpy())
    table["q_u"] = benjamini_hochberg(table["p_u"].to_numpy())
    return table[list(STAT_COLUMNS)]


def bin_index(t: np.ndarray, bins: int) -> np.ndarray:
    """Bin of each normalised time in [0, 1] among ``bins`` equal bins (t = 1 goes in the last).

    Example:
        >>> bin_index(np.array([0.0, 0.49, 0.5, 1.0]), 2).tolist()
        [0, 0, 1, 1]
    """
    return np.clip(np.floor(np.asarray(t, dtype=np.float64) * bins), 0, bins - 1).astype(np.int64)


def subject_profiles(frames: pd.DataFrame, features: Sequence[str], bins: int) -> pd.DataFrame:
    """Per subject and time bin: mean over videos of the per-video bin means.

    Returns a long table ``subject_id, group, bin`` + features (a bin no video of the subject
    reaches is absent).
    """
    cols = list(features)
    work = frames[["video", "subject_id", "group", "t", *cols]].copy()
    work["bin"] = bin_index(work["t"].to_numpy(), bins)
    per_video = work.groupby(["video", "bin"], observed=True, sort=False).agg(
        {"subject_id": "first", "group": "first", **{c: "mean" for c in cols}}
    ).reset_index()
    per_subject = per_video.groupby(["subject_id", "bin"], observed=True).agg(
        {"group": "first", **{c: "mean" for c in cols}}
    ).reset_index()
    per_subject["subject_id"] = per_subject["subject_id"].astype(str)
    per_subject["group"] = per_subject["group"].astype(str)
    return per_subject


def group_curves(
    frames: pd.DataFrame, features: Sequence[str], bins: int = 20, group_column: str = "group"
) -> pd.DataFrame:
    """Group mean curves over normalised time: each video is averaged within ``bins`` bins of t,
    videos are averaged per subject, then mean, SD and count over subjects per group and bin.

    Returns a long table ``feature, group, bin, t, mean, std, n`` (``t`` = bin centre).
    ``frames[group_column]`` names each frame's group (NaN frames are left out).
    """
    work = frames.assign(group=frames[group_column]).dropna(subset=["group", "t"])
    profiles = subject_profiles(work, features, bins)
    long = profiles.melt(id_vars=["subject_id", "group", "bin"], value_vars=list(features), var_name="feature")
    curves = long.groupby(["feature", "group", "bin"], observed=True)["value"].agg(["mean", "std", "count"])
    curves = curves.reset_index().rename(columns={"count": "n"})
    curves["t"] = (curves["bin"] + 0.5) / bins
    order = {f: i for i, f in enumerate(features)}
    curves = curves.sort_values(["feature", "group", "bin"], key=lambda s: s.map(order) if s.name == "feature" else s)
    return curves[["feature", "group", "bin", "t", "mean", "std", "n"]].reset_index(drop=True)
