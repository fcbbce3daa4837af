"""Explanations of landmark, face-image and fusion models: region occlusion finds a planted region on test subjects
only, Grad-CAM finds the quadrant a CNN reads, masking the only view a fusion model uses is the only drop, the
cross-validation section, and ``predict.py --explain``."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from datamodules.landmarks import render_window
from datamodules.window_dataset import WindowDataset
from facedep.explanations.errors import Unsupported
from facedep.explanations.landmark_regions import REGIONS_68, landmark_regions
from facedep.explanations.run import explain_run, explanation_kind
from lightning_modules import SequenceClassifier

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MOUTH = list(REGIONS_68["mouth"])


# ---- landmark regions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("points", [68, 468, 478])
def test_regions_are_disjoint_and_cover_every_point(points: int) -> None:
    regions = landmark_regions(points)
    together = np.concatenate(list(regions.values()))
    assert sorted(together.tolist()) == list(range(points))
    assert {"jaw", "brows", "nose", "eyes", "mouth"} <= set(regions)
    if points > 68:
        from datamodules.preprocessing.attention_mesh import LIPS_REFINEMENT

        assert set(LIPS_REFINEMENT) <= set(regions["mouth"].tolist())  # the mesh's lip vertices are all mouth


def test_a_point_set_without_regions_is_unsupported() -> None:
    with pytest.raises(Unsupported, match="49-point"):
        landmark_regions(49)


class MouthNet(nn.Module):
    """Reads the temporal pseudo-image ``(B, 3, T, P)`` at the mouth columns only: logits ``[0, 3 * mean y]``."""

    def __init__(self, in_channels: int, num_outputs: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        signal = self.scale * x[:, 1, :, MOUTH].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(signal), signal], dim=1)


def _landmark_windows(subjects: int, seed: int, labels: list[int] | None = None) -> WindowDataset:
    """68-point sequences whose mouth is shifted up (label 1) or down (label 0); everything else is noise."""
    rng = np.random.default_rng(seed)
    sequences, targets, videos, owners = [], [], [], []
    for s in range(subjects):
        label = s % 2 if labels is None else labels[s]
        points = rng.normal(size=(24, 68, 3)).astype(np.float32)
        points[:, MOUTH, 1] += 1.5 if s % 2 else -1.5  # the data's signal follows s % 2, the label may not
        sequences.append(points)
        targets.append(label)
        videos.append(s)
        owners.append(s)
    return WindowDataset(sequences, targets, videos, owners, window=8, stride=8,
                         transform=functools.partial(render_window, mode="temporal", image_size=None))


def _landmark_datamodule(train_labels: list[int]) -> SimpleNamespace:
    return SimpleNamespace(frames_per_sample=8, datasets={"train": _landmark_windows(8, 1, train_labels),
                                                          "test": _landmark_windows(10, 2)})


def test_region_importance_finds_the_mouth_on_test_subjects_only(tmp_path: Path) -> None:
    model = SequenceClassifier(net=MouthNet, in_channels=3)
    datamodule = _landmark_datamodule([0, 1] * 4)
    assert explanation_kind(model, datamodule) == "landmarks"
    paths = explain_run(model, datamodule, tmp_path / "a", repeats=3)
    table = pd.read_csv(paths["region_importance"]).set_index("region")
    assert table["importance_mean"].idxmax() == "mouth" and table.loc["mouth", "importance_mean"] > 0.3
    assert table.loc["mouth", "baseline"] == 1.0 and table.loc["mouth", "log_loss_increase_mean"] > 0.5
    others = table.drop(index="mouth")
    assert others["importance_mean"].eq(0).all() and others["log_loss_increase_mean"].abs().max() < 1e-6
    assert table["points"].to_dict() == {name: len(p) for name, p in REGIONS_68.items()}
    assert Path(paths["region_importance_png"]).read_bytes().startswith(PNG_MAGIC)
    saved = json.loads(Path(paths["summary"]).read_text())
    assert saved["kind"] == "landmarks" and saved["region_importance"]["test_subjects"] == sorted(str(s) for s in range(10))
    # flipping every training label changes nothing: only the test windows and labels are read
    again = explain_run(model, _landmark_datamodule([1, 0] * 4), tmp_path / "b", repeats=3)
    pd.testing.assert_frame_equal(pd.read_csv(again["region_importance"]), pd.read_csv(paths["region_importance"]))
    # a pre-rendered test set (image_cache: true) is explained through the point windows it was rendered from
    from datamodules.landmarks import RenderedDataset

    source = _landmark_windows(10, 2)
    cached = RenderedDataset(np.stack([source.render(i) for i in range(len(source))]).astype(np.float16), source)
    rendered = explain_run(model, SimpleNamespace(frames_per_sample=8, datasets={"test": cached}), tmp_path / "c",
                           repeats=3)
    pd.testing.assert_frame_equal(pd.read_csv(rendered["region_importance"]), pd.read_csv(paths["region_importance"]))


def test_landmark_regions_of_a_point_set_without_regions_leave_no_folder(tmp_path: Path) -> None:
    data = WindowDataset([np.zeros((10, 49, 3), np.float32)], [1], [0], [0], window=4, stride=4,
                         transform=functools.partial(render_window, mode="temporal", image_size=None))
    with pytest.raises(Unsupported, match="49-point"):
        explain_run(SequenceClassifier(net=MouthNet, in_channels=3), SimpleNamespace(frames_per_sample=4,
                    datasets={"test": data}), tmp_path / "explanations")
    assert not (tmp_path / "explanations").exists()


def test_video_region_occlusion_freezes_a_region() -> None:
    from facedep.explanations.region_importance import video_region_occlusion

    data = _landmark_windows(1, 3)
    data.sequences[0][:, MOUTH, 1] += np.linspace(-2, 2, 24)[:, None]  # the mouth moves over the video
    model = SequenceClassifier(net=MouthNet, in_channels=3)

    def score(windows: WindowDataset) -> np.ndarray:
        from facedep.explanations.model_outputs import window_scores

        return window_scores(model, torch.as_tensor(windows.arrays()["x"])).numpy()

    table = video_region_occlusion(score, data, class_index=1).set_index("region")
    assert table.index[0] == "mouth" and table.loc["mouth", "mean_abs_window_change"] > 0.1
    assert table.drop(index="mouth")["mean_abs_window_change"].abs().max() < 1e-6


# ---- Grad-CAM ------------------------------------------------------------------------------------------
class QuadrantNet(nn.Module):
    """Sees only the top-left quadrant of a 16x16 image (input masked before the convolution), then
    conv -> in-place ReLU -> global mean -> positive weights: the positive class grows with that quadrant."""

    def __init__(self, in_channels: int, num_outputs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(4, num_outputs)
        with torch.no_grad():
            self.conv.weight.fill_(0.1)
            self.head.weight.zero_()
            self.head.weight[-1] = 1.0
            self.head.bias.zero_()
        mask = torch.zeros(1, 1, 16, 16)
        mask[..., :8, :8] = 1.0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(self.conv(x * self.mask)).mean(dim=(2, 3)))


def _face_dataset(images: int = 10):
    from datamodules.image_dataset import FaceImageDataset

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(images, 16, 16, 3), dtype=np.uint8)
    labels = np.arange(images) % 2
    return FaceImageDataset(pixels, list(range(images)), labels, list(range(images)), list(range(images)), None,
                            (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def test_grad_cam_highlights_the_quadrant_the_cnn_reads() -> None:
    from facedep.explanations.grad_cam import grad_cam_maps

    model = SequenceClassifier(net=QuadrantNet, in_channels=3)
    maps = grad_cam_maps(model, torch.rand(4, 3, 16, 16) + 0.1)
    assert maps.shape == (4, 16, 16)
    inside, outside = maps[:, :8, :8], maps[:, 9:, 9:]  # (row/column 8 sees the quadrant through the 3x3 kernel)
    assert float(inside.min()) > 0.1 and float(inside.mean()) > 0.5 and float(outside.max()) == 0.0


def test_image_run_writes_overlays_of_test_faces(tmp_path: Path) -> None:
    from lightning_modules import ImageClassifier

    model = ImageClassifier(net=QuadrantNet, in_channels=3, class_names=["healthy", "depressed"])
    datamodule = SimpleNamespace(datasets={"test": _face_dataset()}, class_names=["healthy", "depressed"])
    assert explanation_kind(model, datamodule) == "images"
    paths = explain_run(model, datamodule, tmp_path)
    assert Path(paths["grad_cam"]).read_bytes().startswith(PNG_MAGIC)
    saved = np.load(paths["grad_cam_npz"])
    assert saved["maps"].shape == (8, 16, 16) and saved["images"].shape == (8, 16, 16, 3)
    assert sorted(np.bincount(saved["targets"]).tolist()) == [4, 4]  # classes taken in turn
    assert float(saved["maps"][:, 9:, 9:].max()) == 0.0
    assert json.loads(Path(paths["summary"]).read_text())["grad_cam"]["faces"] == 8


def test_hybrid_attention_net_explains_with_its_own_attention() -> None:
    from facedep.explanations.grad_cam import image_maps
    from lightning_modules.nets import HybridAttentionNet

    net = functools.partial(HybridAttentionNet, backbones=("test_resnet",), img_size=64, d_model=16, nhead=2,
                            dim_feedforward=32)
    model = SequenceClassifier(net=net, in_channels=3)
    maps, method, name = image_maps(model, torch.randn(2, 3, 64, 64))
    assert name == "attention" and "attention" in method and maps.shape == (2, 64, 64)
    assert float(maps.max()) == pytest.approx(1.0)


# ---- fusion --------------------------------------------------------------------------------------------
VIEWS = ["aus", "landmarks", "faces"]


class AusOnlyFusion(nn.Module):
    """A fake fusion net (contract: ``forward(x: dict)``, ``last_attention`` (B, V, V)) that reads AU channel 0 of
    present ``aus`` views only; every present view attends to ``aus`` alone."""

    def __init__(self, in_channels: int, num_outputs: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        present = x["present"]
        assert present.any(dim=1).all(), "a window without any view reached the model"
        signal = self.scale * x["aus"][:, :, 0].mean(dim=1) * present[:, 0]
        attention = torch.zeros(len(present), 3, 3)
        attention[:, :, 0] = 1.0
        self.last_attention = attention
        return torch.stack([torch.zeros_like(signal), signal], dim=1)


class FakeMultimodal:
    """A multimodal test set as the contract describes it: ``len`` and ``batch_of(indices)``."""

    def __init__(self, subjects: int, seed: int, labels: list[int] | None = None) -> None:
        rng = np.random.default_rng(seed)
        n = subjects * 3
        self.subject = np.repeat(np.arange(subjects), 3)
        self.y = np.array([(s % 2 if labels is None else labels[s]) for s in self.subject])
        sign = np.where(self.subject % 2 == 1, 1.0, -1.0)
        self.aus = rng.normal(size=(n, 6, 4)).astype(np.float32)
        self.aus[:, :, 0] += 1.5 * sign[:, None]
        self.landmarks = rng.normal(size=(n, 6, 68, 3)).astype(np.float32)
        self.faces = rng.normal(size=(n, 2, 3, 8, 8)).astype(np.float32)
        self.present = np.ones((n, 3), dtype=bool)
        self.present[1::3, 2] = False       # some windows without faces
        self.present[2::9, 1:] = False      # some with AUs only
        self.present[0::7, 0] = False       # some without AUs (never all three absent)
        self.present[0::7, 1] = True
        for view, j in (("aus", 0), ("landmarks", 1), ("faces", 2)):
            getattr(self, view)[~self.present[:, j]] = 0.0

    def __len__(self) -> int:
        return len(self.y)

    def batch_of(self, indices: list[int]) -> dict:
        rows = np.asarray(indices)
        return {"x": {"aus": torch.from_numpy(self.aus[rows]), "landmarks": torch.from_numpy(self.landmarks[rows]),
                      "faces": torch.from_numpy(self.faces[rows]), "present": torch.from_numpy(self.present[rows])},
                "y": torch.from_numpy(self.y[rows]), "video": torch.from_numpy(self.subject[rows]),
                "subject": torch.from_numpy(self.subject[rows]), "index": torch.from_numpy(rows)}


def _fusion_datamodule(train_labels: list[int]) -> SimpleNamespace:
    return SimpleNamespace(views=VIEWS, channels=["AU01_r", "AU04_r", "AU12_r", "AU15_r"],
                           datasets={"train": FakeMultimodal(6, 1, train_labels), "test": FakeMultimodal(8, 2)})


def test_view_contribution_of_a_model_that_uses_only_aus(tmp_path: Path) -> None:
    model = SequenceClassifier(net=AusOnlyFusion, in_channels=4)
    datamodule = _fusion_datamodule([0, 1] * 3)
    assert explanation_kind(model, datamodule) == "fusion"
    paths = explain_run(model, datamodule, tmp_path / "a", repeats=3)
    views = pd.read_csv(paths["view_contribution"]).set_index("view")
    assert views.index.tolist() == VIEWS
    assert views.loc["aus", "importance_mean"] > 0.3 and views.loc["aus", "log_loss_increase_mean"] > 0.3
    assert views.loc[["landmarks", "faces"], ["importance_mean", "log_loss_increase_mean"]].abs().max().max() < 1e-6
    assert views["attention_received"].tolist() == [1.0, 0.0, 0.0]
    test = datamodule.datasets["test"]
    alone = test.present.sum(axis=1) == 1
    assert views["windows_only_view"].tolist() == [int((alone & test.present[:, j]).sum()) for j in range(3)]
    assert views.loc["aus", "windows_only_view"] > 0
    assert views["present_fraction"].tolist() == pytest.approx(test.present.mean(axis=0).tolist())
    channels = pd.read_csv(paths["channel_importance"]).set_index("channel")
    assert channels["importance_mean"].idxmax() == "AU01_r"
    assert channels.drop(index="AU01_r")["log_loss_increase_mean"].abs().max() < 1e-6
    regions = pd.read_csv(paths["region_importance"])
    assert regions["importance_mean"].abs().max() < 1e-6
    assert Path(paths["view_contribution_png"]).read_bytes().startswith(PNG_MAGIC)
    assert json.loads(Path(paths["summary"]).read_text())["kind"] == "fusion"
    again = explain_run(model, _fusion_datamodule([1, 0] * 3), tmp_path / "b", repeats=3)  # training labels flipped
    pd.testing.assert_frame_equal(pd.read_csv(again["view_contribution"]), pd.read_csv(paths["view_contribution"]))


def test_fusion_test_set_too_large_for_memory_keeps_the_small_views() -> None:
    from facedep.explanations.fusion_inputs import FusionTestSet, fusion_scores

    data = FakeMultimodal(4, 0)
    small = FusionTestSet(data, VIEWS, chunk=5, max_bytes=10_000)
    full = FusionTestSet(data, VIEWS, chunk=5)
    assert full.cached and not small.cached and sorted(small.views_in_memory) == ["aus", "landmarks"]
    model = SequenceClassifier(net=AusOnlyFusion, in_channels=4)
    assert torch.equal(fusion_scores(model, small), fusion_scores(model, full))


# ---- cross-validation summary --------------------------------------------------------------------------
def _fold_tables(tmp_path: Path, key: str, label: str, names: list[str], values: list[list[float]]) -> list[dict]:
    metrics = []
    for fold, row in enumerate(values):
        folder = tmp_path / f"fold{fold}" / "explanations"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{key}.csv"
        pd.DataFrame({label: names, "importance_mean": row, "importance_std": 0.0, "baseline": 1.0,
                      "log_loss_increase_mean": row, "log_loss_increase_std": 0.0}).to_csv(path, index=False)
        figure = folder / "grad_cam.png"
        figure.write_bytes(PNG_MAGIC)
        metrics.append({"explanations": {key: str(path), "grad_cam": str(figure), "method": "Grad-CAM on x"}})
    return metrics


def test_cross_validation_section_for_regions_views_and_figures(tmp_path: Path) -> None:
    from facedep.experiment.cv_tracking import explanation_images, explanation_tables
    from facedep.explanations.summary import write_cv_explanations

    regions = _fold_tables(tmp_path, "region_importance", "region", ["jaw", "mouth"], [[0.0, 0.3], [0.1, 0.5]])
    views = _fold_tables(tmp_path, "view_contribution", "view", ["aus", "faces"], [[0.2, 0.0], [0.4, 0.0]])
    metrics = [{"explanations": {**r["explanations"], **v["explanations"]}} for r, v in zip(regions, views)]
    summary, lines = write_cv_explanations(metrics, tmp_path, [0, 1])
    for name in ("region_importance.png", "region_importance.csv", "view_contribution.png", "view_contribution.csv"):
        assert (tmp_path / name).is_file(), name
    assert summary["regions"]["regions"][0]["region"] == "mouth"
    assert summary["regions"]["regions"][0]["mean"] == pytest.approx(0.4)
    assert summary["views"]["views"][0]["view"] == "aus" and "channels" not in summary
    assert summary["grad_cam"]["figures"] == {"fold0": "fold0/explanations/grad_cam.png",
                                              "fold1": "fold1/explanations/grad_cam.png"}
    text = "\n".join(lines)
    assert lines[0] == "## Explanations" and text.count("## Explanations") == 1
    for part in ("### Landmark regions", "### Views", "### Face images", "| 1 | mouth | 0.400 ± 0.141 |",
                 "](fold1/explanations/grad_cam.png)", "test subjects only"):
        assert part in text, part
    tables = explanation_tables(summary)
    assert set(tables) == {"cv/region_importance", "cv/view_contribution", "cv/grad_cam"}
    assert set(explanation_images(summary, tmp_path, {})) == {"region_importance", "view_contribution"}
    assert write_cv_explanations([{}, {}], tmp_path / "none") is None


# ---- predict.py --explain ------------------------------------------------------------------------------
def test_predict_explain_landmark_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datamodules.io.landmarks import read_landmark_file, save_landmarks
    from datamodules.synthetic.landmarks import make_landmark_demo
    from facedep.inference.predict import main
    from lightning_modules import CNNLSTMClassifier
    from lightning_modules.nets import ImageCNN
    from video_helpers import save_untrained_checkpoint

    manifest = make_landmark_demo(tmp_path / "data", num_subjects=2, frames=(40, 50), seed=1)
    npz = save_landmarks(read_landmark_file(tmp_path / "data" / pd.read_csv(manifest)["path"].iloc[0]),
                         tmp_path / "clip.npz")
    torch.manual_seed(0)
    model = CNNLSTMClassifier(net=functools.partial(ImageCNN, conv_channels=(4, 8)), num_classes=2,
                              class_names=["healthy", "depressed"])
    ckpt = save_untrained_checkpoint(model, tmp_path / "lmk.ckpt", {
        "_class_path": "datamodules.LandmarkDataModule", "manifest": "/nonexistent/manifest.csv", "mode": "temporal",
        "frames_per_sample": 8, "stride": 4, "align": True, "file_format": "npz", "classes": [0, 1],
        "class_names": ["healthy", "depressed"]})
    assert main(["--ckpt", str(ckpt), str(npz), "--out", str(tmp_path / "out"), "--explain"]) == 0
    folder = tmp_path / "out" / "explanations"
    table = pd.read_csv(folder / "region_occlusion.csv")
    assert sorted(table["region"]) == sorted(REGIONS_68) and np.isfinite(table["change"]).all()
    assert (folder / "region_occlusion.png").read_bytes().startswith(PNG_MAGIC)
    saved = json.loads((folder / "explanations.json").read_text())["region_occlusion"]
    assert saved["class"] == "depressed" and "frozen" in saved["method"]
    assert "explanations:" in capsys.readouterr().out


def test_predict_explain_image_checkpoint(pyfeat: Path, tmp_path: Path) -> None:
    from facedep.inference.predict import main
    from lightning_modules.nets import ImageCNN
    from video_helpers import save_untrained_checkpoint

    torch.manual_seed(0)
    model = SequenceClassifier(net=functools.partial(ImageCNN, conv_channels=(8, 16)), in_channels=3, num_classes=2)
    ckpt = save_untrained_checkpoint(model, tmp_path / "tiny.ckpt", {"image_size": 64})
    out = tmp_path / "out"
    assert main(["--ckpt", str(ckpt), str(pyfeat / "single_face.mp4"), "--out", str(out), "--max-frames", "12",
                 "--explain"]) == 0
    saved = np.load(out / "explanations" / "grad_cam.npz")
    assert saved["maps"].shape == (8, 64, 64) and saved["images"].shape == (8, 64, 64, 3)
    assert saved["frames"].tolist()[0] == 0 and saved["frames"].tolist()[-1] == 11
    assert (out / "explanations" / "grad_cam.png").read_bytes().startswith(PNG_MAGIC)
    assert json.loads((out / "explanations" / "explanations.json").read_text())["grad_cam"]["map"] == "grad_cam"


# ---- real DataModules through training ------------------------------------------------------------------
def test_landmark_training_with_explain_writes_region_importance(tmp_path: Path) -> None:
    from datamodules.synthetic.landmarks import make_landmark_demo
    from facedep.experiment.train import run_training

    manifest = make_landmark_demo(tmp_path / "data", num_subjects=6, frames=(50, 60), effect_size=2.0, seed=3)
    result = run_training([
        "--config", str(ROOT / "configs" / "landmarks" / "demo.yaml"), "--data.init_args.manifest", str(manifest),
        "--data.init_args.num_folds", "3", "--data.init_args.cache_dir", "null",
        "--data.init_args.frames_per_sample", "8", "--data.init_args.stride", "8",
        "--model.init_args.net.init_args.conv_channels", "[4, 8]", "--trainer.max_epochs", "1",
        "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", "--tracking.wandb", "disabled",
        "--run.output_dir", str(tmp_path / "runs"), "--run.name", "lmk", "--run.explain", "true",
    ])
    paths, run_dir = result["explanations"], Path(result["run_dir"])
    assert paths["kind"] == "landmarks" and Path(paths["region_importance"]).parent == run_dir / "explanations"
    table = pd.read_csv(paths["region_importance"])
    assert sorted(table["region"]) == sorted(REGIONS_68) and table["baseline"].nunique() == 1
    seen = json.loads((run_dir / "explanations" / "explanations.json").read_text())["region_importance"]
    assert seen["test_subjects"] == json.loads((run_dir / "subjects.json").read_text())["test"]


IMAGE_OVERRIDES = ["--data.init_args.cache_dir", "null", "--data.init_args.batch_size", "8",
                   "--model.init_args.net.init_args.d_model", "16", "--model.init_args.net.init_args.nhead", "2",
                   "--model.init_args.net.init_args.dim_feedforward", "32", "--trainer.max_epochs", "1",
                   "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", "--tracking.wandb",
                   "disabled"]


@pytest.fixture(scope="module")
def face_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datamodules.synthetic.faces import make_face_demo

    return make_face_demo(tmp_path_factory.mktemp("faces"), images_per_class=6, size=64,
                          classes=("happy", "sad", "neutral"), seed=2)


def test_hybrid_image_training_with_explain_writes_attention_overlays(face_manifest: Path, tmp_path: Path) -> None:
    from facedep.experiment.train import run_training

    result = run_training(["--config", str(ROOT / "configs" / "images" / "demo.yaml"), "--data.init_args.manifest",
                           str(face_manifest), "--data.init_args.num_folds", "3", *IMAGE_OVERRIDES,
                           "--run.output_dir", str(tmp_path / "runs"), "--run.name", "faces", "--run.explain", "true"])
    paths = result["explanations"]
    assert paths["kind"] == "images" and Path(paths["grad_cam"]).read_bytes().startswith(PNG_MAGIC)
    saved = np.load(paths["grad_cam_npz"])
    assert saved["maps"].shape == (6, 64, 64)  # 18 images in 3 folds: 6 test faces, each its own subject
    assert np.isfinite(saved["maps"].astype(float)).all() and float(saved["maps"].max()) == pytest.approx(1.0, abs=1e-3)
    assert json.loads(Path(paths["summary"]).read_text())["grad_cam"]["map"] == "attention"


@pytest.mark.slow
def test_image_cross_validation_lists_each_folds_attention_figure(face_manifest: Path, tmp_path: Path) -> None:
    from facedep.experiment.cross_validate import cross_validate

    summary = cross_validate(str(ROOT / "configs" / "images" / "demo.yaml"), folds=2, n_boot=10, overrides=[
        "--data.init_args.manifest", str(face_manifest), *IMAGE_OVERRIDES,
        "--run.output_dir", str(tmp_path / "runs"), "--run.name", "cv"])
    cv_dir = tmp_path / "runs" / "cv"
    figures = summary["explanations"]["grad_cam"]["figures"]
    assert figures == {f"fold{k}": f"fold{k}/explanations/grad_cam.png" for k in (0, 1)}
    assert all((cv_dir / path).read_bytes().startswith(PNG_MAGIC) for path in figures.values())
    assert "attention" in summary["explanations"]["grad_cam"]["method"]
    report = (cv_dir / "report.md").read_text()
    assert "## Explanations" in report and "### Face images" in report and "fold1/explanations/grad_cam.png" in report
    saved = json.loads((cv_dir / "report.json").read_text())["explanations"]
    assert saved["grad_cam"]["figures"] == figures and "channels" not in saved


FUSION_OVERRIDES = ["--data.init_args.window", "16", "--data.init_args.stride", "16", "--data.init_args.cache_dir",
                    "null", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar",
                    "false"]


@pytest.fixture(scope="module")
def fusion_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datamodules.synthetic.multimodal import make_multimodal_demo

    return make_multimodal_demo(tmp_path_factory.mktemp("fusion"), num_subjects=9, frames=(60, 80), seed=1)


def test_fusion_training_with_explain_on_the_multimodal_datamodule(fusion_manifest: Path, tmp_path: Path) -> None:
    from facedep.experiment.train import run_training

    result = run_training(["--config", str(ROOT / "configs" / "fusion" / "demo.yaml"), "--data.init_args.manifest",
                           str(fusion_manifest), "--data.init_args.num_folds", "3", *FUSION_OVERRIDES,
                           "--tracking.wandb", "disabled", "--run.output_dir", str(tmp_path / "runs"),
                           "--run.name", "fusion", "--run.explain", "true"])
    paths, run_dir = result["explanations"], Path(result["run_dir"])
    assert paths["kind"] == "fusion"
    views = pd.read_csv(paths["view_contribution"])
    assert views["view"].tolist() == VIEWS and views["attention_received"].between(0, 1).all()
    assert len(pd.read_csv(paths["channel_importance"])) == 17  # the AU view's channels
    assert sorted(pd.read_csv(paths["region_importance"])["region"]) == sorted(REGIONS_68)
    saved = json.loads(Path(paths["summary"]).read_text())
    assert saved["view_contribution"]["test_subjects"] == json.loads((run_dir / "subjects.json").read_text())["test"]
    cams = np.load(paths["grad_cam_npz"])  # Grad-CAM of the fused output on test windows' crops (one per subject)
    assert Path(paths["grad_cam"]).is_file() and cams["maps"].shape == cams["images"].shape[:3]
    assert cams["images"].dtype == np.uint8 and 0 <= float(cams["maps"].min()) and float(cams["maps"].max()) <= 1
    assert set(saved["grad_cam"]["test_subjects"]) <= set(saved["view_contribution"]["test_subjects"])


@pytest.mark.slow
def test_fusion_cross_validation_reports_views_regions_and_aus(fusion_manifest: Path, tmp_path: Path) -> None:
    from facedep.experiment.cross_validate import cross_validate

    summary = cross_validate(str(ROOT / "configs" / "fusion" / "demo.yaml"), folds=2, n_boot=10, overrides=[
        "--data.init_args.manifest", str(fusion_manifest), *FUSION_OVERRIDES, "--tracking.wandb", "offline",
        "--run.output_dir", str(tmp_path / "runs"), "--run.name", "cv"])
    cv_dir = tmp_path / "runs" / "cv"
    for name in ("view_contribution", "region_importance", "au_importance"):
        assert (cv_dir / f"{name}.png").is_file() and (cv_dir / f"{name}.csv").is_file(), name
    report = (cv_dir / "report.md").read_text()
    for part in ("### Views", "### Landmark regions", "### AU channels", "view_contribution.png"):
        assert part in report, part
    explanations = summary["explanations"]
    assert {row["view"] for row in explanations["views"]["views"]} == set(VIEWS)
    assert set(explanations["images"]) == {"au_importance.png", "region_importance.png", "view_contribution.png"}
