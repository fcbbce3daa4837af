"""Checking that an output folder can be written before a long job starts writing into it.

Used by training (the run folder) and ``scripts/extract_landmarks.py`` (``--out``): a read-only
folder, or a path below a regular file, gives one line naming the folder instead of a traceback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


class OutputFolderError(OSError):
    """An output folder that cannot be created or written to (the message names it and says why)."""


def _nearest_existing(folder: Path) -> Path:
    """``folder`` itself or its closest ancestor that exists."""
    return next((p for p in (folder, *folder.parents) if p.exists()), Path("."))


def check_output_folder(folder: str | Path) -> Path:
    """Raise :class:`OutputFolderError` unless ``folder`` exists as a writable folder or can be created.

    Nothing is left behind: a missing folder is not created; its nearest existing ancestor must be a
    folder in which a temporary file can be written (a real write, so it also holds for root and
    read-only file systems, where permission bits alone say nothing).
    """
    folder = Path(folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputFolderError(f"cannot write to output folder {folder} ({existing} is a file, not a folder)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        where = "" if existing == folder else f" in {existing}"
        raise OutputFolderError(f"cannot write to output folder {folder} ({reason}{where})") from exc
    return folder
