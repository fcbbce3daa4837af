"""The classic models of the seed study's Table V as scikit-learn pipelines on window arrays.

Every pipeline takes windows ``(N, T, C)`` (as the AU-sequence DataModule makes them) and is
fitted on training windows only. ``scores(model, x)`` returns class probabilities ``(N, K)``:
``predict_proba`` where the model has it, else a softmax of the decision function (RidgeClassifierCV).

Example:
    >>> model = make_classic_model("boosting")
    >>> type(model[-1]).__name__
    'HistGradientBoostingClassifier'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, RidgeClassifierCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from facedep.baselines.summary_features import summary_features


class ConvolutionFeatures(BaseEstimator, TransformerMixin):
    """scikit-learn wrapper of our torch ROCKET / MiniRocket on ``(N, T, C)`` windows."""

    def __init__(self, kind: str = "rocket", num_kernels: int = 10_000, seed: int = 0, device: str | None = None) -> None:
        self.kind = kind
        self.num_kernels = num_kernels
        self.seed = seed
        self.device = device

    def _transform_object(self):  # noqa: ANN202
        from facedep.baselines.minirocket import MiniRocket
        from facedep.baselines.rocket import Rocket

        if self.kind == "rocket":
            return Rocket(num_kernels=self.num_kernels, seed=self.seed, device=self.device)
        if self.kind == "minirocket":
            return MiniRocket(num_features=self.num_kernels, seed=self.seed, device=self.device)
        raise ValueError(f"kind must be 'rocket' or 'minirocket', got {self.kind!r}")

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> ConvolutionFeatures:
        self.transform_ = self._transform_object().fit(np.ascontiguousarray(x.transpose(0, 2, 1)))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.transform_.transform(np.ascontiguousarray(x.transpose(0, 2, 1)))


def _rocket(head: Callable[[], BaseEstimator], kind: str = "rocket") -> Callable[..., Pipeline]:
    def make(num_kernels: int = 10_000, seed: int = 0, device: str | None = None) -> Pipeline:
        return make_pipeline(ConvolutionFeatures(kind, num_kernels, seed, device), StandardScaler(), head())

    return make


CLASSIC_MODELS: dict[str, Callable[..., Pipeline]] = {
    "rocket_lr": _rocket(lambda: LogisticRegression(max_iter=2000, C=0.1)),
    "rocket_ridge": _rocket(lambda: RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))),
    "minirocket_ridge": _rocket(lambda: RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)), kind="minirocket"),
    "boosting": lambda seed=0, **_: make_pipeline(
        FunctionTransformer(summary_features), HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
    ),
}
"""Name -> factory. ROCKET factories accept ``num_kernels``, ``seed``, ``device``."""


def make_classic_model(name: str, **kwargs: object) -> Pipeline:
    if name not in CLASSIC_MODELS:
        raise ValueError(f"unknown classic model {name!r}; choose from {sorted(CLASSIC_MODELS)}")
    return CLASSIC_MODELS[name](**kwargs)


def scores(model: Pipeline, x: np.ndarray, num_classes: int) -> np.ndarray:
    """Class probabilities ``(N, K)`` (softmax of the decision function for models without probabilities)."""
    if hasattr(model, "predict_proba"):
        try:
            return model.predict_proba(x)
        except AttributeError:
            pass
    decision = np.asarray(model.decision_function(x), dtype=np.float64)
    if decision.ndim == 1:  # binary: one margin for class 1
        decision = np.stack([-decision / 2, decision / 2], axis=1)
    decision -= decision.max(axis=1, keepdims=True)
    probs = np.exp(decision)
    probs /= probs.sum(axis=1, keepdims=True)
    if probs.shape[1] != num_classes:
        raise ValueError(f"model scored {probs.shape[1]} classes, expected {num_classes} (a class missing in training?)")
    return probs
