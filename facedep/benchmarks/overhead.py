"""``benchmark.py overhead``: training samples/s through our Lightning stack vs a plain PyTorch loop.

Both sides train the same net (same initial weights: the state dict is copied), on the same windows
(``dm.datasets["train"]`` through ``dm.train_dataloader()``, i.e. the same DataLoader settings and batch
size), with AdamW (lr 1e-3) and the module's own ``loss_fn`` (same class weights). Ours runs in one
``pl.Trainer.fit``; a callback runs one plain epoch at the start of each Lightning epoch, so the epochs
interleave (plain, ours, plain, ours, ...) and drift cancels. An "ours" epoch is the wall time from one
epoch start to the next (so it includes epoch-end hooks, metric compute and logging). The first epoch of
each side is a warm-up and is not reported.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); add_arguments(parser)
    >>> parser.parse_args(["--net", "lstm"]).net
    'lstm'
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

HELP = "framework overhead: samples/s of Lightning training vs a plain PyTorch loop on the same net and data"
NETS = ("inception", "lstm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``overhead`` subcommand."""
    parser.add_argument("--subjects", type=int, default=60, help="synthetic OpenFace subjects")
    parser.add_argument("--frames", type=int, nargs=2, default=(300, 600), metavar=("MIN", "MAX"),
                        help="frames per synthetic session")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per side (after one warm-up epoch)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--net", choices=NETS, default="inception")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=0)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or :func:`platform.processor` elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> dict:
    """Where the numbers were taken: CPU, cores, torch threads, GPU name, versions."""
    import pytorch_lightning as pl

    info = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": device, "torch": torch.__version__, "lightning": pl.__version__,
            "python": platform.python_version()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def make_net_factory(name: str) -> functools.partial:
    """``net(in_channels, num_outputs)`` factory for ``inception`` or ``lstm``."""
    from lightning_modules.nets import InceptionTime, RecurrentNet

    if name == "lstm":
        return functools.partial(RecurrentNet, hidden_size=64)
    return functools.partial(InceptionTime, num_filters=16, depth=3)


def make_datamodule(root: Path, subjects: int, frames: tuple[int, int], batch_size: int, window: int, seed: int):  # noqa: ANN201
    """Synthetic OpenFace demo under ``root`` -> ``AUSequenceDataModule`` after ``setup("fit")``."""
    from datamodules.au_sequence import AUSequenceDataModule
    from datamodules.synthetic import make_openface_demo

    manifest = make_openface_demo(root / "demo", num_subjects=subjects, frames=tuple(frames), effect_size=1.0, seed=seed)
    folds = max(2, min(5, subjects // 4))
    dm = AUSequenceDataModule(str(manifest), window=window, stride=16, batch_size=batch_size, num_folds=folds,
                              cache_dir=str(root / "cache"), seed=seed)
    dm.setup("fit")
    return dm


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_epoch(net: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                batches: Iterable[dict[str, torch.Tensor]], device: torch.device) -> float:
    """One plain training epoch; returns its wall seconds (CUDA work finished)."""
    net.train()
    start = time.perf_counter()
    for batch in batches:
        x = batch["x"].to(device, non_blocking=True)
        y = batch["y"].to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def make_interleaver(dm, net: nn.Module, loss_fn: nn.Module, device: torch.device):  # noqa: ANN001, ANN201
    """A callback running one plain epoch before each Lightning epoch and timing both sides."""
    import pytorch_lightning as pl

    class Interleave(pl.Callback):
        def __init__(self) -> None:
            self.optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
            self.ours: list[float] = []
            self.plain: list[float] = []
            self._start: float | None = None

        def _close_ours(self) -> None:
            if self._start is not None:
                _sync(device)
                self.ours.append(time.perf_counter() - self._start)

        def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self._close_ours()
            self.plain.append(plain_epoch(net, loss_fn, self.optimizer, dm.train_dataloader(), device))
            self._start = time.perf_counter()

        def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self._close_ours()

    return Interleave()


def build_models(dm, net_name: str, device: torch.device, seed: int) -> tuple[nn.Module, nn.Module, nn.Module]:  # noqa: ANN001
    """(our SequenceClassifier, a plain copy of its net with the same weights, a copy of its loss)."""
    from lightning_modules.sequence_classifier import SequenceClassifier

    torch.manual_seed(seed)
    factory = make_net_factory(net_name)
    model = SequenceClassifier(net=factory, in_channels=dm.num_channels, num_classes=dm.num_classes,
                               class_weights=dm.class_weights.tolist(),
                               optimizer=functools.partial(torch.optim.AdamW, lr=1e-3))
    plain = factory(dm.num_channels, model.num_outputs)
    plain.load_state_dict(model.net.state_dict())
    return model, plain.to(device), copy.deepcopy(model.loss_fn).to(device)


def run_ours_and_plain(dm, net_name: str, epochs: int, device: torch.device, seed: int) -> dict[str, list[float]]:  # noqa: ANN001
    """Epoch seconds of each side (warm-up first) from one interleaved run."""
    import pytorch_lightning as pl

    model, plain, loss_fn = build_models(dm, net_name, device, seed)
    timer = make_interleaver(dm, plain, loss_fn, device)
    trainer = pl.Trainer(
        max_epochs=epochs + 1, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
        precision="32-true", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=[timer],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no val loader", "few workers", ...
        trainer.fit(model, datamodule=dm)
    return {"ours": timer.ours, "plain": timer.plain}


def summarize(seconds: dict[str, list[float]], samples: int) -> dict:
    """Median samples/s of each side (warm-up dropped) and ours/plain.

    Example:
        >>> summarize({"ours": [9.0, 1.0, 1.0], "plain": [9.0, 0.5, 0.5]}, 100)["ratio"]
        0.5
    """
    rates = {side: [samples / s for s in values[1:]] for side, values in seconds.items()}
    median = {side: statistics.median(r) for side, r in rates.items()}
    return {"samples_per_epoch": samples, "epoch_seconds": seconds, "samples_per_s": rates,
            "ours": median["ours"], "plain": median["plain"], "ratio": median["ours"] / median["plain"]}


def format_table(result: dict) -> str:
    """Plain-text table: loop, median samples/s, ratio to plain.

    Example:
        >>> print(format_table({"ours": 90.0, "plain": 100.0, "ratio": 0.9}).splitlines()[2])
        ours (Lightning)           90.0     0.90
    """
    lines = [f"{'loop':<18} {'samples/s':>12} {'ratio':>8}", "-" * 40,
             f"{'ours (Lightning)':<18} {result['ours']:12.1f} {result['ratio']:8.2f}",
             f"{'plain PyTorch':<18} {result['plain']:12.1f} {1.0:8.2f}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark, print the table (and write ``--json``); returns the results."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        dm = make_datamodule(Path(tmp), args.subjects, args.frames, args.batch_size, args.window, args.seed)
        seconds = run_ours_and_plain(dm, args.net, args.epochs, device, args.seed)
    results = {
        "net": args.net, "subjects": args.subjects, "epochs": args.epochs, "batch_size": args.batch_size,
        "window": args.window, "channels": dm.num_channels, "train_windows": len(dm.datasets["train"]),
        "machine": machine_info(str(device)), **summarize(seconds, len(dm.datasets["train"])),
    }
    m = results["machine"]
    print(f"Training overhead, {args.net}, {results['train_windows']} windows x {args.window} frames x "
          f"{dm.num_channels} channels, batch {args.batch_size}, {args.epochs} timed epochs per side (interleaved) "
          f"on {m['device']} ({m['cpu']}, {m['cpu_count']} cores, {m['torch_threads']} torch threads)")
    print(format_table(results))
    print(f"goal: ours/plain >= 0.95 -> {'met' if results['ratio'] >= 0.95 else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results
