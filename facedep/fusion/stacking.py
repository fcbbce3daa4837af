"""The late-fusion stacker: per-view subject scores -> one subject prediction (pure, no files, no Lightning).

Features, one block per view: the log-odds of the positive class (binary; ``log p1 - log p0``), the log class
probabilities (more than two classes), or the predicted score (score target). A subject a view did not
predict (no usable data) gets the view's training mean feature and, when any training subject lacks that
view, a per-view missing indicator (1 = imputed); both are counted. Every column is standardized with the
training subjects' mean and std (a constant column keeps std 1). Classes: ``LogisticRegression(C)``; scores:
``RidgeCV`` over :data:`DEFAULT_ALPHAS`. The stacker is fitted on the training subjects' out-of-fold
predictions only; :meth:`Stacker.predict` never refits.

Example:
    >>> import pandas as pd
    >>> a = view_features(pd.DataFrame({"prob_hc": [0.9, 0.2, 0.8, 0.3], "prob_dep": [0.1, 0.8, 0.2, 0.7]},
    ...                                index=["s1", "s2", "s3", "s4"]))
    >>> y = pd.Series([0, 1, 0, 1], index=a.index)
    >>> s = fit_stacker({"aus": a}, y, kind="classes", class_names=["hc", "dep"])
    >>> s.predict({"aus": a}, ["s1", "s2"]).argmax(axis=1).tolist()
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["classes", "score"]
EPS = 1e-6
"""Probabilities are clipped to [EPS, 1 - EPS] before the logarithm."""
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))
"""Ridge penalties RidgeCV chooses from (leave-one-out) for a score target."""
MISSING = "missing"
"""Feature name of a view's missing indicator."""


def view_features(table: pd.DataFrame) -> pd.DataFrame:
    """The stacking features of one view's subject predictions (index = subject id).

    ``prob_<class>`` columns: binary -> one column ``log_odds`` (``log p1 - log p0``); more classes ->
    ``logp_<class>`` per class. A ``prediction`` column (score target) -> ``score``.

    Example:
        >>> t = pd.DataFrame({"prob_a": [0.5, 0.2], "prob_b": [0.5, 0.8]}, index=["s1", "s2"])
        >>> view_features(t).round(4).to_dict("list")
        {'log_odds': [0.0, 1.3863]}
    """
    probs = [c for c in table.columns if c.startswith("prob_")]
    if probs:
        p = np.clip(table[probs].to_numpy(dtype=np.float64), EPS, 1 - EPS)
        if len(probs) == 2:
            return pd.DataFrame({"log_odds": np.log(p[:, 1]) - np.log(p[:, 0])}, index=table.index)
        return pd.DataFrame(np.log(p), index=table.index, columns=[f"logp_{c.removeprefix('prob_')}" for c in probs])
    if "prediction" in table.columns:
        return pd.DataFrame({"score": table["prediction"].to_numpy(dtype=np.float64)}, index=table.index)
    raise ValueError(f"subject predictions need prob_<class> columns or a 'prediction' column, got {list(table.columns)}")


@dataclass
class Design:
    """How raw view features become the stacker's matrix: columns, training means (imputation), scaling."""

    views: list[str]
    features: dict[str, list[str]]
    indicators: list[str]
    mean: np.ndarray = field(repr=False)
    std: np.ndarray = field(repr=False)

    @property
    def columns(self) -> list[tuple[str, str]]:
        """``(view, feature)`` per matrix column: the views' features, then the missing indicators."""
        return [(v, f) for v in self.views for f in self.features[v]] + [(v, MISSING) for v in self.indicators]


def _raw(features: Mapping[str, pd.DataFrame], subjects: Sequence[str], views: Sequence[str],
         names: Mapping[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Raw features of ``subjects`` (NaN where a view lacks the subject) and the missing mask (N, V)."""
    blocks, missing = [], []
    for view in views:
        table = features.get(view)
        if table is None:
            table = pd.DataFrame(columns=names[view], dtype=float)
        if list(table.columns) != names[view]:
            raise ValueError(f"view {view!r}: features {list(table.columns)} differ from the training ones {names[view]}")
        if not table.index.is_unique:
            raise ValueError(f"view {view!r}: a subject is listed twice: {table.index[table.index.duplicated()].tolist()[:5]}")
        block = table.reindex([str(s) for s in subjects]).to_numpy(dtype=np.float64)
        blocks.append(block)
        missing.append(np.isnan(block).any(axis=1))
    return np.concatenate(blocks, axis=1), np.stack(missing, axis=1)


def _matrix(design: Design, raw: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Impute (training means), append the indicators, standardize with the training statistics."""
    width = raw.shape[1]
    imputed = np.where(np.isnan(raw), design.mean[:width], raw)
    flags = np.stack([missing[:, design.views.index(v)] for v in design.indicators], axis=1).astype(np.float64) \
        if design.indicators else np.zeros((len(raw), 0))
    return (np.concatenate([imputed, flags], axis=1) - design.mean) / design.std


@dataclass
class Stacker:
    """A fitted stacker: the design, the scikit-learn model and what it was fitted on."""

    kind: Kind
    design: Design
    model: Any
    class_names: list[str]
    n_train: int
    missing_train: dict[str, int]
    low: float | None = None
    high: float | None = None

    def predict(self, features: Mapping[str, pd.DataFrame], subjects: Sequence[str]) -> np.ndarray:
        """Class probabilities (N, K) or scores (N,) of ``subjects`` from their per-view features."""
        raw, missing = _raw(features, subjects, self.design.views, self.design.features)
        x = _matrix(self.design, raw, missing)
        if self.kind == "score":
            pred = self.model.predict(x)
            return np.clip(pred, self.low if self.low is not None else -np.inf, self.high if self.high is not None else np.inf)
        probs = np.zeros((len(x), len(self.class_names)))
        probs[:, self.model.classes_] = self.model.predict_proba(x)
        return probs

    def missing_counts(self, features: Mapping[str, pd.DataFrame], subjects: Sequence[str]) -> dict[str, int]:
        """Subjects of ``subjects`` each view did not predict (imputed)."""
        _, missing = _raw(features, subjects, self.design.views, self.design.features)
        return {v: int(missing[:, i].sum()) for i, v in enumerate(self.design.views)}

    def explain(self) -> dict[str, Any]:
        """JSON-able coefficients: per feature (on standardized features) and per view, the view's weight
        (L2 norm of its feature coefficients, indicators excluded) and its share of the views' total weight."""
        coef = np.atleast_2d(self.model.coef_)  # (1, F) binary / score, (K, F) multinomial
        columns = self.design.columns
        features = [{"view": v, "feature": f, "coef": coef[:, i].tolist() if len(coef) > 1 else float(coef[0, i]),
                     "train_mean": float(self.design.mean[i]), "train_std": float(self.design.std[i])}
                    for i, (v, f) in enumerate(columns)]
        weights = {v: float(np.linalg.norm(coef[:, [i for i, (w, f) in enumerate(columns) if w == v and f != MISSING]]))
                   for v in self.design.views}
        total = sum(weights.values())
        views = {v: {"weight": weights[v], "share": weights[v] / total if total > 0 else None,
                     "missing_coef": next((feat["coef"] for feat in features if feat["view"] == v and feat["feature"] == MISSING), None),
                     "missing_train": self.missing_train[v]} for v in self.design.views}
        intercept = np.atleast_1d(self.model.intercept_).tolist()
        model = {"name": "LogisticRegression", "C": float(self.model.C), "classes": self.model.classes_.tolist()} \
            if self.kind == "classes" else \
            {"name": "RidgeCV", "alpha": float(self.model.alpha_), "alphas": list(map(float, self.model.alphas))}
        if self.kind == "classes" and len(self.class_names) == 2:
            note = f"coef: change in the log-odds of {self.class_names[-1]!r} per training std of the feature"
        elif self.kind == "classes":
            note = "coef: one per class (multinomial), per training std of the feature"
        else:
            note = "coef: change in the predicted score per training std of the feature"
        return {"kind": self.kind, "model": model, "intercept": intercept, "n_train": self.n_train, "note": note,
                "features": features, "views": views, "clip": [self.low, self.high] if self.kind == "score" else None}


def fit_stacker(
    features: Mapping[str, pd.DataFrame],
    y: pd.Series,
    kind: Kind,
    class_names: Sequence[str],
    C: float = 1.0,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    low: float | None = None,
    high: float | None = None,
) -> Stacker:
    """Fit the stacker on the training subjects ``y.index`` (``y``: class index or score) from their
    out-of-fold per-view features (``{view: DataFrame indexed by subject}``; a subject absent from a view's
    frame is imputed). ``low``/``high`` clip predicted scores. Raises ValueError for a view that predicted no
    training subject, or classes that are not ``0..K-1``.
    """
    from sklearn.linear_model import LogisticRegression, RidgeCV

    views = list(features)
    if not views:
        raise ValueError("fit_stacker needs at least one view")
    subjects = [str(s) for s in y.index]
    if len(set(subjects)) != len(subjects):
        raise ValueError("fit_stacker: a training subject is listed twice")
    names = {v: list(features[v].columns) for v in views}
    raw, missing = _raw(features, subjects, views, names)
    empty = [v for i, v in enumerate(views) if missing[:, i].all()]
    if empty:
        raise ValueError(f"view(s) {empty} predicted none of the {len(subjects)} training subjects: nothing to learn their weight from")
    width = raw.shape[1]
    mean = np.nanmean(raw, axis=0)
    indicators = [v for i, v in enumerate(views) if missing[:, i].any()]
    flags = np.stack([missing[:, views.index(v)] for v in indicators], axis=1).astype(np.float64) if indicators else np.zeros((len(raw), 0))
    full = np.concatenate([np.where(np.isnan(raw), mean, raw), flags], axis=1)
    mean = np.concatenate([mean, full[:, width:].mean(axis=0)])
    std = full.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    design = Design(views, names, indicators, mean, std)
    x = (full - mean) / std
    target = y.to_numpy()
    if kind == "classes":
        labels = target.astype(int)
        if labels.min() < 0 or labels.max() >= len(class_names):
            raise ValueError(f"class indices must be in [0, {len(class_names)}), got {sorted(set(labels.tolist()))}")
        if len(set(labels.tolist())) < 2:
            raise ValueError(f"the stacker's training subjects hold one class only ({class_names[labels[0]]})")
        model = LogisticRegression(C=C, max_iter=5000).fit(x, labels)
    elif kind == "score":
        model = RidgeCV(alphas=list(alphas)).fit(x, target.astype(np.float64))
    else:
        raise ValueError(f"kind must be 'classes' or 'score', got {kind!r}")
    return Stacker(kind, design, model, list(class_names), len(subjects),
                   {v: int(missing[:, i].sum()) for i, v in enumerate(views)}, low, high)
