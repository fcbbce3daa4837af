"""``benchmark.py images``: face-image loading with and without the uint8 cache, and training images/s.

The two sides differ only in where the pixels come from. ``decode`` reads, decodes (Pillow), crops the
face box and resizes the JPEG on every access, as an ImageFolder-style pipeline does; ``cache`` reads the
``FaceImageDataModule``'s memory-mapped uint8 cache. Both are a ``FaceImageDataset`` over the same
training rows with the same albumentations transforms and normalisation, in DataLoaders with the
DataModule's settings (``cache`` *is* ``dm.train_dataloader()``).

(a) ``loader``: images/s of whole epochs for each ``--workers`` count (and per worker); (b) ``train``:
images/s of whole training epochs of one model (default timm ``test_resnet``; ``hybrid_demo`` is the net
of ``configs/images/demo.yaml``), same weights, batch and AdamW, fed by either side; (c) where each step's
time goes: waiting for the next batch vs the rest (on CPU from the timed epochs; on CUDA one extra epoch
per side synchronised after every step, with CUDA events timing the GPU work) and whether the loader
keeps the device fed (waiting < 10 % of the time). With ``--normalize-on-device`` a third side,
``cache_u8``, is the cache loader handing uint8 batches to the device, normalised there (the
DataModule's ``normalize_on_device``); ``--channels-last`` and ``--compile`` set the model's memory
format and ``torch.compile`` for every side. With ``--augment-on-device`` a side ``cache_gpu_aug`` hands
un-augmented uint8 batches to the device, which augments them batched there
(:class:`~datamodules.image_device_augment.DeviceAugmentation`, the same transform specs) and normalises
them (the DataModule's ``augment_on_device``). Epochs alternate between the sides (decode, cache,
decode, ...) after one warm-up epoch each (worker start-up, page cache); medians are reported and
``ratio`` is a side's rate over the ``decode`` rate. The one-off cache fill (``dm.setup``) is timed too.

Input: ``--data`` (a manifest, or a folder holding ``manifest.csv``, e.g. from
``scripts/make_demo_data.py --modality faces``), else ``--images`` drawn faces with face boxes
(``datamodules.synthetic.faces.make_face_demo``) in a temporary folder.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); add_arguments(parser)
    >>> parser.parse_args(["--workers", "0", "2"]).workers
    [0, 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from datamodules.image_transforms import normalize_batch, normalize_unit_batch

HELP = "face images: loader images/s decoding JPEGs vs the uint8 cache (per worker), training images/s with and without it"
SIDES = ("decode", "cache")
FED_THRESHOLD = 0.10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``images`` subcommand."""
    parser.add_argument("--data", default=None, help="manifest CSV (or its folder); default: drawn faces in a temp dir")
    parser.add_argument("--images", type=int, default=1000, help="drawn faces to generate without --data")
    parser.add_argument("--source-size", type=int, default=96, help="side of the generated JPEGs (Kaggle AffectNet: 96)")
    parser.add_argument("--classes", nargs="+", default=["0", "1"], help="label values of the manifest")
    parser.add_argument("--image-size", type=int, default=64, help="side of the cached / trained images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader workers for (a)")
    parser.add_argument("--epochs", type=int, default=3, help="timed loader epochs per side and worker count")
    parser.add_argument("--parts", nargs="+", choices=("loader", "train"), default=["loader", "train"])
    parser.add_argument("--model", default="test_resnet", help="timm name, hybrid_demo, or a `models` benchmark name")
    parser.add_argument("--train-workers", type=int, default=0, help="DataLoader workers for (b)")
    parser.add_argument("--train-epochs", type=int, default=2, help="timed training epochs per side")
    parser.add_argument("--bf16", action="store_true", help="train under bf16 autocast")
    parser.add_argument("--channels-last", action="store_true", help="channels-last model and inputs")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (warm-up epochs compile)")
    parser.add_argument("--normalize-on-device", action="store_true",
                        help="add side cache_u8: uint8 batches normalised on the device after the copy")
    parser.add_argument("--augment-on-device", action="store_true",
                        help="add the side cache_gpu_aug: uint8 batches augmented and normalised on the device")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=0)


class DecodedImages:
    """Array-like ``images[row]`` that reads, decodes, crops and resizes ``paths[row]`` on every access.

    Example:
        >>> DecodedImages(["a.jpg"], [None], (64, 64))[0].shape  # doctest: +SKIP
        (64, 64, 3)
    """

    def __init__(self, paths: Sequence[str], boxes: Sequence[tuple[float, ...] | None], size: tuple[int, int],
                 margin: float = 0.0) -> None:
        self.paths, self.boxes, self.size, self.margin = list(paths), list(boxes), size, margin

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, row: int) -> np.ndarray:
        from datamodules.image_crops import crop_box, resize_image
        from datamodules.image_decoding import decode_image

        image, _ = decode_image(self.paths[int(row)])
        box = self.boxes[int(row)]
        crop = crop_box(image, box, self.margin) if box is not None else None
        return resize_image(image if crop is None else crop, self.size)


def resolve_manifest(args: argparse.Namespace, tmp: Path) -> tuple[Path, bool]:
    """``(manifest, generated)``: ``--data`` (file or folder), else ``--images`` drawn faces written under ``tmp``."""
    if args.data:
        path = Path(args.data)
        return (path / "manifest.csv" if path.is_dir() else path), False
    from datamodules.synthetic.faces import make_face_demo

    per_class = max(2, math.ceil(args.images / 4))
    return make_face_demo(tmp / "faces", images_per_class=per_class, size=args.source_size, seed=args.seed,
                          face_boxes=True), True


def make_datamodule(manifest: Path, args: argparse.Namespace, cache_dir: Path):  # noqa: ANN201
    """A ``FaceImageDataModule`` after ``setup("fit")`` (cache filled) and the seconds the setup took."""
    from datamodules.images import FaceImageDataModule

    classes = [int(c) if c.lstrip("-").isdigit() else c for c in args.classes]
    dm = FaceImageDataModule(str(manifest), image_size=args.image_size, classes=classes, batch_size=args.batch_size,
                             cache_dir=str(cache_dir), seed=args.seed)
    start = time.perf_counter()
    dm.setup("fit")
    return dm, time.perf_counter() - start


def decode_dataset(dm):  # noqa: ANN001, ANN201
    """The DataModule's training dataset with :class:`DecodedImages` in place of the cached array."""
    from datamodules.image_crops import manifest_boxes
    from datamodules.image_dataset import FaceImageDataset
    from datamodules.image_transforms import build_transforms

    videos, _ = dm.index_videos()  # the full manifest in cache-row order (video_index = row)
    train = dm.datasets["train"]
    images = DecodedImages(videos["path"].tolist(), manifest_boxes(videos), dm.image_size, dm.face_margin)
    return FaceImageDataset(images, train.rows, train.labels, train.video_ids, train.subject_ids,
                            build_transforms(dm.train_transform_specs), dm.mean, dm.std)


def sides_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The compared sides: ``decode``, ``cache``, with ``--normalize-on-device`` ``cache_u8``, with
    ``--augment-on-device`` ``cache_gpu_aug``."""
    extra = (("cache_u8",) if getattr(args, "normalize_on_device", False) else ()) + \
        (("cache_gpu_aug",) if getattr(args, "augment_on_device", False) else ())
    return (*SIDES, *extra)


def loaders(dm, workers: int, sides: Sequence[str] = SIDES) -> dict[str, DataLoader]:  # noqa: ANN001
    """Training loaders of ``sides`` with ``workers`` workers and the DataModule's settings."""
    dm.num_workers = workers

    def loader(dataset) -> DataLoader:  # noqa: ANN001
        return DataLoader(dataset, batch_size=dm.batch_size, shuffle=True, num_workers=workers,
                          pin_memory=dm.pin_memory, persistent_workers=workers > 0)

    out = {"decode": loader(decode_dataset(dm)), "cache": dm.train_dataloader()}
    if "cache_u8" in sides:
        uint8 = copy.copy(dm.datasets["train"])
        uint8.device_normalize = True
        out["cache_u8"] = loader(uint8)
    if "cache_gpu_aug" in sides:
        raw = copy.copy(dm.datasets["train"])
        raw.device_normalize, raw.transform = True, None  # augmented on the device instead
        out["cache_gpu_aug"] = loader(raw)
    return {side: out[side] for side in sides}


def loader_epoch(loader: Iterable[dict[str, torch.Tensor]]) -> tuple[float, int]:
    """Seconds and images of one pass over ``loader``."""
    start, images = time.perf_counter(), 0
    for batch in loader:
        images += len(batch["y"])
    return time.perf_counter() - start, images


def summarize(epochs: dict[str, list[tuple[float, int]]], workers: int | None = None) -> dict[str, dict]:
    """Per side: median images/s over epochs, per-epoch rates, ratio to ``decode`` (and per worker).

    Example:
        >>> summarize({"decode": [(2.0, 100)], "cache": [(1.0, 100)]})["cache"]["ratio"]
        2.0
    """
    out = {}
    for side, values in epochs.items():
        rates = [images / seconds for seconds, images in values]
        out[side] = {"images_per_s": statistics.median(rates), "epoch_images_per_s": rates}
        if workers is not None:
            out[side]["images_per_s_per_worker"] = out[side]["images_per_s"] / max(workers, 1)
    for side in out:
        out[side]["ratio"] = out[side]["images_per_s"] / out["decode"]["images_per_s"]
    return out


def loader_benchmark(dm, workers: Sequence[int], epochs: int, sides: Sequence[str] = SIDES) -> list[dict]:  # noqa: ANN001
    """(a): per worker count, interleaved epochs of the loaders after one warm-up epoch each."""
    rows = []
    for w in workers:
        pair = loaders(dm, w, sides)
        for loader in pair.values():
            loader_epoch(loader)  # warm-up: worker start, page cache
        timed: dict[str, list[tuple[float, int]]] = {side: [] for side in sides}
        for _ in range(epochs):
            for side in sides:
                timed[side].append(loader_epoch(pair[side]))
        rows.append({"workers": w, **summarize(timed, w)})
        del pair
    return rows


def build_train_model(name: str, image_size: int) -> nn.Module:
    """``hybrid_demo`` (the demo config's net on two tiny timm backbones), else a ``models`` benchmark model."""
    if name == "hybrid_demo":
        from lightning_modules.nets import HybridAttentionNet

        return HybridAttentionNet(3, 2, backbones=("test_resnet", "test_efficientnet"), freeze_backbones=False,
                                  img_size=image_size, d_model=64, nhead=4, num_layers=1, dim_feedforward=128)
    from facedep.benchmarks.models import build_model

    return build_model(name, image_size, au_channels=17)[0]


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader: Iterable[dict[str, torch.Tensor]],
                device: torch.device, bf16: bool = False, sync_steps: bool = False,
                normalization: tuple[Sequence[float], Sequence[float]] = ((0.0,) * 3, (1.0,) * 3),
                channels_last: bool = False, augment: Any | None = None) -> dict[str, Any]:
    """One training epoch: seconds, images, seconds waiting in ``next(loader)``; with ``sync_steps`` (CUDA)
    the device is synchronised after every step and CUDA events time each step's device work. uint8
    batches are normalised on the device with ``normalization`` (mean, std), as the DataModule does, after
    ``augment`` (a :class:`~datamodules.image_device_augment.DeviceAugmentation`) when given."""
    model.train()
    cuda_events = sync_steps and device.type == "cuda"
    wait, images, steps, device_ms = 0.0, 0, 0, 0.0
    start = time.perf_counter()
    batches = iter(loader)
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        wait += time.perf_counter() - t0
        if batch is None:
            break
        if cuda_events:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        x, y = batch["x"].to(device, non_blocking=True), batch["y"].to(device, non_blocking=True)
        if augment is not None and x.dtype == torch.uint8:
            x = normalize_unit_batch({"x": augment(x)}, *normalization)["x"]
        else:
            x = normalize_batch({"x": x}, *normalization)["x"]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if cuda_events:
            end.record()
            end.synchronize()
            device_ms += begin.elapsed_time(end)
        images, steps = images + len(y), steps + 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "images": images, "steps": steps, "wait_seconds": wait, "wait_share": wait / seconds}
    if cuda_events:
        out.update(device_seconds=device_ms / 1000, device_busy_share=device_ms / 1000 / seconds)
    return out


def train_benchmark(dm, args: argparse.Namespace, device: torch.device) -> dict:  # noqa: ANN001
    """(b) and (c): interleaved training epochs fed by each side; on CUDA one synchronised breakdown epoch each."""
    torch.manual_seed(args.seed)
    sides = sides_of(args)
    channels_last, compiled = getattr(args, "channels_last", False), getattr(args, "compile", False)
    model = build_train_model(args.model, args.image_size).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    if compiled:
        model = torch.compile(model)
    pair = loaders(dm, args.train_workers, sides)
    step = dict(device=device, bf16=args.bf16, normalization=(dm.mean, dm.std), channels_last=channels_last)
    augment = {side: None for side in sides}
    if "cache_gpu_aug" in sides:
        from datamodules.image_device_augment import DeviceAugmentation

        augment["cache_gpu_aug"] = DeviceAugmentation(dm.train_transform_specs, seed=args.seed)
    for side in sides:
        train_epoch(model, optimizer, pair[side], augment=augment[side], **step)  # warm-up (and compilation)
    epochs: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(args.train_epochs):
        for side in sides:
            epochs[side].append(train_epoch(model, optimizer, pair[side], augment=augment[side], **step))
    result: dict[str, Any] = summarize({s: [(e["seconds"], e["images"]) for e in epochs[s]] for s in sides})
    for side in sides:
        result[side]["wait_share"] = statistics.median(e["wait_share"] for e in epochs[side])
        result[side]["epochs"] = epochs[side]
    if device.type == "cuda":
        result["breakdown"] = {side: train_epoch(model, optimizer, pair[side], sync_steps=True,
                                                 augment=augment[side], **step) for side in sides}
    source = result.get("breakdown", result)
    result["fed"] = {side: source[side]["wait_share"] < FED_THRESHOLD for side in sides}
    result.update(model=args.model, workers=args.train_workers, bf16=args.bf16, channels_last=channels_last,
                  compile=compiled, sides=list(sides), params=params)
    return result


def format_tables(results: dict) -> str:
    """Plain-text tables of (a) loader images/s per worker count and (b, c) training images/s and waiting.

    Example:
        >>> side = {"images_per_s": 100.0, "images_per_s_per_worker": 100.0, "ratio": 1.0, "wait_share": 0.5}
        >>> print(format_tables({"loader": [{"workers": 0, "decode": side, "cache": side}]}).splitlines()[2])
              0 decode               100.0          100.0     1.00
    """
    lines = []
    if results.get("loader"):
        lines += [f"{'workers':>7} {'side':<13} {'images/s':>12} {'per worker':>14} {'ratio':>8}", "-" * 58]
        for row in results["loader"]:
            for side in [k for k in row if k != "workers"]:
                r = row[side]
                lines.append(f"{row['workers']:>7} {side:<13} {r['images_per_s']:12.1f} "
                             f"{r['images_per_s_per_worker']:14.1f} {r['ratio']:8.2f}")
    train = results.get("train")
    if train:
        lines += ["", f"{'training':<13} {'images/s':>12} {'ratio':>8} {'waiting':>9} {'fed':>5}", "-" * 51]
        source = train.get("breakdown", train)
        for side in train.get("sides", SIDES):
            lines.append(f"{side:<13} {train[side]['images_per_s']:12.1f} {train[side]['ratio']:8.2f} "
                         f"{100 * source[side]['wait_share']:8.1f}% {'yes' if train['fed'][side] else 'no':>5}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark, print the tables (and write ``--json``); returns the results."""
    from facedep.benchmarks.models import matmul_precision
    from facedep.benchmarks.overhead import machine_info, pick_device

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    with tempfile.TemporaryDirectory() as tmp, matmul_precision("high"):  # as scripts/train.py
        manifest, generated = resolve_manifest(args, Path(tmp))
        dm, fill_seconds = make_datamodule(manifest, args, Path(tmp) / "cache")
        results: dict[str, Any] = {
            "data": {"manifest": str(manifest), "generated": generated, "images": len(dm.videos),
                     "train_images": len(dm.datasets["train"]), "source_size": args.source_size if generated else None,
                     "image_size": args.image_size, "batch_size": args.batch_size,
                     "train_transforms": dm.train_transform_specs},
            "cache_fill_seconds": fill_seconds,
            "machine": {**machine_info(str(device)), "matmul_precision": "high"},
        }
        if "loader" in args.parts:
            results["loader"] = loader_benchmark(dm, args.workers, args.epochs, sides_of(args))
        if "train" in args.parts:
            results["train"] = train_benchmark(dm, args, device)
    d, m = results["data"], results["machine"]
    print(f"Face images: {d['images']} images ({d['train_images']} training), cached at {d['image_size']} px, batch "
          f"{d['batch_size']}, on {m['device']} ({m['cpu']}, {m['cpu_count']} cores, {m['torch_threads']} threads); "
          f"cache fill (decode all once): {fill_seconds:.2f} s; ratio = / decode; epochs interleaved")
    if "train" in results:
        t = results["train"]
        print(f"training: {t['model']} ({t['params']:,} parameters), {t['workers']} workers, bf16 {t['bf16']}, "
              f"channels_last {t['channels_last']}, compile {t['compile']}; "
              f"waiting = time in next(loader) / epoch time{' (synchronised breakdown epoch)' if 'breakdown' in t else ''}")
    print(format_tables(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results
