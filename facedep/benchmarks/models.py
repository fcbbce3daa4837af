"""``benchmark.py models``: training (and inference) throughput, FLOPs and MFU per model and variant.

Models (``--models``): ``resnet50``, ``mobilenetv2_100``, ``hybrid`` (``HybridAttentionNet`` on
mobilenetv2_100 + resnet50 with frozen backbones, as ``configs/images/hybrid_affectnet.yaml``),
``hybrid_ft`` (the same, backbones trained) and any other timm name (e.g. ``test_resnet``) on images
``(B, 3, S, S)``; the AU nets ``inception_time``, ``lstm``, ``gru`` (bidirectional, hidden 64, as
``configs/au/daic_woz_gru.yaml``) and ``transformer`` on sequences ``(B, --frames, --au-channels)``.

Variants (``--variants``): ``fp32`` (eager, the baseline), ``bf16`` (autocast), ``channels_last`` (image
nets only) and ``compile`` (``torch.compile``), combined with ``+`` (``bf16+channels_last+compile``).
A step is zero_grad, forward, cross-entropy, backward and an AdamW step on random inputs already on the
device (no data loading). All variants of a model start from the same weights and run interleaved:
after ``--warmup`` steps each, every round times ``--steps`` steps of every variant; the median round is
reported and ``ratio`` is a variant's rate over the fp32 eager rate of the same model in the same run.

FLOPs per sample are counted once per model with ``torch.utils.flop_counter.FlopCounterMode`` on the
meta device (no compute; RNNs decompose there, so LSTM/GRU FLOPs are counted too): forward + backward
for training (frozen backbones contribute no backward; grouped-convolution weight gradients counted
once, see :func:`conv_backward_flop`), forward for inference. MFU = achieved FLOP/s /
peak: ``--peak-tflops`` (bf16) and ``--peak-tflops-fp32``, else a table by ``torch.cuda.get_device_name``
(:data:`PEAK_TFLOPS`); on CPU or an unknown GPU, MFU stays empty and achieved TFLOP/s is reported.
On GPUs "fp32" runs convolutions on TF32 tensor cores (cuDNN's default) and, with ``--matmul-precision high``
(the default, as ``scripts/train.py``), matmuls too, so fp32 variants are measured against the dense TF32
peak there (``peak_tflops["fp32_mfu_against"]`` says which); ``--peak-tflops-fp32`` overrides it.
A variant that fails (``torch.compile`` without a C++ compiler, ...) gets its error in its row.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); add_arguments(parser)
    >>> parser.parse_args(["--models", "test_resnet", "--variants", "fp32", "bf16+compile"]).variants
    ['fp32', 'bf16+compile']
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HELP = "model throughput: train (and inference) samples/s per model and variant (fp32, bf16, channels_last, compile), FLOPs, MFU"
IMAGE_MODELS = ("resnet50", "mobilenetv2_100", "hybrid")
SEQUENCE_MODELS = ("inception_time", "lstm", "gru", "transformer")
DEFAULT_VARIANTS = ("fp32", "bf16", "channels_last", "bf16+channels_last", "compile", "bf16+compile")
#: (substring of the CUDA device name, dense bf16, dense TF32, fp32 non-tensor TFLOPS); first match wins.
PEAK_TFLOPS: tuple[tuple[str, float, float, float], ...] = (
    ("H200", 989.0, 494.7, 67.0), ("H100 PCIe", 756.0, 378.0, 51.0), ("H100 NVL", 835.0, 417.5, 60.0),
    ("H100", 989.0, 494.7, 67.0), ("A100", 312.0, 156.0, 19.5),
)


@dataclass(frozen=True)
class Variant:
    """One way of running a model: autocast bf16, channels-last memory format, ``torch.compile``."""

    name: str
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False


def parse_variant(name: str) -> Variant:
    """``"fp32"`` or ``+``-joined tokens of ``bf16``, ``channels_last``, ``compile``.

    Example:
        >>> parse_variant("bf16+compile")
        Variant(name='bf16+compile', bf16=True, channels_last=False, compile=True)
    """
    tokens = set(name.split("+"))
    known = {"fp32", "bf16", "channels_last", "compile"}
    if not tokens <= known or ("fp32" in tokens and "bf16" in tokens):
        raise ValueError(f"variant {name!r}: use 'fp32' or '+'-joined tokens of bf16, channels_last, compile")
    return Variant(name, "bf16" in tokens, "channels_last" in tokens, "compile" in tokens)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``models`` subcommand."""
    parser.add_argument("--models", nargs="+", default=[*IMAGE_MODELS, *SEQUENCE_MODELS],
                        help=f"{', '.join(IMAGE_MODELS + SEQUENCE_MODELS)}, hybrid_ft or any timm model name")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                        help="fp32, or '+'-joined bf16, channels_last, compile (fp32 is always added as the baseline)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=256, help="time steps of the AU sequences")
    parser.add_argument("--au-channels", type=int, default=17, help="AU channels (17 intensities, 35 with presence)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant first (compilation happens here)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--inference", action="store_true", help="also time forward-only steps (eval, no_grad)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s (default: known GPUs)")
    parser.add_argument("--peak-tflops-fp32", type=float, default=None, help="peak fp32 TFLOP/s (default: known GPUs)")
    parser.add_argument("--matmul-precision", choices=("highest", "high", "medium"), default="high",
                        help="torch.set_float32_matmul_precision (scripts/train.py uses high: TF32 matmuls on GPUs)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--seed", type=int, default=0)


def build_model(name: str, image_size: int, au_channels: int, num_classes: int = 2) -> tuple[nn.Module, str]:
    """``(net, kind)`` with kind ``image`` or ``sequence``; unknown names are timm image models.

    Example:
        >>> build_model("gru", 224, 17)[1]
        'sequence'
    """
    from lightning_modules.nets import HybridAttentionNet, InceptionTime, RecurrentNet, TransformerEncoderNet

    sequence: dict[str, Callable[[], nn.Module]] = {
        "inception_time": lambda: InceptionTime(au_channels, num_classes, num_filters=32, depth=6),
        "lstm": lambda: RecurrentNet(au_channels, num_classes, hidden_size=64, cell="lstm", bidirectional=True, pooling="mean"),
        "gru": lambda: RecurrentNet(au_channels, num_classes, hidden_size=64, cell="gru", bidirectional=True, pooling="mean"),
        "transformer": lambda: TransformerEncoderNet(au_channels, num_classes, d_model=64, nhead=4, num_layers=2),
    }
    if name in sequence:
        return sequence[name](), "sequence"
    if name in ("hybrid", "hybrid_ft"):
        return HybridAttentionNet(3, num_classes, backbones=("mobilenetv2_100", "resnet50"), img_size=image_size,
                                  freeze_backbones=name == "hybrid"), "image"
    import timm

    return timm.create_model(name, pretrained=False, num_classes=num_classes), "image"


def conv_backward_flop(grad_out_shape: list[int], x_shape: list[int], w_shape: list[int], _bias: object,
                       _stride: object, _padding: object, _dilation: object, transposed: bool, _output_padding: object,
                       _groups: int, output_mask: list[bool], out_shape: list, **kwargs: object) -> int:
    """FLOPs of ``aten.convolution_backward``: input gradient as torch counts it, weight gradient = the forward's cost.

    torch's own formula counts the weight gradient of a grouped convolution ``groups`` times (depthwise
    convolutions: MobileNetV2 training came out 20x its forward); the weight shape already holds the groups.
    """
    from torch.utils.flop_counter import conv_flop_count, get_shape

    flops = 0
    if output_mask[0]:
        flops += conv_flop_count(grad_out_shape, w_shape, get_shape(out_shape[0]), not transposed)
    if output_mask[1]:
        flops += conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return flops


def count_flops(model: nn.Module, x: torch.Tensor, train: bool) -> float:
    """FLOPs per sample of one training (forward + backward) or inference step, counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(model).to("meta").train(train)
    x = x.to("meta")
    y = torch.zeros(x.shape[0], dtype=torch.long, device="meta")
    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flop}) as counter:
        if train:
            F.cross_entropy(meta(x), y).backward()
        else:
            with torch.no_grad():
                meta(x)
    return counter.get_total_flops() / x.shape[0]


def peak_tflops(device: torch.device, bf16: float | None, fp32: float | None) -> dict:
    """``{"bf16", "fp32", "source", "fp32_mfu_against"}``: the given peaks, else this GPU's :data:`PEAK_TFLOPS`
    entry, where "fp32" is the dense TF32 peak when cuDNN may use TF32 (its default), else the fp32 one."""
    if bf16 is not None or fp32 is not None:
        return {"bf16": bf16, "fp32": fp32, "source": "command line", "fp32_mfu_against": "command line"}
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        for key, peak_bf16, peak_tf32, peak_fp32 in PEAK_TFLOPS:
            if key in gpu:
                tf32 = torch.backends.cudnn.allow_tf32
                return {"bf16": peak_bf16, "fp32": peak_tf32 if tf32 else peak_fp32, "source": f"table ({key}, dense)",
                        "fp32_mfu_against": "tf32 tensor cores" if tf32 else "fp32"}
        return {"bf16": None, "fp32": None, "fp32_mfu_against": None,
                "source": f"unknown GPU {gpu!r}: pass --peak-tflops (and --peak-tflops-fp32)"}
    return {"bf16": None, "fp32": None, "source": "cpu: no peak, MFU not reported", "fp32_mfu_against": None}


@contextlib.contextmanager
def matmul_precision(value: str) -> Iterator[None]:
    """``torch.set_float32_matmul_precision(value)`` inside the block, the previous value after it."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(value)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Runner:
    """One variant of a model: its own copy of the weights, optimizer, inputs and step functions."""

    def __init__(self, model: nn.Module, variant: Variant, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> None:
        self.variant, self.device = variant, device
        self.model = copy.deepcopy(model).to(device)
        self.x, self.y = x.to(device), y.to(device)
        if variant.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=1e-4)
        self.forward = torch.compile(self.model) if variant.compile else self.model

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.variant.bf16)

    def train_step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss = F.cross_entropy(self.forward(self.x), self.y)
        loss.backward()
        self.optimizer.step()

    def infer_step(self) -> None:
        with torch.no_grad(), self._autocast():
            self.forward(self.x)

    def time_steps(self, mode: str, steps: int) -> float:
        """Seconds for ``steps`` steps of ``mode`` (``train``/``infer``), device work finished."""
        self.model.train(mode == "train")
        step = self.train_step if mode == "train" else self.infer_step
        _sync(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(self.device)
        return time.perf_counter() - start


def _error(variant: Variant, exc: BaseException) -> str:
    message = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{'compile failed' if variant.compile else 'failed'}: {type(exc).__name__}: {message}"


def benchmark_model(name: str, variants: list[Variant], modes: list[str], args: argparse.Namespace,
                    device: torch.device) -> tuple[dict, list[dict]]:
    """``(model info, rows)`` for one model: every (variant, mode) timed in interleaved rounds."""
    torch.manual_seed(args.seed)
    model, kind = build_model(name, args.image_size, args.au_channels)
    shape = (args.batch_size, 3, args.image_size, args.image_size) if kind == "image" else (
        args.batch_size, args.frames, args.au_channels)
    x, y = torch.randn(shape), torch.randint(0, 2, (args.batch_size,))
    flops = {"train": count_flops(model, x, True), "infer": count_flops(model, x, False)}
    info = {"kind": kind, "unit": "images/s" if kind == "image" else "sequences/s", "input_shape": list(shape),
            "params": sum(p.numel() for p in model.parameters()),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "flops_per_sample": flops}
    runners: dict[str, Runner] = {}
    errors: dict[tuple[str, str], str] = {}
    seconds: dict[tuple[str, str], list[float]] = {}
    for v in variants:
        if v.channels_last and kind != "image":
            errors.update({(v.name, m): "skipped: channels_last applies to 2D conv nets" for m in modes})
            continue
        try:
            runners[v.name] = Runner(model, v, x, y, device)
        except Exception as exc:  # noqa: BLE001 (recorded in the row)
            errors.update({(v.name, m): _error(v, exc) for m in modes})
    for rnd in range(args.rounds + 1):  # round 0: warm-up
        for v in variants:
            for mode in modes:
                if v.name not in runners or (v.name, mode) in errors:
                    continue
                try:
                    elapsed = runners[v.name].time_steps(mode, args.warmup if rnd == 0 else args.steps)
                except Exception as exc:  # noqa: BLE001
                    errors[(v.name, mode)] = _error(v, exc)
                    continue
                if rnd > 0:
                    seconds.setdefault((v.name, mode), []).append(elapsed)
    rows = []
    for mode in modes:
        base = seconds.get(("fp32", mode))
        base_rate = statistics.median(args.batch_size * args.steps / s for s in base) if base else None
        for v in variants:
            rows.append(make_row(name, info, v, mode, seconds.get((v.name, mode)), errors.get((v.name, mode)),
                                 base_rate, args))
    del runners
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if any(v.compile for v in variants):
        torch._dynamo.reset()
    return info, rows


def make_row(model: str, info: dict, v: Variant, mode: str, seconds: list[float] | None, error: str | None,
             base_rate: float | None, args: argparse.Namespace) -> dict:
    """A result row: samples/s (median round), ratio to fp32 eager, achieved TFLOP/s and MFU."""
    row = {"model": model, "variant": v.name, "mode": mode, "unit": info["unit"], "bf16": v.bf16,
           "channels_last": v.channels_last, "compile": v.compile, "samples_per_s": None, "round_samples_per_s": None,
           "step_ms": None, "ratio": None, "flops_per_sample": info["flops_per_sample"][mode],
           "achieved_tflops": None, "mfu": None, "error": error}
    if seconds:
        rates = [args.batch_size * args.steps / s for s in seconds]
        rate = statistics.median(rates)
        row.update(samples_per_s=rate, round_samples_per_s=rates, step_ms=1000 * args.batch_size / rate,
                   achieved_tflops=rate * row["flops_per_sample"] / 1e12)
        row["ratio"] = rate / base_rate if base_rate else None
        peak = args.peak["bf16" if v.bf16 else "fp32"]
        row["mfu"] = row["achieved_tflops"] / peak if peak else None
    return row


def format_table(rows: list[dict]) -> str:
    """Plain-text table: model, variant, mode, samples/s, ratio, GFLOP/sample, TFLOP/s, MFU (or the error).

    Example:
        >>> row = {"model": "m", "variant": "fp32", "mode": "train", "unit": "images/s", "samples_per_s": 10.0,
        ...        "ratio": 1.0, "flops_per_sample": 2e9, "achieved_tflops": 0.02, "mfu": None, "error": None}
        >>> print(format_table([row]).splitlines()[2])
        m                  fp32                       train        10.0 images/s      1.00      2.00    0.020      -
    """
    lines = [f"{'model':<18} {'variant':<26} {'mode':<5} {'samples/s':>11} {'unit':<11} {'ratio':>6} "
             f"{'GFLOP/smp':>9} {'TFLOP/s':>8} {'MFU':>6}", "-" * 107]
    for r in rows:
        head = f"{r['model']:<18} {r['variant']:<26} {r['mode']:<5}"
        if r["samples_per_s"] is None:
            lines.append(f"{head} {r['error'] or 'no result'}")
            continue
        mfu = f"{100 * r['mfu']:5.1f}%" if r["mfu"] is not None else "-"
        ratio = f"{r['ratio']:6.2f}" if r["ratio"] is not None else "-"
        lines.append(f"{head} {r['samples_per_s']:11.1f} {r['unit']:<11} {ratio:>6} {r['flops_per_sample'] / 1e9:9.2f} "
                     f"{r['achieved_tflops']:8.3f} {mfu:>6}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark, print the table (and write ``--json``); returns the results."""
    from facedep.benchmarks.overhead import machine_info, pick_device

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    variants = [parse_variant(v) for v in dict.fromkeys(["fp32", *args.variants])]
    modes = ["train", "infer"] if args.inference else ["train"]
    args.peak = peak_tflops(device, args.peak_tflops, args.peak_tflops_fp32)
    models, rows = {}, []
    with matmul_precision(args.matmul_precision):
        for name in args.models:
            models[name], model_rows = benchmark_model(name, variants, modes, args, device)
            rows += model_rows
    machine = {**machine_info(str(device)), "matmul_precision": args.matmul_precision}
    if device.type == "cuda":
        machine.update(tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_cudnn=torch.backends.cudnn.allow_tf32)
    results = {"batch_size": args.batch_size, "image_size": args.image_size, "frames": args.frames,
               "au_channels": args.au_channels, "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
               "variants": [v.name for v in variants], "peak_tflops": args.peak, "machine": machine,
               "models": models, "rows": rows}
    print(f"Model throughput on {device} ({machine['cpu']}, {machine['cpu_count']} cores, {machine['torch_threads']} "
          f"threads{', ' + machine['gpu'] if 'gpu' in machine else ''}), batch {args.batch_size}, images "
          f"{args.image_size} px, sequences {args.frames} x {args.au_channels}; median of {args.rounds} interleaved "
          f"rounds of {args.steps} steps after {args.warmup} warm-up steps; ratio = / fp32 eager; peak: {args.peak['source']}")
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results
