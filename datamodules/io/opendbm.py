"""OpenDBM ``*_facau.csv`` reader: ``fac_AU01int`` -> ``AU01_r``, ``fac_AU01pres`` -> ``AU01_c``.

Example:
    >>> t = read_opendbm_facau("subj01_timepoint01_facau.csv")  # doctest: +SKIP
    >>> t.available[:2]  # doctest: +SKIP
    ('AU01_r', 'AU02_r')
"""

from __future__ import annotations

from pathlib import Path

from datamodules.io.au_table import AUTable, INTENSITY_AUS, PRESENCE_AUS
from datamodules.io.frame_table import META_COLUMNS, read_au_csv

OPENDBM_NAMES: dict[str, str] = {
    **{c: c for c in META_COLUMNS},
    **{f"fac_{au}int": f"{au}_r" for au in INTENSITY_AUS},
    **{f"fac_{au}pres": f"{au}_c" for au in PRESENCE_AUS},
}
"""OpenDBM column name -> canonical name."""


def read_opendbm_facau(path: str | Path) -> AUTable:
    """Read an OpenDBM facial-AU CSV into an AUTable (``dbm_master_url`` etc. are ignored)."""
    return read_au_csv(path, OPENDBM_NAMES)
