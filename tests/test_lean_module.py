"""``LeanLightningModule``: Lightning's per-step CUDA probe and hook bookkeeping removed, nothing else changed."""

from __future__ import annotations

import ctypes

import pytest
import torch
from torch import nn

from lightning_modules import SequenceClassifier, lean_module
from lightning_modules.lean_module import NVML_CHECK, LeanLightningModule, drop_unusable_nvml_check


def test_nvml_check_is_dropped_only_where_nvml_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NVML_CHECK, "1")
    monkeypatch.setattr(lean_module, "nvml_loadable", lambda: True)
    assert not drop_unusable_nvml_check() and lean_module.os.environ[NVML_CHECK] == "1"  # a driver: kept
    monkeypatch.setattr(lean_module, "nvml_loadable", lambda: False)
    assert drop_unusable_nvml_check() and NVML_CHECK not in lean_module.os.environ
    assert not drop_unusable_nvml_check()  # already gone
    monkeypatch.setenv(NVML_CHECK, "0")
    assert not drop_unusable_nvml_check() and lean_module.os.environ[NVML_CHECK] == "0"  # not Lightning's value


@pytest.mark.skipif(not torch.cuda._is_compiled(), reason="a CPU-only torch never probes NVML")
def test_optimizer_steps_stop_probing_nvml_once_one_of_our_modules_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after ``import pytorch_lightning`` on a machine without the NVIDIA driver: every step dlopens NVML."""
    probes: list[str] = []
    real = ctypes.CDLL

    def spy(name: str, *args: object, **kwargs: object) -> object:
        probes.append(str(name))
        if "nvidia-ml" in str(name):
            raise OSError(f"{name}: cannot open shared object file")  # no driver here
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", spy)
    monkeypatch.setattr(lean_module, "nvml_loadable", lambda: False)
    monkeypatch.setenv(NVML_CHECK, "1")
    weight = nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([weight])
    weight.grad = torch.ones(3)
    optimizer.step()
    probed_before = sum("nvidia-ml" in p for p in probes)
    SequenceClassifier(in_channels=3, num_classes=2)
    probes.clear()
    for _ in range(3):
        optimizer.step()
    assert sum("nvidia-ml" in p for p in probes) == 0
    if torch.cuda.is_available():  # torch may cache the count once CUDA is up
        return
    assert probed_before >= 1  # the cost that was removed (torch >= 2.6 asks on every step)


def test_hook_name_bypasses_module_bookkeeping_and_other_attributes_do_not() -> None:
    module = LeanLightningModule()
    module._current_fx_name = "training_step"
    assert module._current_fx_name == "training_step" and "_current_fx_name" not in module._modules
    module.head = nn.Linear(2, 1)  # still registered as a submodule
    module.scale = nn.Parameter(torch.ones(1))
    assert "head" in module._modules and "scale" in module._parameters
    assert sum(p.numel() for p in module.parameters()) == 4
