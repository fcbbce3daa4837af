"""Emotion expressivity per frame: the sum of the AU intensities that make up a prototypic expression.

Definitions follow the temporal AU study (Parikh, Sadeghi, Eskofier), in canonical OpenFace channels:

* happiness AU06 + AU12; sadness AU01 + AU04 + AU15; surprise AU01 + AU02 + AU05 + AU26;
* fear AU01 + AU02 + AU04 + AU05 + AU20 + AU26 + AU28 -- AU28 (lip suck) exists only as a presence
  (``AU28_c``, 0/1), so fear adds a 0/1 term to intensities in 0-5;
* disgust AU09 + AU15 + AU16 -- OpenFace 2.x does not estimate AU16, so disgust is AU09 + AU15 and
  :func:`missing_aus` always reports ``AU16_r``;
* anger AU04 + AU05 + AU07 + AU23.

A term the data lacks is left out of the sum (never imputed) and listed by :func:`missing_aus`; an
emotion with no term at all is NaN.

Example:
    >>> import pandas as pd
    >>> frames = pd.DataFrame({"AU06_r": [1.0, 2.0], "AU12_r": [0.5, 0.0]})
    >>> expressivity(frames)["happiness"].tolist()
    [1.5, 2.0]
    >>> missing_aus(["AU06_r", "AU12_r"])["happiness"], missing_aus(["AU09_r", "AU15_r"])["disgust"]
    ([], ['AU16_r'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

EMOTION_AUS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU06_r", "AU12_r"),
    "sadness": ("AU01_r", "AU04_r", "AU15_r"),
    "surprise": ("AU01_r", "AU02_r", "AU05_r", "AU26_r"),
    "fear": ("AU01_r", "AU02_r", "AU04_r", "AU05_r", "AU20_r", "AU26_r", "AU28_c"),
    "disgust": ("AU09_r", "AU15_r", "AU16_r"),
    "anger": ("AU04_r", "AU05_r", "AU07_r", "AU23_r"),
}
"""Emotion -> canonical channels summed per frame (``_r`` intensity 0-5, ``_c`` presence 0/1)."""

EMOTIONS: tuple[str, ...] = tuple(EMOTION_AUS)

NEVER_AVAILABLE: dict[str, str] = {
    "AU16_r": "AU16 (lower lip depressor) is not estimated by OpenFace 2.x, so disgust = AU09 + AU15",
}
"""Channels of :data:`EMOTION_AUS` that no supported AU extractor produces, with the reason."""

PRESENCE_TERMS: dict[str, str] = {
    "AU28_c": "AU28 (lip suck) exists only as a presence, so fear adds a 0/1 term to intensities",
}


def missing_aus(available_channels: Iterable[str]) -> dict[str, list[str]]:
    """For every emotion, the channels of its definition that are not in ``available_channels``.

    Example:
        >>> missing_aus(["AU04_r", "AU05_r"])["anger"]
        ['AU07_r', 'AU23_r']
    """
    have = set(available_channels)
    return {emotion: [c for c in aus if c not in have] for emotion, aus in EMOTION_AUS.items()}


def missing_notes(available_channels: Iterable[str]) -> list[str]:
    """Human-readable lines about left-out terms (for the report), one per emotion that lacks some.

    Example:
        >>> missing_notes(["AU09_r", "AU15_r"])[0].startswith("happiness")
        True
    """
    lines = []
    for emotion, missing in missing_aus(available_channels).items():
        if not missing:
            continue
        used = [c for c in EMOTION_AUS[emotion] if c not in missing]
        reasons = [NEVER_AVAILABLE.get(c, f"{c} is not in this data") for c in missing]
        formula = " + ".join(used) if used else "nothing (NaN)"
        lines.append(f"{emotion}: computed as {formula}; missing {missing} ({'; '.join(reasons)})")
    return lines


def expressivity(
    data: pd.DataFrame | np.ndarray, channels: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-frame expressivity of the six emotions (columns in :data:`EMOTIONS` order).

    ``data`` is a frame table with canonical channel columns, or a ``(T, C)`` array with
    ``channels`` naming its columns. Missing terms are left out; an emotion with none is NaN.

    Example:
        >>> import numpy as np
        >>> expressivity(np.array([[1.0, 2.0, 1.0]]), ["AU01_r", "AU04_r", "AU28_c"])[["sadness", "fear"]].values.tolist()
        [[3.0, 4.0]]
    """
    if isinstance(data, pd.DataFrame):
        index = data.index
        columns = {c: data[c].to_numpy(dtype=np.float64) for c in data.columns if isinstance(c, str)}
    else:
        values = np.asarray(data, dtype=np.float64)
        if channels is None or values.ndim != 2 or values.shape[1] != len(channels):
            raise ValueError(f"expressivity: values of shape {values.shape} need one channel name per column")
        index = pd.RangeIndex(len(values))
        columns = {c: values[:, j] for j, c in enumerate(channels)}
    out = {}
    for emotion, aus in EMOTION_AUS.items():
        terms = [columns[c] for c in aus if c in columns]
        out[emotion] = np.sum(terms, axis=0) if terms else np.full(len(index), np.nan)
    return pd.DataFrame(out, index=index).astype(np.float32)
