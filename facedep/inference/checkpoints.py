"""The one safe way facedep reads a checkpoint: no code from the file runs.

* :func:`load_checkpoint` reads the file once with ``torch.load(weights_only=True)`` (tensors, dicts,
  lists, numbers, strings only). A file that needs any other Python object (a pickled class, a
  ``functools.partial``, or a payload) is refused with the reason and the way out.
* Every class a checkpoint names (``_class_path`` of the model and the DataModule, ``class_path`` of
  the net, optimiser and scheduler, ``_instantiator``) must come from :data:`ALLOWED_MODULES` (this
  project's packages, ``torch.optim``, ``torch.nn``) and resolve to a class defined there
  (:func:`import_allowed`); ``os.system`` or ``subprocess.Popen`` are refused before anything is imported.
* :func:`build_module` builds the LightningModule from the loaded dict (no second read, unlike
  ``load_from_checkpoint``), as Lightning does: ``_instantiator`` (LightningCLI's jsonargparse) or the
  class itself, then ``on_load_checkpoint`` and ``load_state_dict``.

Checkpoints written before their hyper-parameters were kept plain (a hand-built model that saved its
``net`` as a class or partial) can be converted once, by someone who trusts the file::

    python -m facedep.inference.checkpoints --trust-checkpoint OLD.ckpt NEW.ckpt
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

ALLOWED_MODULES: tuple[str, ...] = ("lightning_modules", "datamodules", "facedep", "torch.optim", "torch.nn")
"""Packages whose classes a checkpoint may name (the class must be defined inside one of them)."""
ALLOWED_INSTANTIATORS: frozenset[str] = frozenset({"pytorch_lightning.cli.instantiate_module",
                                                   "lightning.pytorch.cli.instantiate_module"})
"""``_instantiator`` values LightningCLI writes."""
RESAVE_HINT = "python -m facedep.inference.checkpoints --trust-checkpoint {path} SAFE.ckpt"


class CheckpointError(Exception):
    """A checkpoint that cannot be read, or that is refused as unsafe (the message names the file)."""


def _in_allowed(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in ALLOWED_MODULES)


def load_checkpoint(ckpt: str | Path, what: str = "checkpoint",
                    error: type[Exception] = CheckpointError) -> dict[str, Any]:
    """The checkpoint dict, read once with ``weights_only=True`` (memory-mapped when the file is a zip archive).

    Missing, unreadable or unsafe files raise ``error`` naming the file; an unsafe one also says how to convert it.
    The class paths of its model and DataModule hyper-parameters are checked against the allow-list.
    """
    path = Path(ckpt)
    if not path.is_file():
        raise error(f"{what} {path} not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        reason = _unpickling_reason(exc)
        if "GLOBAL" not in reason:
            raise error(f"cannot read {what} {path}: corrupt or not a checkpoint ({reason})") from exc
        raise error(f"refusing to load {what} {path}: it holds Python objects that a safe load does not allow "
                    f"({reason}); unpickling them could run arbitrary code. If you made this file yourself and trust it, "
                    f"convert it once with: {RESAVE_HINT.format(path=path)}") from exc
    except Exception as exc:  # noqa: BLE001 (corrupt, truncated, not a checkpoint)
        raise error(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{what} {path} is not a Lightning checkpoint (a {type(data).__name__}, not a dict)")
    for key in ("hyper_parameters", "datamodule_hyper_parameters"):
        check_class_paths(data.get(key), path, key, error)
    return data


def _unpickling_reason(exc: Exception) -> str:
    """The specific line(s) of torch's weights-only error (e.g. ``unsupported GLOBAL posix.system``)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line.split("WeightsUnpickler error:")[-1].strip() for line in lines
            if not line.startswith(("Weights only load failed", "Check the documentation"))]
    return " ".join(k for k in kept if k) or type(exc).__name__


def class_paths(tree: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """``(location, value)`` of every ``class_path``, ``_class_path`` and ``_instantiator`` in nested dicts/lists."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            here = f"{where}.{key}" if where else str(key)
            if key in ("class_path", "_class_path", "_instantiator"):
                yield here, value
            else:
                yield from class_paths(value, here)
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from class_paths(value, f"{where}[{i}]")


def import_allowed(class_path: Any, path: str | Path, where: str = "_class_path", base: type | None = None,
                   error: type[Exception] = CheckpointError) -> type:
    """The class ``class_path`` names, if it lives in :data:`ALLOWED_MODULES` (checked before any import) and
    is a class defined there (and a subclass of ``base``); else ``error`` naming the file and the key."""
    refused = f"{path}: {where} {class_path!r} is not allowed"
    allowed = f"a checkpoint may only name classes of {', '.join(ALLOWED_MODULES)}"
    if not isinstance(class_path, str) or "." not in class_path or not _in_allowed(class_path.rpartition(".")[0]):
        raise error(f"{refused}: {allowed}")
    module_name, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise error(f"{path}: cannot import {where} {class_path!r}: {exc}") from exc
    if not isinstance(found, type) or not _in_allowed(found.__module__):
        raise error(f"{refused}: it is not a class defined there ({allowed})")
    if base is not None and not issubclass(found, base):
        raise error(f"{refused}: {found.__name__} is not a {base.__name__}")
    return found


def check_class_paths(tree: Any, path: str | Path, where: str = "", error: type[Exception] = CheckpointError) -> None:
    """Refuse hyper-parameters that name a class (or an instantiator) outside the allow-list."""
    for location, value in class_paths(tree, where):
        if location.endswith("_instantiator"):
            if value not in ALLOWED_INSTANTIATORS:
                raise error(f"{path}: {location} {value!r} is not allowed (only {sorted(ALLOWED_INSTANTIATORS)})")
        else:
            import_allowed(value, path, location, error=error)


def build_module(checkpoint: dict[str, Any], path: str | Path, default_class: str,
                 error: type[Exception] = CheckpointError) -> torch.nn.Module:
    """The LightningModule of a loaded checkpoint: class and hyper-parameters checked, built, weights loaded.

    ``default_class`` is used when the hyper-parameters name none (hand-made checkpoints).
    """
    import pytorch_lightning as pl

    hparams = dict(checkpoint.get("hyper_parameters") or {})
    check_class_paths(hparams, path, "hyper_parameters", error)
    cls = import_allowed(hparams.get("_class_path", default_class), path, "hyper_parameters._class_path",
                         pl.LightningModule, error)
    instantiator = hparams.pop("_instantiator", None)
    try:
        if instantiator is not None:
            module_name, _, name = instantiator.rpartition(".")
            model = getattr(importlib.import_module(module_name), name)(cls, hparams)
        else:
            hparams.pop("_class_path", None)
            model = cls(**hparams)
        model.on_load_checkpoint(checkpoint)
        model.load_state_dict(checkpoint["state_dict"], strict=model.strict_loading is not False)
    except Exception as exc:  # noqa: BLE001 (bad hyper-parameters or weights: one message naming the file)
        raise error(f"cannot build the model of {path} ({cls.__name__}): {exc}") from exc
    return model


# ---- trusted conversion of an old checkpoint ---------------------------------------------------
def resave_trusted(source: str | Path, target: str | Path) -> Path:
    """Read ``source`` with ``weights_only=False`` (RUNS ITS CODE: trusted files only), store its net/optimizer
    classes and partials as class-path dicts, write ``target`` and check that it loads safely."""
    from lightning_modules.hparams import INSTANTIATOR, plain_callable

    data = torch.load(source, map_location="cpu", weights_only=False)
    hparams = dict(data.get("hyper_parameters") or {})
    changed = {k: plain_callable(v) for k, v in hparams.items() if plain_callable(v) is not v}
    if changed:
        hparams.update(changed)
        hparams.setdefault("_instantiator", INSTANTIATOR)
    data["hyper_parameters"] = hparams
    torch.save(data, target)
    load_checkpoint(target)  # still unsafe types elsewhere: say so now
    return Path(target)


def main(argv: list[str] | None = None) -> int:
    """``python -m facedep.inference.checkpoints --trust-checkpoint OLD.ckpt NEW.ckpt``; 2 on an error."""
    parser = argparse.ArgumentParser(prog="python -m facedep.inference.checkpoints",
                                     description="Convert a checkpoint you trust into one that loads with weights_only=True.")
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="required: reading SOURCE runs any code it holds; give it only for files you made")
    args = parser.parse_args(argv)
    if not args.trust_checkpoint:
        print("error: --trust-checkpoint is required: converting reads the file unsafely (it can run code)", file=sys.stderr)
        return 2
    try:
        print(f"wrote {resave_trusted(args.source, args.target)}")
    except Exception as exc:  # noqa: BLE001
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
