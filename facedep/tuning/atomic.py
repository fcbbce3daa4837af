"""Files that several workers of one study may write at the same moment (``best.yaml``, ``study.md``, plots):
written to a private temporary sibling and moved over the target, so a reader never sees half a file.

Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "best.yaml"
    >>> write_text_atomic(target, "lr: 0.01\\n").read_text()
    'lr: 0.01\\n'
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` (same suffix, so writers can infer the format) that replaces ``path``
    when the block ends without an error; removed otherwise."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> Path:
    """``path.write_text(text)``, atomically."""
    with replaced(Path(path)) as tmp:
        tmp.write_text(text)
    return Path(path)
