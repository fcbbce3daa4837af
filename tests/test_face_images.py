"""FaceImageDataModule: decoding (odd formats, corrupt files), face crops, image cache, transforms, normalisation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

import datamodules.image_cache as image_cache_module
from datamodules import FaceImageDataModule
from datamodules.image_crops import crop_box, resize_image
from datamodules.image_decoding import UnreadableImage, decode_image
from datamodules.image_transforms import build_transforms
from datamodules.manifest import load_manifest, write_manifest
from datamodules.synthetic.faces import make_face_demo

pytestmark = pytest.mark.filterwarnings("ignore:.*num_workers", "ignore:.*identity leakage", "ignore:converted image")


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 drawn faces (6 per class), 64x64, labels sad=1 / other=0."""
    return make_face_demo(tmp_path_factory.mktemp("faces"), images_per_class=6, size=64, seed=2)


def _dm(manifest: Path | str, **kwargs) -> FaceImageDataModule:
    defaults = dict(image_size=32, num_folds=3, batch_size=4, cache_dir=None, train_transforms=[])
    return FaceImageDataModule(str(manifest), **{**defaults, **kwargs})


def test_shapes_items_names_and_class_weights(faces: Path) -> None:
    dm = _dm(faces, train_transforms=None)  # default augmentation
    dm.setup("fit")
    assert dm.num_channels == 3 and dm.num_classes == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (4, 3, 32, 32) and batch["x"].dtype == torch.float32
    assert set(batch) == {"x", "y", "video", "subject", "index"}
    names = dm.sample_names()
    item = dm.datasets["test"][0]
    assert names["video"][int(item["video"])].endswith(".jpg")
    image_path = Path(names["video"][int(item["video"])])
    assert names["subject"][int(item["subject"])] == image_path.relative_to(faces.parent).with_suffix("").as_posix()
    sizes = {s: len(dm.datasets[s]) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == 24 and min(sizes.values()) > 0
    train_labels = dm.datasets["train"].window_labels()
    n1 = int(train_labels.sum())
    assert dm.class_weights.tolist() == pytest.approx([len(train_labels) / (2 * (len(train_labels) - n1)),
                                                       len(train_labels) / (2 * n1)])
    assert dm.data_report["images"]["crops"] == {"whole_image": 24}
    assert dm.data_report["test"]["frames"] == {"images": sizes["test"]}


def test_cache_is_reused_without_decoding(faces: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _dm(faces, cache_dir=str(tmp_path))
    first.prepare_data()
    first.setup("fit")
    files = sorted((tmp_path / "face-images").glob("*.npy"))
    assert len(files) == 1 and np.load(files[0], mmap_mode="r").shape == (24, 32, 32, 3)

    def boom(path: str) -> None:
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(image_cache_module, "decode_image", boom)
    second = _dm(faces, cache_dir=str(tmp_path), fold=1)  # another fold shares the cache
    second.prepare_data()
    second.setup("fit")
    assert isinstance(second.datasets["train"].images, np.memmap)
    assert sorted((tmp_path / "face-images").glob("*.npy")) == files
    a, b = first.datasets["test"], _dm(faces, cache_dir=str(tmp_path))
    b.setup("fit")
    torch.testing.assert_close(a[0]["x"], b.datasets["test"][0]["x"])
    with pytest.raises(AssertionError, match="decoded"):
        _dm(faces, cache_dir=str(tmp_path), image_size=24).setup("fit")  # other settings: a new entry


def _write_odd_images(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    paths = {name: root / name for name in ("good.jpg", "gray.png", "rgba.png", "gray16.png", "rgb16.png",
                                            "corrupt.jpg", "truncated.jpg", "empty.png")}
    cv2.imwrite(str(paths["good.jpg"]), rgb[:, :, ::-1])
    cv2.imwrite(str(paths["gray.png"]), rgb[:, :, 0])
    cv2.imwrite(str(paths["rgba.png"]), np.dstack([rgb[:, :, ::-1], np.full((40, 30), 128, np.uint8)]))
    cv2.imwrite(str(paths["gray16.png"]), np.full((40, 30), 257 * 100, np.uint16))
    bgr16 = np.dstack([np.full((40, 30), 257 * v, np.uint16) for v in (30, 20, 10)])
    cv2.imwrite(str(paths["rgb16.png"]), bgr16)
    paths["corrupt.jpg"].write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    paths["truncated.jpg"].write_bytes(paths["good.jpg"].read_bytes()[:300])
    paths["empty.png"].write_bytes(b"")
    return paths


def test_decode_converts_odd_formats_and_rejects_corrupt(tmp_path: Path) -> None:
    paths = _write_odd_images(tmp_path)
    expected_notes = {"good.jpg": [], "gray.png": ["grayscale"], "rgba.png": ["alpha"],
                      "gray16.png": ["16-bit", "grayscale"], "rgb16.png": ["16-bit"]}
    for name, notes in expected_notes.items():
        image, got = decode_image(paths[name])
        assert image.shape == (40, 30, 3) and image.dtype == np.uint8, name
        assert got == notes, name
    assert (decode_image(paths["gray16.png"])[0] == 100).all()
    assert decode_image(paths["rgb16.png"])[0][0, 0].tolist() == [10, 20, 30]  # RGB order
    gray = decode_image(paths["gray.png"])[0]
    assert (gray[:, :, 0] == gray[:, :, 2]).all()
    for name in ("corrupt.jpg", "truncated.jpg", "empty.png"):
        with pytest.raises(UnreadableImage):
            decode_image(paths[name])


def test_datamodule_skips_and_counts_unreadable_images(tmp_path: Path) -> None:
    paths = _write_odd_images(tmp_path / "img")
    names = list(paths)
    split = {"good.jpg": "train", "gray.png": "train", "rgba.png": "val", "gray16.png": "test", "rgb16.png": "test",
             "corrupt.jpg": "train", "truncated.jpg": "test", "empty.png": "val"}
    manifest = write_manifest(pd.DataFrame({"subject_id": names, "path": [str(paths[n]) for n in names],
                                            "label": [i % 2 for i in range(len(names))],
                                            "split": [split[n] for n in names]}), tmp_path / "m.csv")
    dm = _dm(manifest, split="column")
    with pytest.warns(UserWarning, match=r"skipped 3 unreadable/corrupt image\(s\): \[.*corrupt.jpg"):
        dm.setup("fit")
    report = dm.data_report
    assert report["images"]["unreadable"] == 3
    assert sorted(Path(p).name for p in report["files_skipped"]) == ["corrupt.jpg", "empty.png", "truncated.jpg"]
    assert report["images"]["converted"] == {"grayscale": 2, "alpha": 1, "16-bit": 2}
    assert {s: len(dm.datasets[s]) for s in ("train", "val", "test")} == {"train": 2, "val": 1, "test": 2}
    assert len(dm.sample_names()["video"]) == 5


def test_face_box_crop_matches_pixels(faces: Path, tmp_path: Path) -> None:
    table = load_manifest(faces).iloc[:3].copy()
    boxes = [(5, 7, 40, 30), (0, 0, 64, 64), (50, 50, 30, 30)]  # x, y, w, h; the last is clipped at the border
    table[["face_x", "face_y", "face_width", "face_height"]] = boxes
    dm = _dm(faces, image_size=(30, 40))
    stored, report = dm.load_images(table)
    assert report["crops"] == {"manifest_box": 3}
    decoded = decode_image(table["path"].iloc[0])[0]
    np.testing.assert_array_equal(stored[0], decoded[7:37, 5:45])  # box = image_size: no resampling
    np.testing.assert_array_equal(stored[1], resize_image(decode_image(table["path"].iloc[1])[0], (30, 40)))
    np.testing.assert_array_equal(stored[2], resize_image(decode_image(table["path"].iloc[2])[0][50:, 50:], (30, 40)))
    margin = _dm(faces, image_size=(30, 40), face_margin=0.1).load_images(table)[0]
    np.testing.assert_array_equal(margin[0], resize_image(decoded[4:40, 1:49], (30, 40)))
    assert crop_box(decoded, (70, 70, 90, 90)) is None
    assert crop_box(decoded, (-5, -5, 10, 10)).shape == (10, 10, 3)


def test_real_images_through_detector_crop(realdata: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    from datamodules.preprocessing.face_mesh import FaceDetector
    from datamodules.preprocessing.face_models import FaceModelError, ensure_face_models

    try:
        detector = FaceDetector(ensure_face_models()["detector"])
    except FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")
    table = pd.DataFrame({"subject_id": ["single", "multi"], "label": [0, 1],
                          "path": [str(realdata / "pyfeat" / n) for n in ("single_face.jpg", "multi_face.jpg")]})
    dm = _dm("unused.csv", image_size=64, detect_faces=True)
    stored, report = dm.load_images(table)
    assert stored.shape == (2, 64, 64, 3) and report["crops"] == {"detected": 2} and all(report["valid"])
    for i, path in enumerate(table["path"]):
        rgb = decode_image(path)[0]
        face = detector.largest(rgb)
        x0, y0, x1, y1 = face.box
        assert 0.05 < (x1 - x0) / rgb.shape[1] < 0.6  # a face, not the whole picture
        np.testing.assert_array_equal(stored[i], resize_image(crop_box(rgb, face.box), (64, 64)))
    whole = _dm("unused.csv", image_size=64).load_images(table)[0]
    assert not np.array_equal(whole[0], stored[0])


def test_augmentation_only_on_train(faces: Path) -> None:
    dm = _dm(faces, train_transforms=[{"name": "HorizontalFlip", "p": 1.0}], normalization=None)
    dm.setup("fit")
    train, test = dm.datasets["train"], dm.datasets["test"]
    assert test.transform is None and train.transform is not None
    raw = np.asarray(train.images[train.rows[0]], dtype=np.float32) / 255.0
    np.testing.assert_allclose(train[0]["x"].numpy(), raw[:, ::-1].transpose(2, 0, 1), atol=1e-6)
    raw_test = np.asarray(test.images[test.rows[0]], dtype=np.float32) / 255.0
    np.testing.assert_allclose(test[0]["x"].numpy(), raw_test.transpose(2, 0, 1), atol=1e-6)
    default = _dm(faces, train_transforms=None)
    default.setup("fit")
    steps = [type(t).__name__ for t in default.datasets["train"].transform.transforms]
    assert steps == ["HorizontalFlip", "Affine", "ColorJitter"]
    assert default.datasets["val"].transform is None
    with pytest.raises(ValueError, match="unknown albumentations transform 'Flipper'"):
        build_transforms([{"name": "Flipper"}])


def test_normalization_from_timm(faces: Path) -> None:
    timm = pytest.importorskip("timm")
    config = timm.data.resolve_data_config({}, model=timm.create_model("resnet18", pretrained=False))
    dm = _dm(faces, normalization="resnet18")
    assert dm.mean == pytest.approx(config["mean"]) and dm.std == pytest.approx(config["std"])
    dm.setup("fit")
    ds = dm.datasets["val"]
    raw = np.asarray(ds.images[ds.rows[0]], dtype=np.float32) / 255.0
    expected = (raw - np.array(config["mean"], np.float32)) / np.array(config["std"], np.float32)
    np.testing.assert_allclose(ds[0]["x"].numpy(), expected.transpose(2, 0, 1), atol=1e-5)
    assert _dm(faces, normalization="inception_v3").mean == (0.5, 0.5, 0.5)
    assert _dm(faces, mean=[0.1, 0.2, 0.3], std=[1, 1, 1]).mean == (0.1, 0.2, 0.3)
    with pytest.raises(ValueError, match="nor a timm model name"):
        _dm(faces, normalization="no_such_net")


def test_normalize_on_device_hands_uint8_and_normalises_after_the_transfer(faces: Path) -> None:
    host, device = _dm(faces, normalization="imagenet"), _dm(faces, normalization="imagenet", normalize_on_device=True)
    host.setup("fit"), device.setup("fit")
    raw = next(iter(device.test_dataloader()))
    assert raw["x"].dtype == torch.uint8 and raw["x"].shape == (4, 3, 32, 32)
    expected = next(iter(host.test_dataloader()))["x"]
    normalised = device.on_after_batch_transfer(raw, 0)
    assert normalised["x"].dtype == torch.float32 and set(normalised) == set(raw)
    torch.testing.assert_close(normalised["x"], expected, rtol=0, atol=1e-5)
    assert normalised["y"] is raw["y"]
    assert host.on_after_batch_transfer({"x": expected}, 0)["x"] is expected  # float batches pass unchanged


def test_normalize_on_device_trains_through_the_trainer(faces: Path, tmp_path: Path) -> None:
    import pytorch_lightning as pl

    class Probe(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.seen = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2)), []

        def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
            self.seen.append((batch["x"].dtype, float(batch["x"].min())))
            return torch.nn.functional.cross_entropy(self.net(batch["x"]), batch["y"])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    model = Probe()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.fit(model, datamodule=_dm(faces, normalize_on_device=True))
    assert model.seen and {dtype for dtype, _ in model.seen} == {torch.float32}  # uint8 from the loader
    assert min(low for _, low in model.seen) < 0  # normalised (imagenet mean subtracted), not raw 0-255
