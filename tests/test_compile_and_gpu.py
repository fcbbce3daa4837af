"""``torch.compile`` through the training CLI (slow: compilation) and the GPU training path (``gpu`` marker).

The GPU tests run with ``make test-gpu`` on a machine with CUDA: bf16-mixed + channels_last image training,
and compiled training, through ``scripts/train.py``'s ``run_training``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from facedep.experiment.train import run_training

ROOT = Path(__file__).resolve().parents[1]


def _no_compiled_prefix(checkpoint: str) -> None:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert state and not any("_orig_mod" in k for k in state), "compiled parameter names leaked into the checkpoint"


@pytest.mark.slow
def test_compile_callback_trains_and_keeps_checkpoint_names(tiny_args: list[str]) -> None:
    from facedep.experiment.callbacks import CompileModel

    result = run_training([*tiny_args, "--trainer.max_epochs", "1", "--trainer.callbacks+=facedep.experiment.callbacks.CompileModel"])
    assert result["test"]["test/subject/macro_f1"] >= 0.0
    assert result["best_checkpoint"]
    _no_compiled_prefix(result["best_checkpoint"])

    from lightning_modules import SequenceClassifier
    from lightning_modules.nets import InceptionTime

    model = SequenceClassifier(net=lambda c, k: InceptionTime(c, k, num_filters=4, depth=3), in_channels=5).eval()
    x = torch.randn(3, 20, 5)
    expected = model(x)
    CompileModel().setup(None, model, "fit")  # type: ignore[arg-type]
    assert model._compiled_call_impl is not None
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_bf16_channels_last_image_training(tmp_path: Path) -> None:
    from datamodules.synthetic.faces import make_face_demo

    manifest = make_face_demo(tmp_path / "faces", images_per_class=40, size=96, classes=("happy", "sad", "neutral"))
    result = run_training([
        "--config", str(ROOT / "configs/images/demo.yaml"), "--data.init_args.manifest", str(manifest),
        "--run.output_dir", str(tmp_path / "runs"), "--tracking.wandb", "disabled", "--trainer.max_epochs", "2",
        "--trainer.accelerator", "gpu", "--trainer.precision", "bf16-mixed", "--model.init_args.channels_last", "true",
    ])
    assert result["test"]["test/subject/macro_f1"] >= 0.0
    assert result["data"]["train"]["subjects"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_compiled_bf16_sequence_training(tiny_args: list[str]) -> None:
    result = run_training([*tiny_args, "--trainer.accelerator", "gpu", "--trainer.precision", "bf16-mixed",
                           "--trainer.callbacks+=facedep.experiment.callbacks.CompileModel"])
    _no_compiled_prefix(result["best_checkpoint"])
