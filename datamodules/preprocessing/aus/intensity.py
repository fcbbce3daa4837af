"""OpenFace-style AU intensities (``AUxx_r``, 0-5) and presence (``AUxx_c``) from mesh geometry.

For each AU, the measure of :mod:`.measures` (face sizes, signed so the AU increases it) is taken
relative to a per-video neutral baseline and mapped to 0-5 by a fixed gain:

* **baseline**: the :data:`BASELINE_PERCENTILE` (10th) percentile of the measure over the video's valid
  frames -- a robust "least active" level, as OpenFace's person-specific normalisation subtracts a low
  percentile of each person's predictions. A video with fewer than :data:`MIN_BASELINE_FRAMES` (30) valid
  frames uses the measure on the canonical face instead; which one was used is in ``.attrs["baseline"]``.
* **gain**: ``AUxx_r = clip(5 * (measure - baseline) / FULL_SCALE[AU], 0, 5)``: :data:`FULL_SCALE` is the
  movement (in face sizes, 1 = 90 mm) taken as the maximum intensity 5 ("E"), chosen from typical ranges
  of facial movement (e.g. a brow raise of ~9 mm, a full smile's corner lift of ~7 mm, a jaw drop of
  ~13 mm); AU45 reaches 5 at full closure (the canonical face's eye aperture closed).
  No value is fitted to any OpenFace output; a fitted map is the optional calibration (:mod:`.calibration`).
* **presence**: ``AUxx_c = 1`` when ``AUxx_r >= PRESENCE_THRESHOLD`` (1.0, FACS trace "A"), else 0.
* **smoothing**: measures are smoothed by a centred running median of :data:`SMOOTH_FRAMES` (3) valid frames
  against single-frame landmark jitter (a blink lasts 3+ frames at 30 fps).
* **lid tightener during closure**: FACS does not score AU07 while the eye is closed (the lower lid's own
  movement is hidden), and the mesh pulls the lower lid up with the closing upper lid, so on frames where
  AU45 is present (``AU45_r >= PRESENCE_THRESHOLD``) ``AU07_r`` is interpolated linearly from the nearest
  open-eye frames (:func:`hold_through_closure`).

Invalid frames get NaN in every column.

Example:
    >>> from datamodules.preprocessing.aus.canonical import canonical_face
    >>> pts = np.repeat(canonical_face()[None], 40, axis=0).astype(np.float32)
    >>> pts[20:, [61, 291], 1] -= 9.0          # lip corners raised by 9 mm (10 % of face size) from frame 20 on
    >>> aus = estimate_aus(pts, np.ones(40, bool))
    >>> float(aus["AU12_r"].iloc[0]), float(aus["AU12_r"].iloc[30]), int(aus["AU12_c"].iloc[30])
    (0.0, 5.0, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from datamodules.preprocessing.aus.canonical import canonical_face
from datamodules.preprocessing.aus.frontal import frontalise
from datamodules.preprocessing.aus.measures import MEASURES, eye_aperture

if TYPE_CHECKING:
    from datamodules.preprocessing.aus.calibration import AUCalibration

AU_NAMES: tuple[str, ...] = tuple(MEASURES)
BASELINE_PERCENTILE = 10.0
MIN_BASELINE_FRAMES = 30
PRESENCE_THRESHOLD = 1.0
SMOOTH_FRAMES = 3
FULL_SCALE: dict[str, float] = {
    "AU01": 0.10, "AU02": 0.10, "AU04": 0.08, "AU05": 0.04, "AU06": 0.05, "AU07": 0.04, "AU09": 0.05,
    "AU10": 0.06, "AU12": 0.08, "AU14": 0.04, "AU15": 0.05, "AU17": 0.06, "AU20": 0.12, "AU23": 0.04,
    "AU25": 0.10, "AU26": 0.15,
    "AU45": float(eye_aperture(canonical_face()[None])[0]),
}


def feature_name(au: str) -> str:
    """Column of :func:`au_features` holding ``au``'s measure, e.g. ``"AU12_geom"``."""
    return f"{au}_geom"


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    half = window // 2
    padded = np.pad(values, (half, half), mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


def au_features(points: np.ndarray, valid: np.ndarray, smooth: int = SMOOTH_FRAMES) -> pd.DataFrame:
    """Raw geometric measures per frame: columns ``AU01_geom .. AU45_geom`` (face sizes), NaN on invalid frames.

    The index is the frame position ``0 .. T-1``; smoothing (running median over ``smooth`` valid
    frames) is applied within the valid frames.
    """
    front, _ = frontalise(points, valid)
    usable = np.isfinite(front).all(axis=(1, 2))
    data = {}
    for au, measure in MEASURES.items():
        column = np.full(len(front), np.nan)
        if usable.any():
            column[usable] = _running_median(measure(front[usable]), smooth)
        data[feature_name(au)] = column
    return pd.DataFrame(data, index=pd.RangeIndex(len(front), name="frame"))


def neutral_baseline(features: pd.DataFrame, percentile: float = BASELINE_PERCENTILE,
                     min_frames: int = MIN_BASELINE_FRAMES) -> dict[str, object]:
    """Per-AU neutral level: ``{"source": "video"|"canonical", "valid_frames": n, "values": {AU: float}}``."""
    valid = features.notna().all(axis=1)
    n = int(valid.sum())
    if n >= min_frames:
        values = {au: float(np.percentile(features.loc[valid, feature_name(au)], percentile)) for au in AU_NAMES}
        return {"source": "video", "percentile": percentile, "valid_frames": n, "values": values}
    face = canonical_face()[None].astype(np.float64)
    values = {au: float(MEASURES[au](face)[0]) for au in AU_NAMES}
    return {"source": "canonical", "percentile": percentile, "valid_frames": n, "values": values}


def relative_features(features: pd.DataFrame, baseline: dict[str, object]) -> pd.DataFrame:
    """``features`` minus the baseline values (what :mod:`.calibration` fits and applies)."""
    values = baseline["values"]
    assert isinstance(values, dict)
    return features - pd.Series({feature_name(au): values[au] for au in AU_NAMES})


def hold_through_closure(values: pd.Series, closed: pd.Series) -> pd.Series:
    """``values`` with the ``closed`` frames replaced by linear interpolation between the open frames around them.

    NaN (invalid) frames stay NaN; with no open frame at all the values are returned unchanged.

    >>> v = pd.Series([0.0, 1.0, 4.0, 4.0, 2.0, np.nan])
    >>> hold_through_closure(v, pd.Series([False, False, True, True, False, False])).tolist()[:5]
    [0.0, 1.0, 1.3333333333333333, 1.6666666666666665, 2.0]
    """
    open_values = values.where(~closed.fillna(False).astype(bool))
    if open_values.notna().sum() == 0:
        return values
    held = open_values.interpolate(method="linear", limit_direction="both")
    return held.where(values.notna())


def estimate_aus(points: np.ndarray, valid: np.ndarray, calibration: AUCalibration | None = None,
                 smooth: int = SMOOTH_FRAMES) -> pd.DataFrame:
    """``AU01_r .. AU45_r`` then ``AU01_c .. AU45_c`` (34 columns) per frame; see the module docstring.

    With ``calibration``, ``_r`` of each AU it covers is its linear map of the baseline-relative features
    (clipped to 0-5); other AUs keep the default gains. ``.attrs["baseline"]`` records the baseline used,
    ``.attrs["calibrated"]`` the AUs that came from the calibration.
    """
    features = au_features(points, valid, smooth=smooth)
    baseline = neutral_baseline(features)
    rel = relative_features(features, baseline)
    intensities = pd.DataFrame(
        {f"{au}_r": np.clip(5.0 * rel[feature_name(au)] / FULL_SCALE[au], 0.0, 5.0) for au in AU_NAMES},
        index=features.index,
    )
    calibrated: list[str] = []
    if calibration is not None:
        mapped = calibration.predict(rel)
        calibrated = [c[:-2] for c in mapped.columns if c in intensities.columns]
        intensities[mapped.columns.intersection(intensities.columns)] = mapped
        intensities = intensities.where(features.notna().all(axis=1), np.nan, axis=0)
    intensities["AU07_r"] = hold_through_closure(intensities["AU07_r"], intensities["AU45_r"] >= PRESENCE_THRESHOLD)
    presence = (intensities >= PRESENCE_THRESHOLD).astype(float).where(intensities.notna())
    presence.columns = [c[:-2] + "_c" for c in intensities.columns]
    out = pd.concat([intensities, presence], axis=1)
    out.attrs["baseline"] = baseline
    out.attrs["calibrated"] = calibrated
    return out
