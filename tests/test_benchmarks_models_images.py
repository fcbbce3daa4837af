"""``scripts/benchmark.py models`` and ``images``: tiny runs write the expected JSON (no speed is asserted)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facedep.benchmarks import build_parser, main
from facedep.benchmarks.models import count_flops, parse_variant, peak_tflops


def test_subcommands_are_registered() -> None:
    parser = build_parser()
    assert parser.parse_args(["models", "--models", "gru"]).models == ["gru"]
    assert parser.parse_args(["images", "--workers", "0", "1"]).workers == [0, 1]


def test_variants_and_peaks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_variant("fp32") == parse_variant("fp32").__class__("fp32")
    assert parse_variant("channels_last+compile").compile
    with pytest.raises(ValueError):
        parse_variant("fp32+bf16")
    assert peak_tflops(torch.device("cpu"), None, None)["bf16"] is None
    assert peak_tflops(torch.device("cpu"), 100.0, None)["bf16"] == 100.0
    for name, bf16 in [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H200", 989.0), ("NVIDIA H100 PCIe", 756.0)]:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device, name=name: name)
        assert peak_tflops(torch.device("cuda"), None, None)["bf16"] == bf16
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # fp32 convolutions run on TF32 tensor cores
    assert peak_tflops(torch.device("cuda"), None, None)["fp32"] == 378.0
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    assert peak_tflops(torch.device("cuda"), None, None)["fp32"] == 51.0
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Some GPU")
    assert "--peak-tflops" in peak_tflops(torch.device("cuda"), None, None)["source"]


def test_flop_count_of_a_linear_layer() -> None:
    x = torch.randn(4, 10)
    assert count_flops(torch.nn.Linear(10, 5), x, train=False) == 2 * 10 * 5
    assert count_flops(torch.nn.Linear(10, 5), x, train=True) == 2 * (2 * 10 * 5)  # + weight gradient


def test_flop_count_of_a_depthwise_convolution() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=8, bias=False), torch.nn.Flatten(), torch.nn.Linear(512, 2))
    conv, linear = 2 * 8 * 8 * 8 * 9, 2 * 512 * 2  # per sample: 8x8 outputs x 8 channels x 3x3 taps (1 input channel each)
    x = torch.randn(4, 8, 10, 10)
    assert count_flops(net, x, train=False) == conv + linear
    assert count_flops(net, x, train=True) == 2 * conv + 3 * linear  # weight gradient of the conv counted once, not x8


def test_models_tiny_run_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_compiler(model: torch.nn.Module) -> object:
        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError("no C++ compiler found")
        return fail

    monkeypatch.setattr(torch, "compile", no_compiler)
    out = tmp_path / "models.json"
    assert main(["models", "--models", "test_resnet", "gru", "--image-size", "32", "--batch-size", "4", "--frames", "16",
                 "--steps", "1", "--warmup", "1", "--rounds", "1", "--variants", "bf16", "channels_last", "compile",
                 "--peak-tflops-fp32", "0.5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["variants"] == ["fp32", "bf16", "channels_last", "compile"]  # fp32 baseline added first
    rows = {(r["model"], r["variant"]): r for r in result["rows"]}
    assert len(rows) == 8 and all(r["mode"] == "train" for r in rows.values())
    for model, unit in [("test_resnet", "images/s"), ("gru", "sequences/s")]:
        base = rows[(model, "fp32")]
        assert base["ratio"] == 1.0 and base["unit"] == unit and base["samples_per_s"] > 0
        assert base["flops_per_sample"] > 0 and base["achieved_tflops"] > 0
        assert base["mfu"] == pytest.approx(base["achieved_tflops"] / 0.5)
        assert rows[(model, "bf16")]["ratio"] > 0 and rows[(model, "bf16")]["mfu"] is None  # no bf16 peak on CPU
        assert rows[(model, "compile")]["error"].startswith("compile failed: RuntimeError: no C++ compiler")
        assert result["models"][model]["flops_per_sample"]["train"] > result["models"][model]["flops_per_sample"]["infer"]
    assert rows[("test_resnet", "channels_last")]["ratio"] > 0
    assert rows[("gru", "channels_last")]["error"].startswith("skipped")


def test_decode_side_sees_the_cached_pixels(tmp_path: Path) -> None:
    from datamodules.synthetic.faces import make_face_demo
    from facedep.benchmarks.images import add_arguments, decode_dataset, make_datamodule

    manifest = make_face_demo(tmp_path / "faces", images_per_class=4, size=48, face_boxes=True)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    dm, _ = make_datamodule(manifest, parser.parse_args(["--image-size", "32"]), tmp_path / "cache")
    cached, decoded = dm.datasets["train"], decode_dataset(dm)
    assert len(decoded) == len(cached) > 0
    for row in cached.rows:
        np.testing.assert_array_equal(decoded.images[row], cached.images[row])


def test_images_tiny_run_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "images.json"
    assert main(["images", "--images", "24", "--source-size", "48", "--image-size", "32", "--batch-size", "8",
                 "--workers", "0", "1", "--epochs", "1", "--train-epochs", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["data"]["generated"] and result["data"]["train_images"] > 0 and result["cache_fill_seconds"] > 0
    assert [row["workers"] for row in result["loader"]] == [0, 1]
    for row in result["loader"]:
        assert row["decode"]["ratio"] == 1.0 and row["cache"]["ratio"] > 0
        assert row["cache"]["images_per_s_per_worker"] > 0
    train = result["train"]
    assert train["decode"]["ratio"] == 1.0 and train["cache"]["ratio"] > 0 and train["model"] == "test_resnet"
    assert 0 <= train["cache"]["wait_share"] <= 1 and set(train["fed"]) == {"decode", "cache"}
    assert train["decode"]["epochs"][0]["images"] == result["data"]["train_images"]


def test_images_uint8_side_channels_last_and_device_normalisation(tmp_path: Path) -> None:
    out = tmp_path / "images.json"
    assert main(["images", "--images", "24", "--source-size", "48", "--image-size", "32", "--batch-size", "8",
                 "--workers", "0", "--epochs", "1", "--train-epochs", "1", "--normalize-on-device", "--channels-last",
                 "--augment-on-device", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["loader"][0]) == {"workers", "decode", "cache", "cache_u8", "cache_gpu_aug"}
    train = result["train"]
    assert train["sides"] == ["decode", "cache", "cache_u8", "cache_gpu_aug"] and train["channels_last"]
    assert not train["compile"]
    for side in ("cache_u8", "cache_gpu_aug"):
        assert train[side]["epochs"][0]["images"] == result["data"]["train_images"]


def test_train_epoch_normalises_uint8_batches_like_the_host() -> None:
    from facedep.benchmarks.images import train_epoch

    seen: list[torch.Tensor] = []

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3 * 2 * 2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.detach().clone())
            return self.linear(x.flatten(1))

    model = Probe()
    pixels = torch.tensor([0, 51, 102, 255] * 3, dtype=torch.uint8).view(1, 3, 2, 2)
    batch = {"x": pixels, "y": torch.tensor([1])}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = train_epoch(model, optimizer, [batch], torch.device("cpu"), normalization=((0.5,) * 3, (0.25,) * 3),
                         channels_last=True)
    assert result["images"] == 1 and seen[0].dtype == torch.float32
    torch.testing.assert_close(seen[0], (pixels.float() / 255 - 0.5) / 0.25)
    assert seen[0].is_contiguous(memory_format=torch.channels_last)

    from datamodules.image_device_augment import DeviceAugmentation

    flip = DeviceAugmentation([{"name": "HorizontalFlip", "p": 1.0}])  # the cache_gpu_aug side: augmented first
    train_epoch(model, optimizer, [batch], torch.device("cpu"), normalization=((0.5,) * 3, (0.25,) * 3), augment=flip)
    torch.testing.assert_close(seen[1], (pixels.float().flip(-1) / 255 - 0.5) / 0.25)
