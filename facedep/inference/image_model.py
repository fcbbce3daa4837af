"""Per-image checkpoints for inference: refusals, preprocessing settings, loading and scoring."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from datamodules.image_transforms import IMAGENET_MEAN, IMAGENET_STD
from datamodules.image_transforms import resolve_normalization as resolve_image_normalization
from facedep.inference.checkpoints import build_module
from facedep.inference.common import CheckpointFile, PredictError, pick_device, read_checkpoint

DEFAULT_IMAGE_SIZE = 224
DEFAULT_MARGIN = 0.1


@dataclass
class Preprocessing:
    """Face crop and tensor settings taken from the checkpoint's DataModule hyper-parameters."""

    image_size: tuple[int, int] = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    margin: float = DEFAULT_MARGIN


@dataclass
class LoadedModel:
    """A model ready for inference and what predict needs to know about it."""

    model: torch.nn.Module
    class_names: list[str]
    threshold: float
    binary: bool
    preprocessing: Preprocessing
    device: torch.device
    notes: list[str] = field(default_factory=list)


def _net_path(hparams: dict[str, Any]) -> str:
    """The net's class path from hyper-parameters (``class_path`` dict, class or partial)."""
    net = hparams.get("net")
    if isinstance(net, dict):
        return str(net.get("class_path", ""))
    func = getattr(net, "func", net)
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}" if func is not None else ""


def _net_init_args(hparams: dict[str, Any]) -> dict[str, Any]:
    net = hparams.get("net")
    if isinstance(net, dict):
        return dict(net.get("init_args") or {})
    return dict(getattr(net, "keywords", {}) or {})


def check_supported(hparams: dict[str, Any], dm_hparams: dict[str, Any]) -> None:
    """Refuse landmark/AU checkpoints and clip models with a clear message."""
    dm_class = str(dm_hparams.get("_class_path", ""))
    if "Landmark" in dm_class or dm_hparams.get("mode") in {"temporal", "pseudo_image"}:
        raise PredictError(
            f"this checkpoint was trained on face landmarks ({dm_class or 'landmark data'}); load_model takes "
            "per-image models only: use facedep.inference.predict_landmarks (what predict.py's main does for it)")
    if "AU" in dm_class.rsplit(".", 1)[-1]:
        raise PredictError(f"this checkpoint was trained on action units ({dm_class}); predict.py supports face-image "
                           "and landmark checkpoints. For videos use scripts/video_to_depression.py --au-detector "
                           "DETECTOR.ckpt --classifier CLASSIFIER.ckpt video.mp4 --out out/ (AU detectors alone: "
                           "scripts/video_to_aus.py)")
    model_class = str(hparams.get("_class_path", ""))
    net = _net_path(hparams)
    temporal = bool(_net_init_args(hparams).get("temporal", False))
    if net.endswith("CNNLSTM") or (not net and model_class.endswith("CNNLSTMClassifier")) or (
            net.endswith("HybridAttentionNet") and temporal):
        raise PredictError(
            f"this checkpoint's model ({net or model_class}) takes clips (batch, frames, C, H, W); only per-image "
            "models are supported by predict.py for now")


def check_model(model: torch.nn.Module) -> None:
    """After loading: refuse clip nets and non-image nets (by the instantiated net)."""
    from lightning_modules.nets import CNNLSTM, HybridAttentionNet, ImageCNN

    net = getattr(model, "net", None)
    if isinstance(net, CNNLSTM) or (isinstance(net, HybridAttentionNet) and net.temporal):
        raise PredictError(f"this checkpoint's model ({type(net).__name__}) takes clips (batch, frames, C, H, W); "
                           "only per-image models are supported by predict.py for now")
    if net is not None and not isinstance(net, (ImageCNN, HybridAttentionNet)):
        raise PredictError(f"this checkpoint's net ({type(net).__name__}) is not a per-image model; predict.py "
                           "only supports image nets (ImageCNN, HybridAttentionNet)")
    in_channels = getattr(model, "in_channels", 3)
    if in_channels != 3:
        raise PredictError(f"the model expects {in_channels} input channels; predict.py feeds RGB face crops (3)")


def resolve_normalization(dm_hparams: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std as the DataModule used them (``mean``/``std``, else ``normalization``)."""
    try:
        return resolve_image_normalization(dm_hparams.get("normalization", "imagenet"), dm_hparams.get("mean"), dm_hparams.get("std"))
    except ValueError as exc:
        raise PredictError(f"checkpoint normalisation settings: {exc}") from exc


def preprocessing_from(dm_hparams: dict[str, Any], margin: float | None = None) -> Preprocessing:
    """Crop/resize/normalisation settings from DataModule hyper-parameters (defaults where absent)."""
    size = dm_hparams.get("image_size") or DEFAULT_IMAGE_SIZE
    size = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
    mean, std = resolve_normalization(dm_hparams)
    if margin is None:
        margin = float(dm_hparams.get("face_margin", DEFAULT_MARGIN) or 0.0)
    return Preprocessing(size, mean, std, margin)


def load_model(ckpt: str | Path | CheckpointFile, device: str = "cpu", margin: float | None = None) -> LoadedModel:
    """Load a facedep checkpoint (CLI-written or hand-made) for per-image inference; the file is read once, safely."""
    checkpoint = read_checkpoint(ckpt)
    path, hparams, dm_hparams = checkpoint.path, checkpoint.hparams, checkpoint.dm_hparams
    check_supported(hparams, dm_hparams)
    notes = [] if dm_hparams else [f"{path.name} has no DataModule hyper-parameters: image_size "
                                   f"{DEFAULT_IMAGE_SIZE}, ImageNet normalisation"]
    model = build_module(checkpoint.data, path, "lightning_modules.SequenceClassifier", PredictError)
    check_model(model)
    torch_device = pick_device(device)
    model.eval().to(torch_device)
    class_names = list(getattr(model, "class_names", None) or ["0", "1"])
    binary = len(class_names) == 2
    threshold = float(getattr(model, "decision_threshold", torch.tensor(0.5))) if binary else 0.5
    return LoadedModel(model, class_names, threshold, binary, preprocessing_from(dm_hparams, margin), torch_device, notes)


@torch.no_grad()
def score_batch(loaded: LoadedModel, batch: list[torch.Tensor]) -> list[tuple[float, str]]:
    """(score, class name) per crop: P(class 1) and the thresholded class (binary), else top class."""
    probs = loaded.model.loss_fn.probabilities(loaded.model(torch.stack(batch).to(loaded.device))).cpu().numpy()
    if loaded.binary:
        return [(float(p[1]), loaded.class_names[int(p[1] >= loaded.threshold)]) for p in probs]
    return [(float(p.max()), loaded.class_names[int(p.argmax())]) for p in probs]
