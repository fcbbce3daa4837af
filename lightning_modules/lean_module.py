"""The base of facedep's LightningModules: two per-step costs of Lightning on small nets removed.

Measured with ``python scripts/benchmark.py overhead --net lstm --profile`` (cProfile of one epoch; an LSTM
step takes ~7 ms on a 2-core CPU, so a fraction of a millisecond per step shows):

- **Lightning's CUDA check on a machine without an NVIDIA driver.** ``lightning_fabric`` sets
  ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` when imported (so that checking for CUDA does not initialise it
  before a fork). torch's optimizers ask ``torch.accelerator.current_accelerator(check_available=True)``
  on every ``step()``; with the variable set, each call ``dlopen``s ``libnvidia-ml.so.1`` and, where that
  library is missing, fails and falls back to the CUDA runtime query anyway: 0.3-0.5 ms per step on the
  CUDA wheel of torch on a CPU-only machine. Where NVML cannot be loaded the variable changes no
  answer and protects no fork, so :func:`drop_unusable_nvml_check` removes it (once per process).
- **Lightning's hook bookkeeping**: it sets ``module._current_fx_name`` twice per hook call, ~45 times
  per step, and ``nn.Module.__setattr__`` checks each value against parameters, buffers and modules;
  :class:`LeanLightningModule` stores that plain string directly.

Example:
    >>> m = LeanLightningModule()
    >>> m._current_fx_name = "training_step"
    >>> m._current_fx_name, "_current_fx_name" in m._modules
    ('training_step', False)
"""

from __future__ import annotations

import ctypes
import functools
import os

import pytorch_lightning as pl

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
PLAIN_ATTRIBUTES = frozenset({"_current_fx_name"})
"""Attributes Lightning sets on the module per hook call; never parameters, buffers or submodules."""


@functools.lru_cache(maxsize=1)
def nvml_loadable() -> bool:
    """Whether NVML (``libnvidia-ml.so.1``, the NVIDIA driver's management library) can be loaded here.

    Example:
        >>> isinstance(nvml_loadable(), bool)
        True
    """
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


def drop_unusable_nvml_check() -> bool:
    """Unset ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` when NVML cannot be loaded (then it only costs a failed
    ``dlopen`` per CUDA check, i.e. per optimizer step); returns whether it was unset.

    Example:
        >>> os.environ[NVML_CHECK] = "1"
        >>> drop_unusable_nvml_check() == (not nvml_loadable())
        True
    """
    if os.environ.get(NVML_CHECK) == "1" and not nvml_loadable():
        del os.environ[NVML_CHECK]
        return True
    return False


class LeanLightningModule(pl.LightningModule):
    """``pl.LightningModule`` without Lightning's per-step attribute and CUDA-check costs (see the module)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        drop_unusable_nvml_check()

    def __setattr__(self, name: str, value: object) -> None:
        if name in PLAIN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)
