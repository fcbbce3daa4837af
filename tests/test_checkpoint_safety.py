"""Checkpoints are data: every loader reads a file once with weights_only=True and names only allow-listed classes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from facedep.inference import au_bridge, checkpoints, image_model, predict, predict_landmarks, video_pipeline
from facedep.inference.common import PredictError
from video_helpers import save_untrained_checkpoint, write_video

AU_DM = {"_class_path": "datamodules.AUSequenceDataModule", "channels": ["AU01_c", "AU26_c"], "window": 4,
         "standardize": False, "class_names": ["healthy", "depressed"]}
LANDMARK_DM = {"_class_path": "datamodules.LandmarkDataModule", "manifest": "/nonexistent/manifest.csv", "mode": "frames",
               "frames_per_sample": 4, "frame_step": 1, "stride": 4, "image_size": [12, 8], "file_format": "npz",
               "classes": [0, 1], "class_names": ["healthy", "depressed"]}
INSTANTIATOR = "pytorch_lightning.cli.instantiate_module"


class Payload:
    """Pickles as a call of ``func(*args)``: what a crafted checkpoint runs when it is unpickled."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.func, self.args


def crafted(path: Path, hparams: dict, dm: dict | None = None) -> Path:
    """A Lightning-looking checkpoint with the given (hostile) hyper-parameters."""
    torch.save({"state_dict": {}, "hyper_parameters": hparams, "datamodule_hyper_parameters": dm or {},
                "pytorch-lightning_version": "2.6.0", "epoch": 0, "global_step": 0}, path)
    return path


def hostile_checkpoints(root: Path, marker: Path) -> dict[str, Path]:
    """Checkpoints that would create ``marker`` if anything in them ran, for each kind of loader."""
    touch = ["touch", str(marker)]
    return {
        "pickle-open": crafted(root / "open.ckpt", {"_class_path": "lightning_modules.SequenceClassifier",
                                                    "x": Payload(open, str(marker), "w")}, LANDMARK_DM),
        "pickle-os.system": crafted(root / "system.ckpt", {"x": Payload(os.system, " ".join(touch))}, AU_DM),
        "model-os.system": crafted(root / "model.ckpt", {"_class_path": "os.system", "command": " ".join(touch)}, AU_DM),
        "net-popen": crafted(root / "net.ckpt", {"_class_path": "lightning_modules.SequenceClassifier",
                                                 "net": {"class_path": "subprocess.Popen", "init_args": {"args": touch}},
                                                 "_instantiator": INSTANTIATOR}, LANDMARK_DM),
        "instantiator": crafted(root / "inst.ckpt", {"_class_path": "lightning_modules.AUDetector",
                                                     "_instantiator": "os.system"}, AU_DM),
        "datamodule": crafted(root / "dm.ckpt", {"_class_path": "lightning_modules.CNNLSTMClassifier"},
                              {**LANDMARK_DM, "_class_path": "subprocess.Popen"}),
        "reexported": crafted(root / "reexport.ckpt", {"_class_path": "lightning_modules.base.defaultdict"}, AU_DM),
    }


@pytest.fixture()
def load_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts ``torch.load`` calls per file; afterwards, fails if any of them did not ask for weights_only=True."""
    counts: dict[str, int] = {}
    unsafe: list[str] = []
    real = torch.load

    def counting(f: Any, *args: Any, **kwargs: Any) -> Any:
        counts[str(f)] = counts.get(str(f), 0) + 1
        if kwargs.get("weights_only") is not True:
            unsafe.append(str(f))
        return real(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    yield counts
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny untrained checkpoints of each kind, saved by a Trainer from hand-built modules."""
    from lightning_modules import AUDetector, CNNLSTMClassifier, SequenceClassifier
    from lightning_modules.nets import CNNLSTM, ImageCNN, RecurrentNet

    root = tmp_path_factory.mktemp("good")
    torch.manual_seed(0)
    image = SequenceClassifier(net=functools.partial(ImageCNN, conv_channels=(4, 8)), in_channels=3, num_classes=2)
    landmark = CNNLSTMClassifier(net=functools.partial(CNNLSTM, conv_channels=(4, 8), hidden_size=8), num_classes=2)
    sequence = SequenceClassifier(net=functools.partial(RecurrentNet, hidden_size=4), in_channels=2, num_classes=2)
    detector = AUDetector("test_resnet", num_classes=2, class_names=["AU1", "AU2X"], pos_weight="none")
    return {"image": save_untrained_checkpoint(image, root / "image.ckpt", {"image_size": 32}),
            "landmark": save_untrained_checkpoint(landmark, root / "landmark.ckpt", LANDMARK_DM),
            "sequence": save_untrained_checkpoint(sequence, root / "sequence.ckpt", AU_DM),
            "detector": save_untrained_checkpoint(detector, root / "detector.ckpt", {
                "_class_path": "datamodules.AUDetectionDataModule", "image_size": 32})}


def _loaders(good: dict[str, Path], tmp_path: Path) -> dict[str, Callable[[Path], Any]]:
    """Every way a checkpoint file gets loaded; each raises (or returns the exit code 2) on a refused file."""
    video = write_video(tmp_path / "clip.mp4")

    def script(main: Callable[[list[str]], int], argv: list[str]) -> None:
        if main(argv) != 2:
            raise AssertionError(f"{argv}: exit code is not 2")

    return {
        "image_model.load_model": image_model.load_model,
        "predict_landmarks.load_landmark_model": predict_landmarks.load_landmark_model,
        "video_pipeline.load_sequence_classifier": video_pipeline.load_sequence_classifier,
        "au_bridge.load_au_detector": au_bridge.load_au_detector,
        "predict.py main": lambda p: script(predict.main, ["--ckpt", str(p), str(video), "--out", str(tmp_path / "o")]),
        "video_to_aus.py main": lambda p: script(au_bridge.main, ["--ckpt", str(p), str(video), "--out", str(tmp_path)]),
        "video_to_depression.py main (detector)": lambda p: script(video_pipeline.main, [
            "--au-detector", str(p), "--classifier", str(good["sequence"]), str(video), "--out", str(tmp_path / "o")]),
        "video_to_depression.py main (classifier)": lambda p: script(video_pipeline.main, [
            "--au-detector", str(good["detector"]), "--classifier", str(p), str(video), "--out", str(tmp_path / "o")]),
    }


LOADERS = ["image_model.load_model", "predict_landmarks.load_landmark_model", "video_pipeline.load_sequence_classifier",
           "au_bridge.load_au_detector", "predict.py main", "video_to_aus.py main",
           "video_to_depression.py main (detector)", "video_to_depression.py main (classifier)"]
HOSTILE = ["pickle-open", "pickle-os.system", "model-os.system", "net-popen", "instantiator", "datamodule", "reexported"]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_checkpoint_runs_nothing_and_is_refused_naming_the_file(
        kind: str, loader: str, good: dict[str, Path], tmp_path: Path, load_counter: dict[str, int],
        capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "MARKER"
    ckpt = hostile_checkpoints(tmp_path, marker)[kind]
    load = _loaders(good, tmp_path)[loader]
    try:
        load(ckpt)
        message = capsys.readouterr().err
    except PredictError as exc:
        message = str(exc)
    assert not marker.exists(), f"{loader} ran the payload of {kind}"
    assert str(ckpt) in message
    expected = "safe load does not allow" if kind.startswith("pickle") else "is not allowed"
    assert expected in message, message
    assert load_counter[str(ckpt)] == 1  # read once, then refused


def test_refusals_say_why_and_how(tmp_path: Path) -> None:
    with pytest.raises(checkpoints.CheckpointError, match=r"GLOBAL posix\.system.*arbitrary code.*--trust-checkpoint"):
        checkpoints.load_checkpoint(_write(tmp_path / "hostile.ckpt", {"x": Payload(os.system, "true")}))
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(bytes(range(256)))
    with pytest.raises(checkpoints.CheckpointError, match=f"cannot read checkpoint {garbage}: corrupt"):
        checkpoints.load_checkpoint(garbage)
    with pytest.raises(checkpoints.CheckpointError, match="'os.system' is not allowed: a checkpoint may only name "
                                                          "classes of lightning_modules, datamodules"):
        checkpoints.import_allowed("os.system", "x.ckpt")
    with pytest.raises(checkpoints.CheckpointError, match="not a class defined there"):
        checkpoints.import_allowed("lightning_modules.base.defaultdict", "x.ckpt")
    with pytest.raises(checkpoints.CheckpointError, match="is not a LightningModule"):
        import pytorch_lightning as pl

        checkpoints.import_allowed("lightning_modules.nets.ImageCNN", "x.ckpt", base=pl.LightningModule)


def _write(path: Path, data: dict) -> Path:
    torch.save(data, path)
    return path


@pytest.mark.parametrize("kind", ["image", "landmark", "sequence", "detector"])
def test_each_loader_reads_our_checkpoints_once_and_safely(kind: str, good: dict[str, Path],
                                                           load_counter: dict[str, int]) -> None:
    load = {"image": image_model.load_model, "landmark": predict_landmarks.load_landmark_model,
            "sequence": video_pipeline.load_sequence_classifier, "detector": au_bridge.load_au_detector}[kind]
    loaded = load(good[kind])
    assert load_counter == {str(good[kind]): 1}
    reference = torch.load(good[kind], map_location="cpu", weights_only=True)["state_dict"]
    for name, value in loaded.model.state_dict().items():
        torch.testing.assert_close(value, reference[name])


def test_main_reads_the_checkpoint_once(good: dict[str, Path], tmp_path: Path, load_counter: dict[str, int],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00not a video" * 64)
    assert predict.main(["--ckpt", str(good["landmark"]), str(corrupt), "--out", str(tmp_path / "o")]) == 2
    assert load_counter == {str(good["landmark"]): 1}  # was 3: landmark check, header read, load_from_checkpoint
    assert str(corrupt) in capsys.readouterr().err
    load_counter.clear()
    assert video_pipeline.main(["--au-detector", str(good["detector"]), "--classifier", str(good["sequence"]),
                                str(corrupt), "--out", str(tmp_path / "o")]) == 1  # the video fails, not the checkpoints
    assert load_counter == {str(good["detector"]): 1, str(good["sequence"]): 1}


def test_hand_built_modules_save_plain_hyper_parameters(good: dict[str, Path]) -> None:
    hparams = torch.load(good["image"], weights_only=True)["hyper_parameters"]
    assert hparams["net"] == {"class_path": "lightning_modules.nets.cnn_lstm.ImageCNN", "init_args": {"conv_channels": (4, 8)}}
    assert hparams["_instantiator"] == INSTANTIATOR
    from lightning_modules import SequenceClassifier

    model = SequenceClassifier.load_from_checkpoint(good["image"], weights_only=True)  # Lightning's own loader too
    assert [m.out_channels for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)] == [4, 8]


def test_old_checkpoint_is_refused_then_converted_with_the_trust_flag(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from lightning_modules import SequenceClassifier
    from lightning_modules.nets import ImageCNN

    model = SequenceClassifier(net=functools.partial(ImageCNN, conv_channels=(4, 8)), in_channels=3, num_classes=2)
    old = _write(tmp_path / "old.ckpt", {"state_dict": model.state_dict(), "datamodule_hyper_parameters": {},
                                         "hyper_parameters": {"net": functools.partial(ImageCNN, conv_channels=(4, 8)),
                                                              "in_channels": 3, "num_classes": 2}})
    with pytest.raises(PredictError, match=r"old\.ckpt.*GLOBAL functools\.partial.*--trust-checkpoint"):
        image_model.load_model(old)
    new = tmp_path / "new.ckpt"
    assert checkpoints.main([str(old), str(new)]) == 2 and not new.exists()
    assert "--trust-checkpoint is required" in capsys.readouterr().err
    assert checkpoints.main(["--trust-checkpoint", str(old), str(new)]) == 0
    loaded = image_model.load_model(new)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], value)
