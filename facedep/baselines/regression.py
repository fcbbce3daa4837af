"""The classic models as regressors (``target: score``): scikit-learn pipelines on ``(N, T, C)`` windows.

``rocket_ridge`` / ``minirocket_ridge``: ROCKET / MiniRocket features, StandardScaler, RidgeCV; ``boosting``:
per-window summary features and HistGradientBoostingRegressor. ``rocket_lr`` (logistic regression) has no
regression counterpart and is refused with the valid names.

Example:
    >>> type(make_regression_model("boosting")[-1]).__name__
    'HistGradientBoostingRegressor'
    >>> make_regression_model("rocket_lr")
    Traceback (most recent call last):
    ValueError: 'rocket_lr' has no regression counterpart (target: score); choose from boosting, minirocket_ridge, rocket_ridge
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from facedep.baselines.classic import ConvolutionFeatures
from facedep.baselines.summary_features import summary_features


def _rocket(kind: str) -> Callable[..., Pipeline]:
    def make(num_kernels: int = 10_000, seed: int = 0, device: str | None = None) -> Pipeline:
        return make_pipeline(ConvolutionFeatures(kind, num_kernels, seed, device), StandardScaler(),
                             RidgeCV(alphas=np.logspace(-3, 3, 10)))

    return make


REGRESSION_MODELS: dict[str, Callable[..., Pipeline]] = {
    "rocket_ridge": _rocket("rocket"),
    "minirocket_ridge": _rocket("minirocket"),
    "boosting": lambda seed=0, **_: make_pipeline(
        FunctionTransformer(summary_features),
        HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=seed),
    ),
}
"""Name -> factory of the regression pipelines. ROCKET factories accept ``num_kernels``, ``seed``, ``device``."""


def check_regression_models(names: list[str]) -> None:
    """ValueError naming the first of ``names`` that is not a classic regressor, with the valid ones."""
    from facedep.baselines.classic import CLASSIC_MODELS

    for name in names:
        if name not in REGRESSION_MODELS:
            what = "has no regression counterpart (target: score)" if name in CLASSIC_MODELS else "is not a classic regressor"
            raise ValueError(f"{name!r} {what}; choose from {', '.join(sorted(REGRESSION_MODELS))}")


def make_regression_model(name: str, **kwargs: object) -> Pipeline:
    """The regression pipeline ``name`` (see :data:`REGRESSION_MODELS`)."""
    check_regression_models([name])
    return REGRESSION_MODELS[name](**kwargs)


def predict_scores(model: Pipeline, x: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """``(N,)`` float64 predictions of ``model`` on windows ``x``, clipped to ``[low, high]`` where given.

    Example:
        >>> class Fixed:
        ...     def predict(self, x): return np.array([-3.0, 5.0, 30.0])
        >>> predict_scores(Fixed(), np.zeros((3, 2, 1)), 0.0, 24.0).tolist()
        [0.0, 5.0, 24.0]
    """
    pred = np.asarray(model.predict(x), dtype=np.float64).reshape(len(x))
    return np.clip(pred, -np.inf if low is None else low, np.inf if high is None else high)
