"""Pick the AU reader for a file: ``read_au_file(path, fmt="auto")``.

Example:
    >>> read_au_file("300_P/300_CLNF_AUs.txt").notes["rows_read"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from datamodules.io.au_table import AUTable
from datamodules.io.daic import read_daic_woz_aus
from datamodules.io.frame_table import read_header
from datamodules.io.hrm import read_hrm_au_file
from datamodules.io.opendbm import read_opendbm_facau
from datamodules.io.openface import read_openface_csv

READERS: dict[str, Callable[[str | Path], AUTable]] = {
    "openface": read_openface_csv,
    "opendbm": read_opendbm_facau,
    "daic-woz": read_daic_woz_aus,
    "hrm": read_hrm_au_file,
}
FORMATS: tuple[str, ...] = ("auto", *READERS)


def sniff_au_format(path: str | Path) -> str:
    """``daic-woz`` if the name has ``_CLNF_AUs``, ``opendbm`` if the header has ``fac_AU``, else ``openface``."""
    if "_CLNF_AUs" in Path(path).name:
        return "daic-woz"
    if any(c.startswith("fac_AU") for c in read_header(path)):
        return "opendbm"
    return "openface"


def read_au_file(path: str | Path, fmt: str = "auto") -> AUTable:
    """Read any supported AU file; ``fmt`` is one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown AU format {fmt!r}; use one of {list(FORMATS)}")
    return READERS[sniff_au_format(path) if fmt == "auto" else fmt](path)
