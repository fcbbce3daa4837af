"""Friendly errors for mistyped config keys: name the bad key and list the valid ones.

jsonargparse rejects unknown ``init_args`` keys but does not always say which keys exist; this
module checks the YAML file and the dotted overrides against the classes' signatures.

Example:
    >>> unknown_key_hints({"data": {"class_path": "datamodules.AUSequenceDataModule",
    ...                              "init_args": {"windw": 8}}})[0][:48]
    "unknown key 'data.init_args.windw' (did you mean"
"""

from __future__ import annotations

import copy
import difflib
import importlib
import inspect
from typing import Any


def _class(path: str) -> type | None:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _parameters(cls: type) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return list(dict.fromkeys(names))


def _check(section: str, node: Any, hints: list[str]) -> None:
    if not isinstance(node, dict) or "class_path" not in node:
        return
    cls = _class(str(node["class_path"]))
    if cls is None:
        hints.append(f"{section}.class_path: cannot import {node['class_path']!r}")
        return
    valid = _parameters(cls)
    for key, value in (node.get("init_args") or {}).items():
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            hints.append(f"unknown key '{section}.init_args.{key}'{guess}; valid keys of {cls.__name__}: {', '.join(valid)}")
        else:
            _check(f"{section}.init_args.{key}", value, hints)


def _dotted_pairs(args: list[str]) -> list[tuple[str, str]]:
    """``[("a.b", "v"), ...]`` from ``--a.b v`` and ``--a.b=v`` arguments."""
    pairs, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "." in arg:
            if "=" in arg:
                key, value = arg[2:].split("=", 1)
                i += 1
            else:
                key, value = arg[2:], args[i + 1] if i + 1 < len(args) else ""
                i += 2
            pairs.append((key, value))
        else:
            i += 1
    return pairs


def merge_overrides(config: dict, args: list[str]) -> dict:
    """Apply dotted overrides to a nested config dict (a bare class path becomes ``{class_path: ...}``)."""
    merged = copy.deepcopy(config)
    for key, value in _dotted_pairs(args):
        node = merged
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if isinstance(child, str):
                child = {"class_path": child}
            if not isinstance(child, dict):
                child = {}
            node[part] = child
            node = child
        node[leaf] = {"class_path": value} if isinstance(node.get(leaf), dict) and "class_path" in node[leaf] else value
    return merged


def unknown_key_hints(config: dict) -> list[str]:
    """Messages for every ``init_args`` key of ``model``/``data`` (and nested class_paths) that does not exist."""
    hints: list[str] = []
    for section in ("data", "model"):
        _check(section, config.get(section), hints)
    return hints


def hints_for_args(args: list[str]) -> list[str]:
    """Hints for a command line: ``--config FILE`` (any number) merged with dotted overrides."""
    from omegaconf import OmegaConf

    config: dict = {}
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            loaded = OmegaConf.to_container(OmegaConf.load(args[i + 1]))
            config = {**config, **loaded} if isinstance(loaded, dict) else config
    return unknown_key_hints(merge_overrides(config, args))
