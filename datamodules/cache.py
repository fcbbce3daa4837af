"""On-disk cache of parsed arrays, keyed by the source file's content (not its path or mtime).

A second run over the same files parses no CSV: it hashes each file and loads the ``.npz``.

Example:
    >>> cache = ArrayCache("/tmp/facedep-cache")  # doctest: +SKIP
    >>> arrays = cache.get_or_compute("a.csv", "openface-v1", lambda: {"x": np.zeros(3)})  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEFAULT_CACHE_DIR = Path(os.environ.get("FACEDEP_CACHE", Path.home() / ".cache" / "facedep"))


def file_digest(path: str | Path) -> str:
    """SHA-1 of a file's bytes (hex)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


class ArrayCache:
    """Stores dicts of numpy arrays as ``<dir>/<namespace>/<digest>.npz``; ``None`` disables caching."""

    def __init__(self, directory: str | Path | None = DEFAULT_CACHE_DIR) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.hits = 0
        self.misses = 0

    def key_path(self, source: str | Path, namespace: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / namespace / f"{file_digest(source)}.npz"

    def get_or_compute(
        self, source: str | Path, namespace: str, compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """Load the arrays cached for ``source``'s content, or compute and store them."""
        target = self.key_path(source, namespace)
        if target is not None and target.exists():
            try:
                with np.load(target, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
                self.hits += 1
                return arrays
            except (OSError, ValueError):  # a torn write from an interrupted run: recompute
                target.unlink(missing_ok=True)
        arrays = compute()
        self.misses += 1
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp.npz")
            os.close(fd)
            np.savez(tmp, **arrays)
            os.replace(tmp, target)  # atomic: concurrent ranks never see half a file
        return arrays
