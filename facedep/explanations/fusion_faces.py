"""Grad-CAM of a fusion model's face crops: which pixels of the crops drove the fused output, the other views fixed.

For up to ``count`` test windows with the face view present (one per subject, classes taken in turn, as
:func:`~facedep.explanations.grad_cam.pick_faces`), the gradient of the fused output (the positive / last class's logit;
a regressor's standardised output) flows back through the cross-view attention into the faces encoder's last
convolution; the map of the window's first crop is shown over that crop (its pixels de-standardised with the
dataset's training statistics). Only test windows and their labels (for the titles) are read.

Example:
    >>> maps = fusion_face_maps(model, datamodule.datasets["test"], datamodule.views)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from facedep.explanations.errors import Unsupported
from facedep.explanations.grad_cam import DEFAULT_FACES, GRAD_CAM_METHOD, FaceMaps, grad_cam_maps, last_conv_layer, pick_faces
from facedep.explanations.model_outputs import attributed_output, is_regressor, model_device_dtype

METHOD = (f"{GRAD_CAM_METHOD}; in a fusion model: the gradient of the fused output through the cross-view attention "
          "into the faces encoder, the window's other views fixed (first crop of each window shown)")


def faces_encoder(model: nn.Module) -> nn.Module:
    """The faces encoder of a fusion model (``model.net.encoders["faces"]``), or :class:`Unsupported`."""
    encoders = getattr(getattr(model, "net", None), "encoders", None)
    if encoders is None or "faces" not in encoders:
        raise Unsupported(f"{type(model).__name__} has no faces encoder")
    return encoders["faces"]


def crops_as_uint8(faces: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Standardised crops ``(n, 3, S, S)`` -> uint8 ``(n, S, S, 3)`` with the dataset's per-channel statistics.

    >>> crops_as_uint8(torch.zeros(1, 3, 2, 2), [0.5] * 3, [0.25] * 3)[0, 0, 0].tolist()
    [128, 128, 128]
    """
    pixels = faces.numpy().transpose(0, 2, 3, 1) * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    return (np.clip(pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def fusion_face_maps(model: nn.Module, dataset: object, views: Sequence[str], count: int = DEFAULT_FACES) -> FaceMaps:
    """Grad-CAM maps of up to ``count`` test windows' first crops (see the module docstring)."""
    if "faces" not in views:
        raise Unsupported("the fusion model has no faces view")
    layer = last_conv_layer(faces_encoder(model))
    column = list(views).index("faces")
    candidates = np.flatnonzero(np.asarray(dataset.present)[:, column])
    if len(candidates) == 0:
        raise Unsupported("no test window with face crops")
    labels = np.asarray(dataset.window_labels())[candidates]
    subjects = np.asarray(dataset.subject_ids)[np.asarray(dataset.index)[candidates, 0]]
    picked = candidates[pick_faces(labels, subjects, count)]
    x = dataset.batch_of([int(i) for i in picked])["x"]
    device, dtype = model_device_dtype(model)
    fixed = {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)) for k, v in x.items()}

    def target(net: nn.Module, faces: torch.Tensor) -> torch.Tensor:
        return attributed_output(net, {**fixed, "faces": faces})

    maps = grad_cam_maps(model, x["faces"], target=target, layer=layer)
    frames = x["faces"].shape[1]
    first = maps.reshape(len(picked), frames, *maps.shape[-2:])[:, 0]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(fixed).float().cpu()
    finally:
        model.train(was_training)
    scores = out.reshape(-1) if is_regressor(model) else model.loss_fn.probabilities(out)[:, -1]
    images = crops_as_uint8(x["faces"][:, 0], dataset.face_mean, dataset.face_std)
    return FaceMaps(images, first.numpy(), [int(i) for i in picked], labels[np.searchsorted(candidates, picked)],
                    scores.numpy(), subjects[np.searchsorted(candidates, picked)], METHOD, "grad_cam")
