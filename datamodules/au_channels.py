"""Channel selection for AU data: named groups or explicit AU names, resolved to canonical columns.

Example:
    >>> resolve_channels("intensity")[:2]
    ['AU01_r', 'AU02_r']
    >>> resolve_channels(["AU04", "AU12_c"])
    ['AU04_r', 'AU12_c']
"""

from __future__ import annotations

from datamodules.io.au_table import ALL_AU_COLUMNS, INTENSITY_COLUMNS, PRESENCE_COLUMNS

CHANNEL_GROUPS: dict[str, tuple[str, ...]] = {
    "intensity": INTENSITY_COLUMNS,
    "presence": PRESENCE_COLUMNS,
    "both": ALL_AU_COLUMNS,
}


def resolve_channels(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """Turn ``"intensity" | "presence" | "both"`` or a list of AU names into canonical columns.

    A bare AU name (``"AU04"``) means its intensity; unknown names raise a ``ValueError`` that
    lists the valid ones.
    """
    if isinstance(spec, str):
        if spec not in CHANNEL_GROUPS:
            raise ValueError(f"channels={spec!r}: use one of {sorted(CHANNEL_GROUPS)} or a list of AU names")
        return list(CHANNEL_GROUPS[spec])
    resolved: list[str] = []
    for name in spec:
        column = name if name.endswith(("_r", "_c")) else f"{name}_r"
        if column not in ALL_AU_COLUMNS:
            raise ValueError(f"unknown AU channel {name!r}; valid channels: {', '.join(ALL_AU_COLUMNS)}")
        resolved.append(column)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"channels list has duplicates: {resolved}")
    return resolved
