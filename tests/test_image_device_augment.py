"""Batched augmentation of uint8 image batches on their device: geometry, colour formulas, randomness, DataModule wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.image_device_augment import DeviceAugmentation, hsv_to_rgb, rgb_to_hsv
from datamodules.image_transforms import normalize_batch


def images(n: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def affine(**kwargs: object) -> DeviceAugmentation:
    return DeviceAugmentation([{"name": "Affine", "p": 1.0, **kwargs}])


def jitter(**kwargs: object) -> DeviceAugmentation:
    return DeviceAugmentation([{"name": "ColorJitter", "p": 1.0, **kwargs}])


def test_flip_and_identity_affine() -> None:
    x = images()
    unit = x.float() / 255
    assert torch.equal(DeviceAugmentation([{"name": "HorizontalFlip", "p": 1.0}])(x), unit.flip(-1))
    assert torch.equal(DeviceAugmentation([{"name": "HorizontalFlip", "p": 0.0}])(x), unit)
    out = affine(scale=[1, 1], translate_percent=[0, 0], rotate=[0, 0])(x)
    assert torch.allclose(out, unit, atol=1e-5)


def test_translation_moves_content_right_and_down_by_the_fraction() -> None:
    x = images(size=16)
    unit = x.float() / 255
    right = affine(translate_percent=[0.25, 0.25], scale=1.0, rotate=0.0)(x)  # same draw for x and y: 4 px each
    assert torch.allclose(right[..., 4:, 4:], unit[..., :12, :12], atol=1e-5)
    assert right[..., :4, :].abs().max() == 0 and right[..., :, :4].abs().max() == 0  # zeros came in


def test_rotation_turns_counter_clockwise_on_screen_and_scale_zooms_about_the_centre() -> None:
    x = torch.zeros(1, 3, 15, 15, dtype=torch.uint8)
    x[..., 7, 12] = 255  # right of the centre
    turned = affine(rotate=90.0, scale=1.0)(x)
    assert torch.allclose(turned, torch.rot90(x.float() / 255, 1, dims=(-2, -1)), atol=1e-5)
    assert turned[0, 0, 2, 7] == pytest.approx(1.0, abs=1e-5)  # now above the centre
    zoomed = affine(scale=2.0)(torch.ones(1, 3, 16, 16, dtype=torch.uint8) * 255)
    assert zoomed.min() == pytest.approx(1.0)  # zooming in keeps the image filled
    shrunk = affine(scale=0.5)(torch.ones(1, 3, 16, 16, dtype=torch.uint8) * 255)
    assert shrunk[..., 0, 0].max() == 0 and shrunk[..., 8, 8].min() == pytest.approx(1.0)


def test_colour_jitter_follows_torchvision_formulas() -> None:
    x = images(n=2)
    unit = x.float() / 255
    assert torch.allclose(jitter(brightness=[1.5, 1.5])(x), (unit * 1.5).clamp(0, 1), atol=1e-6)
    gray = 0.299 * unit[:, 0] + 0.587 * unit[:, 1] + 0.114 * unit[:, 2]
    no_contrast = jitter(contrast=[0.0, 0.0])(x)
    assert torch.allclose(no_contrast, gray.mean(dim=(1, 2))[:, None, None, None].expand_as(unit), atol=1e-6)
    no_saturation = jitter(saturation=[0.0, 0.0])(x)
    assert torch.allclose(no_saturation, gray[:, None].expand_as(unit), atol=1e-6)
    red = torch.zeros(1, 3, 1, 1, dtype=torch.uint8)
    red[0, 0] = 255
    assert jitter(hue=[0.5, 0.5])(red).flatten().tolist() == pytest.approx([0.0, 1.0, 1.0], abs=1e-6)  # -> cyan
    assert torch.allclose(jitter(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)(x), unit, atol=1e-6)


def test_hsv_round_trip() -> None:
    unit = images(n=3).float() / 255
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(unit)), unit, atol=1e-5)


def test_per_image_randomness_is_seeded_and_p_is_honoured() -> None:
    x = images(n=1).repeat(256, 1, 1, 1)
    flip = [{"name": "HorizontalFlip", "p": 0.5}]
    out = DeviceAugmentation(flip, seed=3)(x)
    flipped = (out == (x.float() / 255).flip(-1)).flatten(1).all(1)
    assert 0.35 < flipped.float().mean() < 0.65  # per image, not one coin for the batch
    assert torch.equal(out, DeviceAugmentation(flip, seed=3)(x))
    assert not torch.equal(out, DeviceAugmentation(flip, seed=4)(x))
    moved = DeviceAugmentation([{"name": "Affine", "p": 0.25, "rotate": [-10, 10]}], seed=0)(x)
    untouched = (moved == x.float() / 255).flatten(1).all(1).float().mean()
    assert 0.6 < untouched < 0.9  # ~75 % of the images left bit-exact


def test_unsupported_steps_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="GaussianBlur"):
        DeviceAugmentation([{"name": "GaussianBlur", "p": 0.5}])
    with pytest.raises(ValueError, match="shear"):
        DeviceAugmentation([{"name": "Affine", "shear": 5}])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        DeviceAugmentation([])(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_datamodule_augments_training_batches_on_the_device_only(tmp_path: Path) -> None:
    from datamodules.images import FaceImageDataModule
    from datamodules.synthetic.faces import make_face_demo

    manifest = make_face_demo(tmp_path / "faces", images_per_class=4, size=32, seed=0)
    flip = [{"name": "HorizontalFlip", "p": 1.0}]
    dm = FaceImageDataModule(str(manifest), image_size=32, batch_size=4, augment_on_device=True, train_transforms=flip,
                             cache_dir=str(tmp_path / "cache"), num_folds=2, seed=0)
    dm.setup("fit")
    assert dm.normalize_on_device and dm.datasets["train"].transform is None  # nothing left for the workers
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].dtype == torch.uint8
    trained = dm.device_batch(batch, training=True)
    evaluated = dm.device_batch(batch, training=False)
    plain = normalize_batch(batch, dm.mean, dm.std)
    assert torch.allclose(evaluated["x"], plain["x"]) and torch.allclose(trained["x"], plain["x"].flip(-1), atol=1e-5)
    with pytest.raises(ValueError, match="CoarseDropout"):
        FaceImageDataModule(str(manifest), augment_on_device=True, train_transforms=[{"name": "CoarseDropout"}])
