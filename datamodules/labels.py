"""Map manifest labels onto class indices; anything outside the configured classes is an error.

Example:
    >>> import pandas as pd
    >>> encode_labels(pd.Series([1, 0, 1]), [0, 1], "m.csv").tolist()
    [1, 0, 1]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datamodules.io.au_table import DataFormatError


def _key(value: object) -> str:
    """Labels compare as text, so ``1``, ``1.0`` and ``"1"`` are the same class."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    try:
        number = float(text)
        if number.is_integer():
            return str(int(number))
    except ValueError:
        pass
    return text


def encode_labels(labels: pd.Series, classes: list[str | int], source: str) -> np.ndarray:
    """Class index of every label; raises naming the first offending row (1-based, header = row 1)."""
    lookup = {_key(c): i for i, c in enumerate(classes)}
    if len(lookup) != len(classes):
        raise ValueError(f"classes {classes} has duplicates")
    keys = {value: _key(value) for value in pd.unique(labels)}  # one conversion per distinct label
    codes = labels.map(keys).map(lookup)
    missing = np.flatnonzero(codes.isna().to_numpy())
    if missing.size:
        first = int(missing[0])
        value = labels.iloc[first]
        value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain Python for the message
        raise DataFormatError(
            f"{source}, row {int(labels.index[first]) + 2}: label {value!r} is not one of the "
            f"configured classes {list(classes)}"
        )
    return codes.to_numpy(dtype=np.int64)
