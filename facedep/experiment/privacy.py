"""Privacy of run folders (``run.privacy: true``): relative paths and stable subject pseudonyms.

With privacy on, what a run writes names no absolute path:

- **data paths** (the manifest, its video files, ``cache_dir``) are written relative to the
  manifest's folder (the manifest itself as its file name); a path outside that folder but in the
  home folder is written ``~/...`` (no user name), any other one as a ``../`` path from the manifest
  folder, so every data path resolves back with ``manifest_dir / path`` (after ``expanduser``);
- **run paths** (the run folder, checkpoints, prediction tables, ``run.output_dir``) are written
  relative to the run folder;
- **subject ids** sent to the tracker are replaced by pseudonyms ``subj-<12 hex>``: the first 48 bits
  of HMAC-SHA256(salt, subject id). The salt is 32 random bytes in a file (``run.salt_file``, by
  default ``<run.output_dir>/.privacy_salt``, made on first use, readable by its owner only).
  *Stable* means: the same subject id with the same salt file gives the same pseudonym in every run,
  fold and machine that uses that file; another salt gives unrelated pseudonyms. Without the salt
  a pseudonym cannot be checked against a guessed id; keep the salt file out of what you share.

Example:
    >>> pseudonym("sub003", b"k" * 32)
    'subj-0487ad716a22'
    >>> relative_to("/data/daic/openface/sub003.csv", "/data/daic")
    'openface/sub003.csv'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pytorch_lightning import Callback

SALT_FILE = ".privacy_salt"
"""Default salt file name, in ``run.output_dir`` (next to the run folders, not inside one)."""
PSEUDONYM_PREFIX = "subj-"
PSEUDONYM_HEX = 12
DATA_PATH_KEYS: tuple[str, ...] = ("manifest", "cache_dir")
"""DataModule hyper-parameters that are data paths even when given relative to the working directory."""


def pseudonym(subject_id: object, salt: bytes) -> str:
    """Stable pseudonym of ``subject_id``: ``subj-`` + 12 hex digits of HMAC-SHA256(salt, id)."""
    digest = hmac.new(salt, str(subject_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX]


def load_salt(path: str | Path) -> bytes:
    """The salt in ``path``; a new random one is written there first if the file does not exist.

    Creation is atomic (a hard link of a finished temporary file), so parallel processes (DDP ranks,
    folds) that race on a new file all end up with the one salt that won.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(secrets.token_hex(32) + "\n")
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    text = path.read_text().strip()
    if len(text) < 16:
        raise ValueError(f"privacy salt file {path} holds {len(text)} characters; it needs at least 16 (delete it to make a new one)")
    return text.encode("utf-8")


def _absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def relative_to(path: str | Path, base: str | Path) -> str:
    """``path`` (absolute, ``~``, or relative to the working directory) written relative to ``base``.

    Outside ``base`` but in the home folder (while ``base`` is not): ``~/...``; otherwise ``../...``.
    """
    target, root, home = _absolute(path), _absolute(base), Path.home()
    if target.is_relative_to(home) and not root.is_relative_to(home):
        return "~/" + target.relative_to(home).as_posix()
    return Path(os.path.relpath(target, root)).as_posix()


def is_absolute_path(value: object) -> bool:
    """A string that names an absolute (or ``~``) POSIX path."""
    return isinstance(value, str) and (value.startswith("/") or value.startswith("~/") or value == "~")


class RunPrivacy:
    """How one run writes paths and subject ids when ``run.privacy`` is on."""

    def __init__(self, manifest: str | Path, run_dir: str | Path, salt_file: str | Path) -> None:
        self.manifest = _absolute(manifest)
        self.manifest_dir = self.manifest.parent
        self.run_dir = _absolute(run_dir)
        self.salt_file = Path(salt_file)

    @cached_property
    def salt(self) -> bytes:
        """Read (or made) on first use, so runs without tracker tables leave no salt file."""
        return load_salt(self.salt_file)

    def pseudonym(self, subject_id: object) -> str:
        return pseudonym(subject_id, self.salt)

    def data_path(self, path: str | Path) -> str:
        """A data path relative to the manifest's folder."""
        return relative_to(path, self.manifest_dir)

    def run_path(self, path: str | Path) -> str:
        """A path relative to the run folder."""
        return relative_to(path, self.run_dir)

    def path(self, path: str | Path) -> str:
        """Relative to the run folder if inside it, else a data path."""
        return self.run_path(path) if _absolute(path).is_relative_to(self.run_dir) else self.data_path(path)

    def scrub(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists, jsonargparse Namespaces, strings) with every absolute path relative."""
        if is_absolute_path(value):
            return self.path(value)
        if isinstance(value, Mapping):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if hasattr(value, "clone") and hasattr(value, "items"):  # a jsonargparse Namespace
            return self._scrub_namespace(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        return value

    def _scrub_namespace(self, namespace: Any) -> Any:
        clone = namespace.clone()
        for key, item in list(clone.items()):
            clone[key] = self.scrub(item)
        return clone

    def scrub_datamodule_hparams(self, hparams: dict[str, Any]) -> None:
        """In place: ``manifest`` and ``cache_dir`` relative to the manifest folder, other absolute paths relative."""
        for key, item in list(hparams.items()):
            if key in DATA_PATH_KEYS and isinstance(item, (str, Path)):
                hparams[key] = self.data_path(item)
            else:
                hparams[key] = self.scrub(item)

    def sample_names(self, names: Mapping[str, Mapping[int, str]]) -> dict[str, dict[int, str]]:
        """Batch id -> name tables with the video paths relative to the manifest folder (subject ids kept)."""
        return {level: {i: self.data_path(n) if is_absolute_path(n) else n for i, n in table.items()}
                for level, table in names.items()}

    def scrub_json_file(self, path: str | Path) -> None:
        """Rewrite a JSON file (e.g. ``data_report.json``) with its absolute paths made relative."""
        path = Path(path)
        path.write_text(json.dumps(self.scrub(json.loads(path.read_text())), indent=2))


CHECKPOINT_PATH_KEYS: tuple[str, ...] = ("dirpath", "best_model_path", "kth_best_model_path", "last_model_path")
"""Path entries of ModelCheckpoint's saved state (``best_k_models`` has paths as keys)."""


class PrivateCheckpointPaths(Callback):
    """Stores ModelCheckpoint's paths in checkpoints relative to the run folder; resolves them back on load.

    Without it a checkpoint's ``callbacks`` state names the run folder's absolute location. On resume
    the paths are resolved against the current run folder, so ModelCheckpoint keeps its best-k record.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(os.path.realpath(os.path.expanduser(str(run_dir))))

    def _relative(self, path: str) -> str:
        return relative_to(path, self.run_dir) if is_absolute_path(path) else path

    def _resolved(self, path: str) -> str:
        return os.path.realpath(self.run_dir / path) if path and not is_absolute_path(path) else path

    def _convert(self, state: Any, convert: Any) -> Any:
        if not isinstance(state, Mapping):
            return state
        out = dict(state)
        for key in CHECKPOINT_PATH_KEYS:
            if isinstance(out.get(key), str):
                out[key] = convert(out[key])
        if isinstance(out.get("best_k_models"), Mapping):
            out["best_k_models"] = {convert(k) if isinstance(k, str) else k: v for k, v in out["best_k_models"].items()}
        return out

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        callbacks = checkpoint.get("callbacks") or {}
        checkpoint["callbacks"] = {key: self._convert(state, self._relative) for key, state in callbacks.items()}

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        callbacks = checkpoint.get("callbacks") or {}
        checkpoint["callbacks"] = {key: self._convert(state, self._resolved) for key, state in callbacks.items()}
