"""Settings of a training command read without running it: one ``--key value`` override, one key of the config
file, the whole resolved config (as training parses it), the tracking tags.

Example:
    >>> arg_value(["--run.name", "a", "--run.name=b"], "--run.name", "run")
    'b'
"""

from __future__ import annotations

from typing import Any


def arg_value(args: list[str], key: str, default: str) -> str:
    """Value of ``--key VALUE`` or ``--key=VALUE`` in ``args`` (last one wins)."""
    value = default
    for i, arg in enumerate(args):
        if arg == key and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(key + "="):
            value = arg.split("=", 1)[1]
    return value


def config_value(config: str | None, section: str, key: str, default: str) -> str:
    if not config:
        return default
    from omegaconf import OmegaConf

    return str(OmegaConf.select(OmegaConf.load(config), f"{section}.{key}", default=default))


def resolved_config(config: str | None, overrides: list[str]) -> dict[str, Any]:
    """The whole training config after the config(s) and every override, parsed as training would parse them
    (defaults included), as a plain dict, without building anything."""
    from facedep.experiment.cli import FacedepCLI

    class _ParseOnly(FacedepCLI):
        def _set_seed(self) -> None:  # parsing only: leave the global seed alone
            pass

        def instantiate_classes(self) -> None:
            pass

    return _ParseOnly(args=(["--config", config] if config else []) + list(overrides)).config.as_dict()


def resolved_data_args(config: str | None, overrides: list[str]) -> dict[str, Any]:
    """The DataModule's ``init_args`` after the config(s) and every override (see :func:`resolved_config`)."""
    return dict((resolved_config(config, overrides).get("data") or {}).get("init_args") or {})


def tracking_tags(config: str | None, overrides: list[str]) -> list[str]:
    """``tracking.tags`` of the config, or of a ``--tracking.tags [a,b]`` override (which wins)."""
    import yaml
    from omegaconf import OmegaConf

    raw = arg_value(overrides, "--tracking.tags", "")
    if raw:
        tags = yaml.safe_load(raw)
    else:
        tags = OmegaConf.select(OmegaConf.load(config), "tracking.tags", default=None) if config else None
    return [str(tag) for tag in (tags or [])]
