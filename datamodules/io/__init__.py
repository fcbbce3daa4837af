"""Format readers. Each returns data in one canonical form (:class:`AUTable` for AU files)."""

from datamodules.io.au_table import (
    ALL_AU_COLUMNS,
    INTENSITY_COLUMNS,
    PRESENCE_COLUMNS,
    AUTable,
    DataFormatError,
)

__all__ = ["ALL_AU_COLUMNS", "INTENSITY_COLUMNS", "PRESENCE_COLUMNS", "AUTable", "DataFormatError"]
