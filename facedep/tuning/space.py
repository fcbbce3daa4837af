"""Search spaces: YAML whose keys are the dotted keys of the command-line overrides.

```yaml
# configs/search/demo.yaml
model.init_args.optimizer.init_args.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
model.init_args.net.init_args.num_filters: {type: int, low: 4, high: 16, step: 4}
data.init_args.window: {type: categorical, choices: [64, 128]}
```

``float`` and ``int`` take ``low``, ``high`` and either ``log: true`` or a ``step``; ``categorical`` takes
``choices`` (scalars, or lists/mappings such as a channel list, which Optuna stores as JSON text). Every key is
checked against the config before a trial runs: an unknown key is an error that lists the valid ones (the CLI's
own key hints), and keys that decide which subjects a run sees (the split, the manifest, the seeds) or where it
writes (``run.*``, ``tracking.*``) cannot be tuned.

Example:
    >>> space = parse_space({"model.init_args.optimizer.init_args.lr": {"type": "float", "low": 1e-4, "high": 1e-2,
    ...                                                                   "log": True}})
    >>> space[0]
    Param(key='model.init_args.optimizer.init_args.lr', type='float', low=0.0001, high=0.01, log=True, step=None, choices=())
    >>> as_overrides({"data.init_args.window": 64, "data.init_args.channels": ["AU01", "AU04"]})
    ['--data.init_args.window', '64', '--data.init_args.channels', '["AU01", "AU04"]']
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from facedep.tuning.atomic import write_text_atomic

TYPES = ("float", "int", "categorical")
#: Top-level sections of a training config and whether their keys can be tuned.
SECTIONS = ("model", "data", "trainer")
#: Keys that decide which subjects a trial sees or what it is scored on: tuning them would tune the evaluation.
FROZEN_KEYS = {
    "data.init_args.manifest": "the data itself",
    "data.init_args.split": "the outer split",
    "data.init_args.fold": "the outer fold (set by tune.py --fold)",
    "data.init_args.num_folds": "the outer folds (set by tune.py --folds)",
    "data.init_args.inner_fold": "the inner fold (set per trial)",
    "data.init_args.inner_folds": "the inner folds (set by --inner-folds)",
    "data.init_args.val_fraction": "the validation subjects the trials are scored on",
    "data.init_args.val_folds": "the validation subjects the trials are scored on",
    "data.init_args.seed": "the subject folds",
    "data.init_args.classes": "the classes",
    "data.init_args.target": "the target",
    "model.init_args.selection_metric": "the score the trials are compared on",
    "model.init_args.selection_level": "the score the trials are compared on",
}


class SpaceError(ValueError):
    """A search space that cannot be used (its file and key named)."""


@dataclass(frozen=True)
class Param:
    """One searched key: ``float``/``int`` in ``[low, high]`` (``log`` scale or ``step``), or ``categorical``."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def sample_value(self) -> Any:
        """A value of the space (``low`` or the first choice), to check that the key parses."""
        return self.choices[0] if self.type == "categorical" else (int(self.low) if self.type == "int" else self.low)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_param(key: str, spec: Any, source: str) -> Param:
    where = f"{source}: {key}"
    if not isinstance(spec, Mapping):
        raise SpaceError(f"{where}: expected a mapping such as {{type: float, low: 1e-4, high: 1e-2, log: true}}, "
                         f"got {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise SpaceError(f"{where}: type must be one of {', '.join(TYPES)}, got {kind!r}")
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "log", "step"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise SpaceError(f"{where}: unknown field(s) {', '.join(extra)} for type {kind} (valid: {', '.join(sorted(allowed))})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{where}: categorical needs a non-empty list 'choices'")
        encoded = [encode_choice(c) for c in choices]
        if len(set(map(repr, encoded))) != len(encoded):
            raise SpaceError(f"{where}: choices repeat a value: {choices}")
        return Param(key, kind, choices=tuple(_freeze(c) for c in choices))
    low, high, log, step = spec.get("low"), spec.get("high"), spec.get("log", False), spec.get("step")
    if not (_is_number(low) and _is_number(high)):
        raise SpaceError(f"{where}: {kind} needs numeric 'low' and 'high', got low={low!r}, high={high!r}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise SpaceError(f"{where}: int bounds must be integers, got low={low!r}, high={high!r}")
    if low >= high:
        raise SpaceError(f"{where}: low must be below high, got low={low!r}, high={high!r}")
    if not isinstance(log, bool):
        raise SpaceError(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise SpaceError(f"{where}: a log scale needs low > 0, got low={low!r}")
    if step is not None:
        if log:
            raise SpaceError(f"{where}: give either log: true or a step, not both")
        if not _is_number(step) or step <= 0 or (kind == "int" and not float(step).is_integer()):
            raise SpaceError(f"{where}: step must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
    if kind == "int":
        return Param(key, kind, int(low), int(high), log, int(step) if step is not None else None)
    return Param(key, kind, float(low), float(high), log, float(step) if step is not None else None)


def _freeze(value: Any) -> Any:
    """Lists and mappings as tuples / sorted item tuples (hashable, for the frozen Param); see :func:`thaw`."""
    if isinstance(value, list):
        return ("__list__", *(_freeze(v) for v in value))
    if isinstance(value, Mapping):
        return ("__map__", *((k, _freeze(v)) for k, v in value.items()))
    return value


def thaw(value: Any) -> Any:
    """Back from :func:`_freeze`."""
    if isinstance(value, tuple) and value and value[0] == "__list__":
        return [thaw(v) for v in value[1:]]
    if isinstance(value, tuple) and value and value[0] == "__map__":
        return {k: thaw(v) for k, v in value[1:]}
    return value


def encode_choice(value: Any) -> Any:
    """A categorical choice as Optuna stores it: scalars as they are, lists and mappings as JSON text.

    >>> encode_choice(["AU01", "AU04"]), encode_choice(64), encode_choice(None)
    ('["AU01", "AU04"]', 64, None)
    """
    value = thaw(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, Mapping)):
        return json.dumps(value)
    raise SpaceError(f"choice {value!r} is neither a scalar, a list nor a mapping")


def parse_space(raw: Any, source: str = "search space") -> list[Param]:
    """The parameters of a loaded YAML mapping (structure only; see :func:`check_keys` for the keys)."""
    if not isinstance(raw, Mapping) or not raw:
        raise SpaceError(f"{source}: expected a non-empty mapping of dotted config keys to parameter specs, got {raw!r}")
    if "params" in raw and isinstance(raw["params"], Mapping) and len(raw) == 1:
        raw = raw["params"]  # an optional wrapper key
    params = []
    for key, spec in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise SpaceError(f"{source}: key {key!r} is not a dotted config key")
        key = key.strip().removeprefix("--")
        params.append(_parse_param(key, spec, source))
    return params


def _trainer_keys() -> list[str]:
    from pytorch_lightning import Trainer

    return [p for p in inspect.signature(Trainer.__init__).parameters if p != "self"]


def _frozen_reason(key: str) -> str | None:
    if key.split(".", 1)[0] in ("run", "tracking"):
        return "where the run writes and logs, not how it learns"
    if key == "seed_everything":
        return "the random seed (a seed picked on validation is luck, not a hyper-parameter)"
    return FROZEN_KEYS.get(key)


def check_keys(params: Sequence[Param], config: str | None, overrides: Sequence[str], source: str) -> None:
    """Every key must be a config key that can be tuned and its values must parse as training parses them.

    An unknown key is named with the valid keys of its class (the CLI's own hints,
    :func:`facedep.experiment.config_hints.hints_for_args`).
    """
    from facedep.experiment.config_hints import hints_for_args

    base = (["--config", config] if config else []) + list(overrides)
    for param in params:
        section = param.key.split(".", 1)[0]
        reason = _frozen_reason(param.key)
        if reason is not None:
            raise SpaceError(f"{source}: {param.key} cannot be tuned: it sets {reason}")
        if section not in SECTIONS:
            close = difflib.get_close_matches(section, SECTIONS, n=1)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            raise SpaceError(f"{source}: unknown key '{param.key}'{guess}; tunable sections: {', '.join(SECTIONS)}")
        if section == "trainer":
            name = param.key.split(".", 1)[1] if "." in param.key else ""
            valid = _trainer_keys()
            if name not in valid:
                close = difflib.get_close_matches(name, valid, n=1)
                guess = f" (did you mean 'trainer.{close[0]}'?)" if close else ""
                raise SpaceError(f"{source}: unknown key '{param.key}'{guess}; valid trainer keys: {', '.join(valid)}")
            continue
        parts = param.key.split(".")
        if len(parts) < 3 or parts[1] != "init_args":
            raise SpaceError(f"{source}: '{param.key}' is not a hyper-parameter key; tune "
                             f"'{section}.init_args.<name>' (or '{section}.init_args.net.init_args.<name>')")
        for value in _values_to_check(param):
            hints = [h for h in hints_for_args(base + ["--" + param.key, _cli_text(value)]) if _mentions(h, param.key)]
            if hints:
                raise SpaceError(f"{source}: " + "; ".join(hints))
    _check_parse(params, base, source)


def _values_to_check(param: Param) -> list[Any]:
    return [thaw(c) for c in param.choices] if param.type == "categorical" else [param.sample_value()]


def _mentions(hint: str, key: str) -> bool:
    """A hint about ``key`` or one of its parents (``model.init_args.net.init_args.x`` -> ``...net``)."""
    parts = key.split(".")
    return any(f"'{'.'.join(parts[:n])}'" in hint or f"{'.'.join(parts[:n])}:" in hint or
               f"{'.'.join(parts[:n])}.class_path" in hint for n in range(2, len(parts) + 1))


def _check_parse(params: Sequence[Param], base: list[str], source: str) -> None:
    """Parse the config with each categorical choice (and ``low`` / ``high`` of numbers), as a trial would."""
    from facedep.experiment.config_values import resolved_data_args

    variants: list[list[str]] = []
    for param in params:
        values = _values_to_check(param) if param.type == "categorical" else [param.low, param.high]
        for value in values:
            if param.type == "int":
                value = int(value)
            variants.append(["--" + param.key, _cli_text(value)])
    for variant in variants or [[]]:
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                resolved_data_args(None, base + variant)
        except SystemExit:
            text = stderr.getvalue()
            message = " ".join(line.strip() for line in text[text.find("error:"):].splitlines() if line.strip())
            raise SpaceError(f"{source}: {variant[0][2:]} = {variant[1]} does not parse with the config: "
                             f"{message[-1500:] or 'see scripts/train.py --help'}") from None


def load_space(path: str | Path, config: str | None = None, overrides: Sequence[str] = ()) -> list[Param]:
    """Read, parse and check a search-space YAML file against ``config`` + ``overrides`` (checked once per
    space text, config text and overrides: a nested CV loads it for every outer fold)."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"search space {path} does not exist")
    config_text = Path(config).read_text() if config and Path(config).is_file() else None
    return list(_checked_space(str(path), path.read_text(), config, config_text, tuple(overrides)))


@functools.lru_cache(maxsize=32)
def _checked_space(source: str, text: str, config: str | None, config_text: str | None,
                   overrides: tuple[str, ...]) -> tuple[Param, ...]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpaceError(f"search space {source} is not valid YAML: {exc}") from None
    params = parse_space(raw, source)
    check_keys(params, config, overrides, source)
    return tuple(params)


def suggest(trial: Any, params: Sequence[Param]) -> dict[str, Any]:
    """Sample one value per parameter from an Optuna trial; returns ``{key: value}`` (lists/mappings decoded)."""
    values: dict[str, Any] = {}
    for p in params:
        if p.type == "float":
            values[p.key] = trial.suggest_float(p.key, p.low, p.high, log=p.log, step=p.step)
        elif p.type == "int":
            values[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
        else:
            values[p.key] = decode_value(trial.suggest_categorical(p.key, [encode_choice(c) for c in p.choices]), p)
    return values


def decode_value(value: Any, param: Param | None) -> Any:
    """A stored value back to the space's value (JSON text of a list/mapping choice -> the list/mapping)."""
    if param is None or param.type != "categorical" or not isinstance(value, str):
        return value
    for choice in param.choices:
        if encode_choice(choice) == value:
            return thaw(choice)
    return value


def decode_params(stored: Mapping[str, Any], params: Sequence[Param] = ()) -> dict[str, Any]:
    """Optuna's stored ``trial.params`` as the space's values (see :func:`decode_value`)."""
    by_key = {p.key: p for p in params}
    return {key: decode_value(value, by_key.get(key)) for key, value in stored.items()}


def _cli_text(value: Any) -> str:
    """A value as a command-line override: scalars as YAML would read them back, lists/mappings as JSON."""
    value = thaw(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def as_overrides(params: Mapping[str, Any]) -> list[str]:
    """``{key: value}`` as training overrides ``["--key", "value", ...]``."""
    out: list[str] = []
    for key, value in params.items():
        out += ["--" + key, _cli_text(value)]
    return out


def nest(params: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as a nested mapping (the shape of a config file).

    >>> nest({"model.init_args.lr": 0.1, "model.init_args.net.init_args.depth": 3, "trainer.max_epochs": 5})
    {'model': {'init_args': {'lr': 0.1, 'net': {'init_args': {'depth': 3}}}}, 'trainer': {'max_epochs': 5}}
    """
    tree: dict[str, Any] = {}
    for key, value in params.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = thaw(value)
    return tree


def write_best_config(params: Mapping[str, Any], path: Path, comment: str = "") -> Path:
    """Write ``params`` as a config fragment for ``train.py --config base.yaml --config best.yaml``.

    A nested ``class_path`` node (e.g. ``model.init_args.net``) merges with the base config's node, so the
    fragment sets only the tuned ``init_args``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    write_text_atomic(path, header + yaml.safe_dump(nest(params), sort_keys=False, default_flow_style=False))
    return path
