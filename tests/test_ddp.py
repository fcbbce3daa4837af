"""Two-process DDP on CPU (gloo): disjoint shards, and test metrics equal to a one-process evaluation.

Slow (starts 2 processes); run with ``make test-slow`` or ``pytest -m slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(demo_manifest: Path, tmp_path: Path) -> None:
    extra = tmp_path / "ddp.yaml"
    extra.write_text(
        "trainer:\n  strategy: ddp\n  devices: 2\n  accelerator: cpu\n"
        "  callbacks:\n    - class_path: facedep.experiment.callbacks.SampleAudit\n"
    )
    command = [
        sys.executable, str(ROOT / "scripts" / "train.py"),
        "--config", str(ROOT / "configs" / "tests" / "tiny.yaml"), "--config", str(extra),
        "--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path / "runs"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "tiny"
    metrics = json.loads((run_dir / "metrics.json").read_text())

    ranks = [json.loads((run_dir / f"samples_rank{r}.json").read_text()) for r in (0, 1)]
    total = metrics["data"]["train"]["windows"]
    for epoch in ranks[0]:
        a, b = set(ranks[0][epoch]), set(ranks[1][epoch])
        assert len(a & b) <= 1  # DistributedSampler pads an odd count with one repeated sample
        assert a | b == set(range(total))

    from pytorch_lightning import Trainer

    from datamodules.au_sequence import AUSequenceDataModule
    from lightning_modules import SequenceClassifier

    model = SequenceClassifier.load_from_checkpoint(metrics["best_checkpoint"], weights_only=True)
    dm = AUSequenceDataModule(manifest=str(demo_manifest), classes=[0, 1], class_names=["healthy", "depressed"],
                              window=32, stride=32, num_folds=3, batch_size=32, cache_dir=None)
    single = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False).test(model, datamodule=dm, verbose=False)[0]
    for key, value in metrics["test"].items():
        if key != "test/loss":  # the loss is a mean of per-rank batch means, the rest are exact
            assert single[key] == pytest.approx(value, abs=1e-6), key
    assert len(metrics["test"]) >= 12
