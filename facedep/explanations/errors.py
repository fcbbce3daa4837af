"""The one exception explanations raise for a model or data set they cannot explain."""

from __future__ import annotations


class Unsupported(ValueError):
    """The model or the data has no explanation of this kind (the message says why, in one line)."""
