"""Tracking: a quiet console, grouped W&B runs of a cross-validation, checkpoints as artifacts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NOISE = (
    "Tip: For seamless cloud logging",  # Lightning's litlogger advertisement
    "LeafSpec)` is deprecated",  # torch's pytree deprecation, raised inside Lightning
    "exists and is not empty",  # Lightning's CSVLogger on our (already populated) run folder
    "The anonymous setting has no effect",  # W&B on Lightning's default anonymous=None
)


def test_training_console_has_no_third_party_noise(tiny_args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline"}
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), *tiny_args, "--trainer.max_epochs", "1", "--tracking.wandb", "offline"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Run folder:" in output
    for message in NOISE:
        assert message not in output, message
