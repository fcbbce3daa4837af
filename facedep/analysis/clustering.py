"""Unsupervised structure: per-unit feature matrices -> StandardScaler -> PCA (95 % variance) ->
K-means, agglomerative (Ward) and Gaussian-mixture clustering, scored by silhouette and by the
adjusted Rand index (ARI) against the true groups.

As in the temporal AU study, this runs once per feature set: ``all_aus`` (mean and SD of every AU
channel), ``emotions`` (mean and SD of the six expressivities) and one set per emotion (mean, SD and,
with time, the expressivity's profile over normalised-time bins). Silhouettes are computed in the
PCA space the clusters were found in. Nothing here is fitted on test data: it is descriptive.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (20, 4)), rng.normal(6, 1, (20, 4))])
    >>> result = cluster_feature_set(pd.DataFrame(x), np.array(["a"] * 20 + ["b"] * 20), k=2)
    >>> result.table["ari"].round(2).tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from facedep.analysis.expressivity import EMOTIONS
from facedep.analysis.group_stats import bin_index

METHODS: tuple[str, ...] = ("kmeans", "agglomerative", "gmm")


@dataclass
class PCAResult:
    """PCA of the standardised matrix.

    Attributes:
        n_components: smallest number of components whose cumulative explained variance exceeds
            the target (sklearn's rule for a float ``n_components``).
        explained_ratio: explained-variance ratio of every component (for the scree plot).
        scores: ``(n, n_components)`` coordinates the clusters are found in.
        plane: ``(n, 2)`` first two PCs (for the scatter; the second is 0 with one feature).
        used_columns: columns kept (constant or all-NaN columns are dropped before scaling).
    """

    n_components: int
    explained_ratio: np.ndarray
    scores: np.ndarray
    plane: np.ndarray
    used_columns: list[str]

    @property
    def explained(self) -> float:
        """Variance explained by the kept components."""
        return float(self.explained_ratio[: self.n_components].sum())


@dataclass
class FeatureSetResult:
    """One feature set's PCA, cluster labels per method and the method table."""

    name: str
    units: list[str]
    truth: np.ndarray
    pca: PCAResult
    labels: dict[str, np.ndarray]
    table: pd.DataFrame


def summary_features(
    frames: pd.DataFrame, columns: Sequence[str], unit: str = "subject_id", stats: Sequence[str] = ("mean", "std")
) -> pd.DataFrame:
    """Per unit, each column's statistics over the unit's frames; columns named ``"<col>:<stat>"``.

    Example:
        >>> f = pd.DataFrame({"subject_id": ["a", "a", "b", "b"], "x": [1.0, 3.0, 2.0, 2.0]})
        >>> summary_features(f, ["x"]).values.tolist()
        [[2.0, 1.4142135623730951], [2.0, 0.0]]
    """
    grouped = frames.groupby(frames[unit].astype(str), observed=True, sort=True)[list(columns)]
    table = grouped.agg(list(stats))
    table.columns = [f"{col}:{stat}" for col, stat in table.columns]
    return table.astype(np.float64)


def profile_features(frames: pd.DataFrame, column: str, bins: int, unit: str = "subject_id") -> pd.DataFrame:
    """Per unit, ``column`` averaged in ``bins`` bins of normalised time (per video, then per unit).

    Example:
        >>> f = pd.DataFrame({"video": [0, 0, 1, 1], "subject_id": ["a", "a", "a", "a"],
        ...                   "t": [0.0, 1.0, 0.0, 1.0], "x": [1.0, 2.0, 3.0, 6.0]})
        >>> profile_features(f, "x", 2).values.tolist()
        [[2.0, 4.0]]
    """
    work = pd.DataFrame({
        "video": frames["video"].to_numpy(), "unit": frames[unit].astype(str).to_numpy(),
        "bin": bin_index(frames["t"].to_numpy(), bins), "value": frames[column].to_numpy(),
    })
    per_video = work.groupby(["video", "bin"]).agg(unit=("unit", "first"), value=("value", "mean")).reset_index()
    per_unit = per_video.groupby(["unit", "bin"])["value"].mean().unstack("bin")
    per_unit.index.name = unit
    per_unit = per_unit.reindex(columns=range(bins))
    per_unit.columns = [f"{column}:t{b:02d}" for b in range(bins)]
    return per_unit.sort_index()


def build_feature_sets(
    frames: pd.DataFrame, channels: Sequence[str], emotions: Sequence[str] = EMOTIONS,
    unit: str = "subject_id", bins: int = 10, has_time: bool = True,
) -> dict[str, pd.DataFrame]:
    """``all_aus``, ``emotions`` and one ``emotion:<name>`` set per emotion (rows = units)."""
    sets = {"all_aus": summary_features(frames, channels, unit)}
    if emotions:
        sets["emotions"] = summary_features(frames, emotions, unit)
    for emotion in emotions:
        parts = [summary_features(frames, [emotion], unit)]
        if has_time and bins > 1:
            parts.append(profile_features(frames, emotion, bins, unit))
        sets[f"emotion:{emotion}"] = pd.concat(parts, axis=1)
    return sets


def _clean(features: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Drop all-NaN and constant columns, fill remaining NaNs with the column mean."""
    x = features.to_numpy(dtype=np.float64)
    keep = ~np.isnan(x).all(axis=0)
    x = x[:, keep]
    names = [str(c) for c, k in zip(features.columns, keep) if k]
    means = np.nanmean(x, axis=0) if x.size else np.zeros(0)
    x = np.where(np.isnan(x), means, x)
    varies = np.ptp(x, axis=0) > 0 if len(x) else np.zeros(x.shape[1], dtype=bool)
    return x[:, varies], [n for n, v in zip(names, varies) if v]


def pca_reduce(features: pd.DataFrame | np.ndarray, variance: float = 0.95) -> PCAResult:
    """Standardise columns, then keep the fewest PCs explaining more than ``variance`` of the variance.

    Example:
        >>> z = np.linalg.qr(np.random.default_rng(0).normal(size=(50, 3)))[0]
        >>> pca_reduce(np.hstack([z, z])).n_components  # rank 3, equal variances: needs all 3
        3
    """
    frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(features)
    x, used = _clean(frame)
    if x.shape[1] == 0 or len(x) < 2:
        raise ValueError("PCA: no varying feature (or fewer than two units)")
    z = StandardScaler().fit_transform(x)
    pca = PCA(svd_solver="full").fit(z)
    ratio = pca.explained_variance_ratio_
    k = int(min(np.searchsorted(np.cumsum(ratio), variance, side="right") + 1, len(ratio)))
    coords = pca.transform(z)
    plane = coords[:, :2] if coords.shape[1] >= 2 else np.column_stack([coords[:, 0], np.zeros(len(coords))])
    return PCAResult(k, ratio, coords[:, :k], plane, used)


def cluster_labels(scores: np.ndarray, k: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Cluster labels of K-means, agglomerative (Ward) and a Gaussian mixture on ``scores``.

    Example:
        >>> x = np.array([[0.0], [0.1], [5.0], [5.1]])
        >>> sorted(len(set(v)) for v in cluster_labels(x, 2).values())
        [2, 2, 2]
    """
    return {
        "kmeans": KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(scores),
        "agglomerative": AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(scores),
        "gmm": GaussianMixture(n_components=k, n_init=5, init_params="k-means++", reg_covar=1e-4,
                               random_state=seed).fit(scores).predict(scores),
    }


def silhouette(scores: np.ndarray, labels: np.ndarray) -> float:
    """``sklearn.metrics.silhouette_score``, or NaN when it is undefined (one cluster, or n clusters)."""
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels > len(labels) - 1:
        return float("nan")
    return float(silhouette_score(scores, labels))


def cluster_feature_set(
    features: pd.DataFrame, truth: np.ndarray, k: int = 2, variance: float = 0.95, seed: int = 0, name: str = "",
) -> FeatureSetResult:
    """PCA + the three clusterings of one feature set; table columns ``method, silhouette, ari, sizes``."""
    truth = np.asarray(truth)
    with threadpool_limits(limits=1):  # tiny matrices: BLAS/OpenMP threads only add overhead
        pca = pca_reduce(features, variance)
        labels = cluster_labels(pca.scores, k, seed) if len(features) > k else {}
    rows = [{
        "feature_set": name, "method": method, "n_units": len(lab), "n_components": pca.n_components,
        "silhouette": silhouette(pca.scores, lab), "ari": float(adjusted_rand_score(truth, lab)),
        "sizes": "/".join(str(int(n)) for n in np.bincount(lab, minlength=k)),
    } for method, lab in labels.items()]
    table = pd.DataFrame(rows, columns=["feature_set", "method", "n_units", "n_components", "silhouette", "ari", "sizes"])
    return FeatureSetResult(name, [str(u) for u in features.index], truth, pca, labels, table)


def subsample_units(features: pd.DataFrame, max_units: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_units`` rows, drawn without replacement (Ward and silhouettes are O(n^2))."""
    if len(features) <= max_units:
        return features
    rows = np.sort(np.random.default_rng(seed).choice(len(features), size=max_units, replace=False))
    return features.iloc[rows]
