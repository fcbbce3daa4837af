"""``benchmark.py overhead``: training samples/s through our Lightning stack vs a plain PyTorch loop.

Both sides train the same net (same initial weights: the state dict is copied), on the same windows
(``dm.datasets["train"]`` through ``dm.train_dataloader()``, i.e. the same DataLoader settings and batch
size), with AdamW (lr 1e-3) and the module's own ``loss_fn`` (same class weights). Ours runs in one
``pl.Trainer.fit``; a callback runs one plain epoch at the start of each Lightning epoch, so the epochs
interleave (plain, ours, plain, ours, ...) and drift cancels. An "ours" epoch is the wall time from one
epoch start to the next (so it includes epoch-end hooks, metric compute and logging). The first epoch of
each side is a warm-up and is not reported.

``--net image`` measures a face-image net instead (``--backbone``, default timm ``resnet50``, in
:class:`~lightning_modules.ImageClassifier`) on a ``FaceImageDataModule`` (``--data`` manifest, else
``--images`` drawn faces), with uint8 batches normalised on the device; ``--precision bf16-mixed`` and
``--channels-last`` apply to both sides (the plain loop uses ``torch.autocast``).

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
NETS = ("inception", "lstm", "image")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``overhead`` subcommand."""
    parser.add_argument("--subjects", type=int, default=60, help="synthetic OpenFace subjects")
    parser.add_argument("--frames", type=int, nargs=2, default=(300, 600), metavar=("MIN", "MAX"),
                        help="frames per synthetic session")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per side (after one warm-up epoch)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--net", choices=NETS, default="inception")
    parser.add_argument("--backbone", default="resnet50", help="timm backbone of --net image")
    parser.add_argument("--data", default=None, help="--net image: a face-image manifest (default: drawn faces)")
    parser.add_argument("--images", type=int, default=400, help="--net image: drawn faces without --data")
    parser.add_argument("--image-size", type=int, default=224, help="--net image: side of the images")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--precision", choices=("32-true", "bf16-mixed"), default="32-true")
    parser.add_argument("--channels-last", action="store_true", help="--net image: channels-last model and inputs")
    parser.add_argument("--augment-on-device", action="store_true",
                        help="--net image: training augmentation on the device (the DataModule's augment_on_device)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the ours and control runs in turn; the run with the median ratio is reported")
    parser.add_argument("--no-control", action="store_true",
                        help="skip the control run (a minimal LightningModule against its own interleaved plain loop)")
    parser.add_argument("--profile", action="store_true",
                        help="after timing, cProfile one epoch of each loop and print where the time goes")
    parser.add_argument("--profile-top", type=int, default=8, help="functions of ours listed by --profile")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or :func:`platform.processor` elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pick_device(name: str | None) -> torch.device:
    """``--device`` as given, else ``cuda`` when there is one, else ``cpu``.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


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


def make_image_datamodule(root: Path, args: argparse.Namespace):  # noqa: ANN201
    """``--data`` (or drawn faces under ``root``) -> ``FaceImageDataModule`` (uint8 batches) after ``setup("fit")``."""
    from datamodules.images import FaceImageDataModule
    from datamodules.synthetic.faces import make_face_demo

    manifest = args.data or make_face_demo(root / "faces", images_per_class=max(2, args.images // 4),
                                           size=args.image_size, seed=args.seed)
    dm = FaceImageDataModule(str(manifest), image_size=args.image_size, batch_size=args.batch_size,
                             num_workers=args.workers, normalize_on_device=True, cache_dir=str(root / "cache"),
                             augment_on_device=getattr(args, "augment_on_device", False),
                             seed=args.seed)
    dm.setup("fit")
    return dm


def make_datamodule(root: Path, subjects: int, frames: tuple[int, int], batch_size: int, window: int, seed: int,
                    workers: int = 0):  # noqa: ANN201
    """Synthetic OpenFace demo under ``root`` -> ``AUSequenceDataModule`` after ``setup("fit")``."""
    from datamodules.au_sequence import AUSequenceDataModule
    from datamodules.synthetic.openface_demo import make_openface_demo

    manifest = make_openface_demo(root / "demo", num_subjects=subjects, frames=tuple(frames), effect_size=1.0, seed=seed)
    folds = max(2, min(5, subjects // 4))
    dm = AUSequenceDataModule(str(manifest), window=window, stride=16, batch_size=batch_size, num_folds=folds,
                              num_workers=workers, cache_dir=str(root / "cache"), seed=seed)
    dm.setup("fit")
    return dm


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_epoch(net: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                batches: Iterable[dict[str, torch.Tensor]], device: torch.device, dm=None,  # noqa: ANN001
                bf16: bool = False, channels_last: bool = False) -> float:
    """One plain training epoch; returns its wall seconds (CUDA work finished). With ``dm`` its
    ``on_after_batch_transfer`` runs after the copy (uint8 images normalised on the device)."""
    net.train()
    start = time.perf_counter()
    for batch in batches:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in ("x", "y")}
        if dm is not None:  # a training batch: augmented on the device too with augment_on_device
            batch = dm.device_batch(batch, True) if hasattr(dm, "device_batch") else dm.on_after_batch_transfer(batch, 0)
        x, y = batch["x"], batch["y"]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def make_interleaver(dm, net: nn.Module, loss_fn: nn.Module, device: torch.device, bf16: bool = False,  # noqa: ANN001, ANN201
                     channels_last: bool = False):
    """A callback running one plain epoch before each Lightning epoch and timing both sides."""
    import pytorch_lightning as pl

    class Interleave(pl.Callback):
        def __init__(self) -> None:
            self.optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
            self.ours: list[float] = []
            self.plain: list[float] = []
            self._start: float | None = None
            self.loader: Iterable | None = None

        def _close_ours(self) -> None:
            if self._start is not None:
                _sync(device)
                self.ours.append(time.perf_counter() - self._start)

        def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self._close_ours()
            if self.loader is None:  # one loader for all plain epochs: persistent workers, as Lightning's
                self.loader = dm.train_dataloader()
            self.plain.append(plain_epoch(net, loss_fn, self.optimizer, self.loader, device, dm, bf16, channels_last))
            self._start = time.perf_counter()

        def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self._close_ours()

    return Interleave()


def build_models(dm, net_name: str, device: torch.device, seed: int, backbone: str = "resnet50",  # noqa: ANN001
                 channels_last: bool = False) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(our classifier, a plain copy of its net with the same weights, a copy of its loss)."""
    from lightning_modules import ImageClassifier, SequenceClassifier
    from lightning_modules.nets import ImageCNN

    torch.manual_seed(seed)
    common = dict(in_channels=dm.num_channels, num_classes=dm.num_classes, class_weights=dm.class_weights.tolist(),
                  optimizer=functools.partial(torch.optim.AdamW, lr=1e-3))
    if net_name == "image":
        factory = functools.partial(ImageCNN, backbone=backbone, dropout=0.0)
        model = ImageClassifier(net=factory, channels_last=channels_last, **common)
    else:
        factory = make_net_factory(net_name)
        model = SequenceClassifier(net=factory, **common)
    plain = factory(dm.num_channels, model.num_outputs)
    plain.load_state_dict(model.net.state_dict())
    if channels_last:
        plain = plain.to(memory_format=torch.channels_last)
    return model, plain.to(device), copy.deepcopy(model.loss_fn).to(device)


def build_lightning(dm, net_name: str, loop: str, device: torch.device, seed: int,  # noqa: ANN001
                    backbone: str = "resnet50", channels_last: bool = False) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(the Lightning module of ``loop``, plain net, loss): ``ours`` is our classifier, ``control`` a
    :class:`~facedep.benchmarks.overhead_control.MinimalModule` on a copy of the same net and weights."""
    from facedep.benchmarks.overhead_control import MinimalModule

    model, plain, loss_fn = build_models(dm, net_name, device, seed, backbone, channels_last)
    if loop == "control":
        model = MinimalModule(copy.deepcopy(plain), copy.deepcopy(loss_fn), channels_last=channels_last)
    return model, plain, loss_fn


def make_trainer(epochs: int, device: torch.device, precision: str, callbacks: list):  # noqa: ANN201
    """The benchmark's Trainer: no logger, checkpoints, progress bar, summary or validation."""
    import pytorch_lightning as pl

    return pl.Trainer(
        max_epochs=epochs, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
        precision=precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=callbacks,
    )


def fit_quietly(trainer, model, dm) -> None:  # noqa: ANN001
    """``trainer.fit`` without the "no val loader" / "few workers" warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, datamodule=dm)


def run_ours_and_plain(dm, net_name: str, epochs: int, device: torch.device, seed: int,  # noqa: ANN001
                       backbone: str = "resnet50", precision: str = "32-true",
                       channels_last: bool = False, loop: str = "ours") -> dict[str, list[float]]:
    """Epoch seconds of the Lightning ``loop`` (``ours`` or ``control``) and of the plain loop (warm-up
    first) from one interleaved run; the Lightning side is keyed ``ours`` either way."""
    model, plain, loss_fn = build_lightning(dm, net_name, loop, device, seed, backbone, channels_last)
    timer = make_interleaver(dm, plain, loss_fn, device, precision == "bf16-mixed", channels_last)
    fit_quietly(make_trainer(epochs + 1, device, precision, [timer]), model, dm)
    return {"ours": timer.ours, "plain": timer.plain}


def profile_loops(dm, net_name: str, device: torch.device, seed: int, backbone: str = "resnet50",  # noqa: ANN001
                  precision: str = "32-true", channels_last: bool = False, top: int = 8, rounds: int = 2) -> dict:
    """cProfiled epochs of each loop (plain, control, ours), ``rounds`` rounds in turn, each after a warm-up
    epoch: ms per step by origin (summed over the rounds) and the top functions of ours (its module, data,
    Lightning, torchmetrics) by self time."""
    import pstats

    import pytorch_lightning as pl

    from facedep.benchmarks import overhead_profile as prof

    steps = len(dm.train_dataloader())
    bf16 = precision == "bf16-mixed"
    stats: dict[str, pstats.Stats] = {}

    class Profile(pl.Callback):
        def __init__(self) -> None:
            self.profiler: prof.cProfile.Profile | None = None

        def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            if trainer.current_epoch == 1:  # epoch 0 warms up
                self.profiler = prof.cProfile.Profile()
                self.profiler.enable()

        def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            _sync(device)
            self.profiler.disable()

    def add(loop: str, result: pstats.Stats | prof.cProfile.Profile) -> None:
        if loop in stats:
            stats[loop].add(result)
        else:
            stats[loop] = result if isinstance(result, pstats.Stats) else pstats.Stats(result)

    for _ in range(rounds):
        for loop in ("plain", "control", "ours"):
            model, plain, loss_fn = build_lightning(dm, net_name, loop, device, seed, backbone, channels_last)
            if loop == "plain":
                optimizer, loader = torch.optim.AdamW(plain.parameters(), lr=1e-3), dm.train_dataloader()
                plain_epoch(plain, loss_fn, optimizer, loader, device, dm, bf16, channels_last)  # warm-up
                add(loop, prof.profile_call(lambda: plain_epoch(plain, loss_fn, optimizer, loader, device, dm,
                                                                bf16, channels_last)))
            else:
                callback = Profile()
                fit_quietly(make_trainer(2, device, precision, [callback]), model, dm)
                add(loop, callback.profiler)
    per_step = {loop: {k: 1000 * v / (steps * rounds) for k, v in prof.self_time_by_origin(s).items()}
                for loop, s in stats.items()}
    top_rows = prof.top_functions(stats["ours"], {"ours: module", "ours: data", "lightning", "torchmetrics"}, top)
    for row in top_rows:
        row["ms_per_step"] = 1000 * row["self_s"] / (steps * rounds)
    return {"steps_per_epoch": steps, "rounds": rounds, "ms_per_step": per_step, "top_functions_ours": top_rows}


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


def combine_rounds(rounds: list[dict]) -> dict:
    """One summary from ``--rounds`` runs: the run with the median ratio, plus every run's ratio.

    Example:
        >>> r = combine_rounds([{"ratio": 0.8, "ours": 8.0}, {"ratio": 0.9, "ours": 9.0}, {"ratio": 1.0, "ours": 10.0}])
        >>> r["ours"], r["ratios"]
        (9.0, [0.8, 0.9, 1.0])
    """
    ordered = sorted(rounds, key=lambda r: r["ratio"])
    return {**ordered[(len(ordered) - 1) // 2], "ratios": [r["ratio"] for r in rounds], "rounds": len(rounds)}


def format_table(result: dict) -> str:
    """Plain-text table: loop, median samples/s, ratio to the plain loop of the same interleaved run.

    Example:
        >>> print(format_table({"ours": 90.0, "plain": 100.0, "ratio": 0.9}).splitlines()[2])
        ours (facedep)                         90.0     0.90
    """
    lines = [f"{'loop':<30} {'samples/s':>12} {'ratio':>8}", "-" * 52,
             f"{'ours (facedep)':<30} {result['ours']:12.1f} {result['ratio']:8.2f}",
             f"{'plain PyTorch':<30} {result['plain']:12.1f} {1.0:8.2f}"]
    control = result.get("control")
    if control:
        lines += [f"{'minimal LightningModule':<30} {control['ours']:12.1f} {control['ratio']:8.2f}",
                  f"{'plain PyTorch (its run)':<30} {control['plain']:12.1f} {1.0:8.2f}",
                  f"{'ours / minimal':<30} {'':>12} {result['ours_over_minimal']:8.2f}"]
    return "\n".join(lines)


TARGETS = {"inception": 0.95, "lstm": 0.90, "image": 0.95}
"""ours/plain goals per net (issue #19: the LSTM's short CPU step leaves Lightning's per-step cost visible)."""


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark, print the table (and write ``--json``); returns the results."""
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    image = args.net == "image"
    common = (args.net, args.epochs, device, args.seed, args.backbone, args.precision, args.channels_last)
    with tempfile.TemporaryDirectory() as tmp:
        if image:
            dm = make_image_datamodule(Path(tmp), args)
        else:
            dm = make_datamodule(Path(tmp), args.subjects, args.frames, args.batch_size, args.window, args.seed,
                                 args.workers)
        runs: list[dict] = []
        for _ in range(args.rounds):  # ours, control, ours, control, ...: slow drift hits both alike
            ours_run = run_ours_and_plain(dm, *common)
            control_run = None if args.no_control else run_ours_and_plain(dm, *common, loop="control")
            runs.append({"ours": ours_run, "control": control_run})
        profile = None
        if args.profile:
            profile = profile_loops(dm, args.net, device, args.seed, args.backbone, args.precision,
                                    args.channels_last, args.profile_top)
    samples = len(dm.datasets["train"])
    results = {
        "net": args.backbone if image else args.net, "subjects": args.subjects, "epochs": args.epochs,
        "batch_size": args.batch_size, "window": args.window, "channels": dm.num_channels,
        "train_windows": samples, "workers": args.workers, "precision": args.precision,
        "channels_last": args.channels_last, "machine": machine_info(str(device)),
        **combine_rounds([summarize(r["ours"], samples) for r in runs]), "target": TARGETS[args.net],
    }
    if not args.no_control:
        results["control"] = combine_rounds([summarize(r["control"], samples) for r in runs])
        results["ours_over_minimal"] = results["ratio"] / results["control"]["ratio"]
    if profile is not None:
        results["profile"] = profile
    m = results["machine"]
    what = (f"{results['train_windows']} images of {args.image_size} px, {args.precision}, channels_last "
            f"{args.channels_last}" if image else
            f"{results['train_windows']} windows x {args.window} frames x {dm.num_channels} channels")
    print(f"Training overhead, {results['net']}, {what}, batch {args.batch_size}, {args.workers} workers, "
          f"{args.epochs} timed epochs per side (interleaved with a plain epoch each) "
          f"on {m['device']} ({m['cpu']}, {m['cpu_count']} cores, {m['torch_threads']} torch threads)")
    print(format_table(results))
    if args.rounds > 1:
        print(f"ratios of the {args.rounds} rounds: ours/plain {', '.join(f'{r:.2f}' for r in results['ratios'])}"
              + ("" if args.no_control else
                 f"; minimal/plain {', '.join(f'{r:.2f}' for r in results['control']['ratios'])}"))
    print(f"goal: ours/plain >= {results['target']:.2f} -> {'met' if results['ratio'] >= results['target'] else 'NOT met'}")
    if profile is not None:
        from facedep.benchmarks.overhead_profile import format_breakdown

        print(f"\nProfile, {profile['rounds']} epochs per loop in turn ({profile['steps_per_epoch']} steps each; "
              "cProfile self time, ms per step):")
        print(format_breakdown(profile["ms_per_step"]))
        print("ours, top functions by self time (outside torch):")
        for row in profile["top_functions_ours"]:
            print(f"  {row['ms_per_step']:7.3f} ms/step  {row['calls']:>7} calls  "
                  f"[{row['origin']}] {row['function']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results
