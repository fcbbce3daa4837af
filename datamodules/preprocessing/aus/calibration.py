"""Optional per-AU linear map from geometric features to a user's own OpenFace intensities.

An :class:`AUCalibration` holds, per AU, weights over the baseline-relative features of
:func:`~datamodules.preprocessing.aus.intensity.relative_features` plus an intercept; predictions are
clipped to 0-5. It is stored as JSON (never pickle) with a ``version`` field::

    {"format": "facedep-au-calibration", "version": 1, "features": [...], "aus": {"AU12": {"weights": [...],
     "intercept": 0.1}}, "ridge": 1.0, "notes": {...}}

:func:`fit_calibration` fits one ridge regression per AU (features standardised, intercept unpenalised),
frames matched on the ``frame`` column / index of both tables.

Example:
    >>> feats = pd.DataFrame({"a": np.arange(50.0), "b": np.cos(np.arange(50.0))})
    >>> of = pd.DataFrame({"AU12_r": 0.05 * feats["a"] + 0.5})
    >>> cal = fit_calibration(feats, of, ridge=1e-6)
    >>> round(cal.weights["AU12"][0], 3), round(cal.intercepts["AU12"], 3)
    (0.05, 0.5)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FORMAT_NAME = "facedep-au-calibration"
FORMAT_VERSION = 1
MIN_FRAMES = 10


class CalibrationError(ValueError):
    """A calibration file or fit input is unusable; the message names the file or table."""


@dataclass
class AUCalibration:
    """Per-AU linear map ``AUxx_r = clip(features @ weights[AU] + intercepts[AU], 0, 5)``."""

    features: list[str]
    weights: dict[str, list[float]]
    intercepts: dict[str, float]
    ridge: float = 10.0
    notes: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.weights) != set(self.intercepts):
            raise CalibrationError(f"weights AUs {sorted(self.weights)} != intercept AUs {sorted(self.intercepts)}")
        for au, w in self.weights.items():
            if len(w) != len(self.features):
                raise CalibrationError(f"{au}: {len(w)} weights for {len(self.features)} features")
            if not np.isfinite(w).all() or not np.isfinite(self.intercepts[au]):
                raise CalibrationError(f"{au}: non-finite weights or intercept")

    @property
    def aus(self) -> list[str]:
        return sorted(self.weights)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``AUxx_r`` columns (clipped 0-5, NaN where a feature is NaN) for ``features`` rows."""
        missing = [f for f in self.features if f not in features.columns]
        if missing:
            raise CalibrationError(f"features table lacks calibration features {missing}")
        x = features[self.features].to_numpy(dtype=np.float64)
        out = {f"{au}_r": np.clip(x @ np.asarray(self.weights[au]) + self.intercepts[au], 0.0, 5.0) for au in self.aus}
        return pd.DataFrame(out, index=features.index)

    def to_dict(self) -> dict[str, object]:
        aus = {au: {"weights": list(map(float, self.weights[au])), "intercept": float(self.intercepts[au])} for au in self.aus}
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "features": list(self.features), "aus": aus,
                "ridge": float(self.ridge), "notes": self.notes}

    def save(self, path: str | Path) -> Path:
        """Write JSON to ``path``; returns it."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | Path) -> AUCalibration:
        """Read a file written by :meth:`save`; :class:`CalibrationError` naming ``path`` when it is not one."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"{path}: not a readable JSON calibration ({exc})") from exc
        try:
            if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
                raise CalibrationError(f"format is not {FORMAT_NAME!r}")
            if data.get("version") != FORMAT_VERSION:
                raise CalibrationError(f"version {data.get('version')!r} is not supported (expected {FORMAT_VERSION})")
            aus = data["aus"]
            return cls(features=[str(f) for f in data["features"]],
                       weights={au: [float(w) for w in v["weights"]] for au, v in aus.items()},
                       intercepts={au: float(v["intercept"]) for au, v in aus.items()},
                       ridge=float(data.get("ridge", 10.0)), notes=dict(data.get("notes", {})))
        except CalibrationError as exc:
            raise CalibrationError(f"{path}: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CalibrationError(f"{path}: malformed calibration ({type(exc).__name__}: {exc})") from exc


def _frame_indexed(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("frame") if "frame" in table.columns else table


def match_frames(features: pd.DataFrame, openface: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of both tables on common frames (``frame`` column or index) where every value is finite."""
    feats, of = _frame_indexed(features), _frame_indexed(openface)
    common = feats.index.intersection(of.index)
    if not len(common):
        raise CalibrationError("features and OpenFace tables share no frame number")
    return feats.loc[common], of.loc[common]


def fit_calibration(features: pd.DataFrame, openface: pd.DataFrame, ridge: float = 10.0,
                    aus: list[str] | None = None, own_feature_only: bool = False) -> AUCalibration:
    """Ridge regression per AU of ``openface["AUxx_r"]`` on all numeric ``features`` columns, frames matched.

    ``ridge`` is the L2 penalty on the standardised features (whose Gram matrix has the frame count on its
    diagonal, so 10 is mild for a few hundred frames); AUs default to every
    ``AUxx_r`` column of ``openface``. With ``own_feature_only``, AU ``xx`` uses only the feature column
    whose name starts with ``"AUxx"`` (weight 0 elsewhere): far fewer parameters, robust with little data.
    Needs at least :data:`MIN_FRAMES` matched finite frames.
    """
    feats, of = match_frames(features, openface)
    names = [c for c in feats.columns if pd.api.types.is_numeric_dtype(feats[c])]
    targets = aus or [c[:-2] for c in of.columns if str(c).startswith("AU") and str(c).endswith("_r")]
    if not targets:
        raise CalibrationError("OpenFace table has no AUxx_r column")
    x_all = feats[names].to_numpy(dtype=np.float64)
    weights: dict[str, list[float]] = {}
    intercepts: dict[str, float] = {}
    for au in targets:
        y = of[f"{au}_r"].to_numpy(dtype=np.float64)
        ok = np.isfinite(x_all).all(axis=1) & np.isfinite(y)
        if ok.sum() < MIN_FRAMES:
            raise CalibrationError(f"{au}: only {int(ok.sum())} matched finite frames (need {MIN_FRAMES})")
        use = np.array([n.startswith(au) for n in names]) if own_feature_only else np.ones(len(names), bool)
        if not use.any():
            raise CalibrationError(f"{au}: no feature column starting with {au!r} for own_feature_only")
        x, yy = x_all[ok][:, use], y[ok]
        mu, sd = x.mean(axis=0), x.std(axis=0)
        sd[sd == 0] = 1.0
        z = (x - mu) / sd
        coef = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ (yy - yy.mean()))
        w = np.zeros(len(names))
        w[use] = coef / sd
        mu_all = np.zeros(len(names))
        mu_all[use] = mu
        mu = mu_all
        weights[au] = w.tolist()
        intercepts[au] = float(yy.mean() - mu @ w)
    return AUCalibration(features=names, weights=weights, intercepts=intercepts, ridge=ridge,
                         notes={"frames": int(len(feats)), "own_feature_only": own_feature_only})
