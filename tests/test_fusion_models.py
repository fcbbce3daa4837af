"""FusionNet and the multimodal tasks: view subsets, absent views, modality dropout, attention, a planted problem,
training, checkpoints and configs."""

from __future__ import annotations

from functools import partial
from itertools import combinations
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LightningArgumentParser
from torch.utils.data import DataLoader, Dataset

from facedep.inference.checkpoints import build_module, load_checkpoint
from lightning_modules import MultimodalClassifier, MultimodalRegressor
from lightning_modules.nets import CNNLSTM, FusionNet, ImageCNN, RecurrentNet

T, C_AU, P, F, S = 8, 5, 10, 2, 16
CHANNELS = {"aus": C_AU, "landmarks": 3, "faces": 3}
TINY = {"embed_dim": 8, "aus_encoder": partial(RecurrentNet, hidden_size=8, cell="gru"),
        "landmarks_encoder": partial(ImageCNN, conv_channels=(4, 8), dropout=0.0),
        "faces_encoder": partial(CNNLSTM, conv_channels=(4, 8), hidden_size=8, dropout=0.0)}
SUBSETS = [list(c) for k in (1, 2, 3) for c in combinations(CHANNELS, k)]


def views_batch(n: int, views: list[str], present: torch.Tensor | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """A contract ``x``: random views (absent ones all zeros) and ``present``."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"aus": (n, T, C_AU), "landmarks": (n, T, P, 3), "faces": (n, F, 3, S, S)}
    x = {v: torch.randn(shapes[v], generator=g) for v in views}
    x["present"] = torch.ones(n, len(views), dtype=torch.bool) if present is None else present
    for j, v in enumerate(views):
        x[v][~x["present"][:, j]] = 0.0
    return x


def tiny_net(views: list[str], num_classes: int = 2, **kwargs: object) -> FusionNet:
    return FusionNet({v: CHANNELS[v] for v in views}, num_classes, **{**TINY, **kwargs})


# ---- FusionNet ---------------------------------------------------------------------------------
@pytest.mark.parametrize("views", SUBSETS, ids=["+".join(v) for v in SUBSETS])
def test_shapes_per_view_subset(views: list[str]) -> None:
    net = tiny_net(views, num_classes=3)
    x = views_batch(4, views)
    assert net(x).shape == (4, 3)
    assert net.last_attention.shape == (4, len(views), len(views))
    embeddings = net.view_embeddings(x)
    assert set(embeddings) == {*views, "fused"} and embeddings["fused"].shape == (4, 8)


def test_default_encoders_all_views() -> None:
    net = FusionNet(CHANNELS, 2)
    x = views_batch(3, list(CHANNELS))
    out = net(x)
    out.sum().backward()
    assert out.shape == (3, 2) and all(p.grad is not None for p in net.encoders.parameters())


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown view"):
        FusionNet({"audio": 4}, 2)
    with pytest.raises(ValueError, match="divisible"):
        FusionNet({"aus": 4}, 2, embed_dim=10, attention_heads=4)
    net = tiny_net(["aus", "landmarks"])
    with pytest.raises(ValueError, match="lacks"):
        net({"aus": torch.zeros(2, T, C_AU), "present": torch.ones(2, 2, dtype=torch.bool)})


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_absent_view_does_not_change_the_output(training: bool) -> None:
    """Noise in an absent view's tensor changes nothing: no encoder, attention, LayerNorm or BatchNorm leak."""
    views = ["aus", "landmarks", "faces"]
    torch.manual_seed(0)
    net = tiny_net(views, landmarks_encoder=partial(ImageCNN, conv_channels=(4, 8), dropout=0.0, batch_norm=True),
                   modality_dropout=0.0, dropout=0.0).train(training)
    present = torch.tensor([[True, False, True], [False, True, True], [True, True, False], [True, True, True],
                            [False, False, True], [True, False, False]])
    x = views_batch(len(present), views, present)
    noisy = {k: v.clone() for k, v in x.items()}
    for j, v in enumerate(views):
        noisy[v][~present[:, j]] = 100.0 * torch.randn_like(noisy[v][~present[:, j]])
        noisy[v].requires_grad_(True)
    reference = net(x)
    out = net(noisy)
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-6)
    out.sum().backward()
    for j, v in enumerate(views):
        grad = noisy[v].grad
        assert grad is None or grad[~present[:, j]].abs().max() == 0
    # the absent view's encoder does not even run (in training, a view absent from the whole batch runs on one
    # window times 0, so that DDP sees every parameter used)
    net.eval()
    net.encoders["faces"].forward = lambda inputs: (_ for _ in ()).throw(AssertionError("absent faces encoded"))
    only = present.clone()
    only[:, 2] = False
    only[4, 0] = True
    assert net(views_batch(len(only), views, only)).isfinite().all()


def test_view_absent_from_a_whole_batch_still_gets_zero_gradients() -> None:
    """Every parameter takes part in a training step (DDP), with no effect on the output."""
    views = ["aus", "landmarks"]
    net = tiny_net(views, modality_dropout=0.0, dropout=0.0)
    present = torch.tensor([[True, False]] * 3)
    x = views_batch(3, views, present)
    out = net(x)
    out.sum().backward()
    grads = [p.grad for p in net.encoders["landmarks"].parameters()]
    assert all(g is not None and g.abs().max() == 0 for g in grads)
    torch.testing.assert_close(out, net.eval()(x))


def test_window_without_any_view_gives_a_finite_constant() -> None:
    net = tiny_net(["aus", "landmarks"]).eval()
    none = torch.zeros(2, 2, dtype=torch.bool)
    a, b = net(views_batch(2, ["aus", "landmarks"], none, seed=1)), net(views_batch(2, ["aus", "landmarks"], none, seed=2))
    assert a.isfinite().all()
    torch.testing.assert_close(a, b)


def test_modality_dropout_never_drops_all_views_and_is_off_in_eval() -> None:
    views = ["aus", "landmarks", "faces"]
    net = tiny_net(views, modality_dropout=0.9)
    present = torch.rand(4000, 3, generator=torch.Generator().manual_seed(0)) < 0.7
    present[0] = False  # a window without views stays without
    kept = net.train().drop_modalities(present)
    assert not (kept & ~present).any(), "a view absent from the data was turned on"
    assert torch.equal(kept.any(1), present.any(1)), "a window lost all its views"
    many = present.sum(1) >= 2
    dropped = (present & ~kept)[many].sum() / present[many].sum()
    assert 0.5 < dropped < 0.9  # most views dropped at p = 0.9, never all
    single = tiny_net(["aus"], modality_dropout=0.9).train()
    assert torch.equal(single.drop_modalities(torch.ones(50, 1, dtype=torch.bool)), torch.ones(50, 1, dtype=torch.bool))
    assert torch.equal(net.eval().drop_modalities(present), present)
    x = views_batch(64, views, present[:64])
    net.eval()(x)
    assert torch.equal(net.last_present, present[:64])
    net.train()(x)
    assert net.last_present.sum() < present[:64].sum() and torch.equal(net.last_present.any(1), present[:64].any(1))


def test_attention_weights_skip_absent_views() -> None:
    views = ["aus", "landmarks", "faces"]
    net = tiny_net(views, attention_layers=2).eval()
    present = torch.tensor([[True, True, True], [True, False, True], [False, True, False]])
    net(views_batch(3, views, present))
    weights = net.last_attention
    assert weights.shape == (3, 3, 3)
    pair = present[:, :, None] & present[:, None, :]
    assert (weights[~pair] == 0).all()
    torch.testing.assert_close(weights.sum(-1)[present], torch.ones(int(present.sum())))


def _planted(n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The label is in the AUs for even windows, in the landmarks for odd ones; the other view is noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    sign = (2.0 * y - 1.0)[:, None]
    by_aus = torch.arange(n) % 2 == 0
    x = views_batch(n, ["aus", "landmarks"], seed=seed + 100)
    x["aus"][:, :, 0] += 1.5 * sign * by_aus[:, None]
    x["landmarks"][:, :, 0, 0] += 1.5 * sign * ~by_aus[:, None]
    return x, y


def test_fusion_learns_what_no_single_view_can() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread is faster, and fair to the other jobs on shared cores
    try:
        _check_planted_problem()
    finally:
        torch.set_num_threads(threads)


def _check_planted_problem() -> None:
    train, test = _planted(256, 1), _planted(512, 2)

    def accuracy(views: list[str]) -> float:
        torch.manual_seed(0)
        net = tiny_net(views, dropout=0.0)
        cols = [["aus", "landmarks"].index(v) for v in views]

        def pick(x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {**{v: x[v] for v in views}, "present": x["present"][:, cols]}

        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(80):
            loss = torch.nn.functional.cross_entropy(net(pick(train[0])), train[1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            return (net.eval()(pick(test[0])).argmax(1) == test[1]).float().mean().item()

    single = max(accuracy(["aus"]), accuracy(["landmarks"]))
    fused = accuracy(["aus", "landmarks"])
    assert single < 0.8 and fused > 0.85 and fused > single + 0.1, (single, fused)


# ---- Lightning tasks ---------------------------------------------------------------------------
class Windows(Dataset):
    """Contract items: ``x`` (views + present), ``y``, ``video``, ``subject``, ``index``."""

    def __init__(self, n: int, views: list[str], score: bool, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        present = torch.rand(n, len(views), generator=g) < 0.8
        present[torch.arange(n), torch.randint(0, len(views), (n,), generator=g)] = True
        self.x = views_batch(n, views, present, seed)
        self.y = torch.rand(n, generator=g) * 24 if score else torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"x": {k: v[i] for k, v in self.x.items()}, "y": self.y[i], "video": torch.tensor(i // 4),
                "subject": torch.tensor(i // 8), "index": torch.tensor(i)}


class TinyMultimodalData(pl.LightningDataModule):
    """In-memory stand-in for MultimodalDataModule: the contract's batches and ``num_channels``."""

    def __init__(self, views: list[str] | None = None, score: bool = False) -> None:
        super().__init__()
        self.views, self.score = views or ["aus", "landmarks"], score
        self.num_classes = 1 if score else 2
        self.class_names = ["phq8"] if score else ["healthy", "depressed"]

    @property
    def num_channels(self) -> dict[str, int]:
        return {v: CHANNELS[v] for v in self.views}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(Windows(32, self.views, self.score, 0), batch_size=8, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(Windows(16, self.views, self.score, 1), batch_size=8)

    test_dataloader = val_dataloader


def _fit(model: pl.LightningModule, data: pl.LightningDataModule, root: Path) -> pl.Trainer:
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=root)
    trainer.fit(model, data)
    return trainer


TINY_NET = {"class_path": "lightning_modules.nets.FusionNet", "init_args": {
    "embed_dim": 8, "aus_encoder": {"class_path": "lightning_modules.nets.RecurrentNet", "init_args": {"hidden_size": 8}},
    "landmarks_encoder": {"class_path": "lightning_modules.nets.ImageCNN", "init_args": {"conv_channels": [4, 8]}}}}


@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_task_trains_saves_and_loads_safely(task: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    score = task == "regressor"
    data = TinyMultimodalData(score=score)
    net = partial(FusionNet, **{k: v for k, v in TINY.items() if k != "faces_encoder"})
    if score:
        model = MultimodalRegressor(net=net, in_channels=data.num_channels, class_names=["phq8"])
    else:
        model = MultimodalClassifier(net=net, in_channels=data.num_channels, num_classes=2,
                                     class_names=data.class_names)
    trainer = _fit(model, data, tmp_path)
    assert trainer.current_epoch == 2
    metric = "val/window/mae" if score else "val/subject/macro_f1"
    assert metric in trainer.callback_metrics and "val/selection_score" in trainer.callback_metrics
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["in_channels"] == {"aus": C_AU, "landmarks": 3}
    aus_encoder = checkpoint["hyper_parameters"]["net"]["init_args"]["aus_encoder"]
    assert aus_encoder["class_path"] == "lightning_modules.nets.recurrent.RecurrentNet"
    x = next(iter(data.val_dataloader()))["x"]
    expected = model.eval()(x)
    for loaded in (type(model).load_from_checkpoint(path, map_location="cpu"),
                   build_module(load_checkpoint(path), path, f"lightning_modules.{type(model).__name__}")):
        assert type(loaded) is type(model)
        torch.testing.assert_close(loaded.eval()(x), expected)
    assert trainer.test(model, data, verbose=False, ckpt_path=None)


def test_config_builds_through_the_cli_parser() -> None:
    """The CLI's way: class_path/init_args (nested encoders) and ``data.num_channels`` linked to ``in_channels``."""
    parser = LightningArgumentParser(exit_on_error=False)
    parser.add_lightning_class_args(pl.LightningModule, "model", subclass_mode=True)
    parser.add_lightning_class_args(pl.LightningDataModule, "data", subclass_mode=True)
    parser.link_arguments("data.num_channels", "model.init_args.in_channels", apply_on="instantiate")
    parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
    for model_class in ("MultimodalClassifier", "MultimodalRegressor"):
        score = model_class == "MultimodalRegressor"
        config = parser.parse_object({
            "model": {"class_path": f"lightning_modules.{model_class}", "init_args": {"net": TINY_NET}},
            "data": {"class_path": f"{__name__}.TinyMultimodalData",
                     "init_args": {"views": ["aus", "landmarks", "faces"], "score": score}}})
        model = parser.instantiate_classes(config)["model"]
        assert type(model).__name__ == model_class
        assert isinstance(model.net, FusionNet) and model.net.views == ["aus", "landmarks", "faces"]
        assert model.net.encoders["aus"].rnn.hidden_size == 8
        out = model(views_batch(2, ["aus", "landmarks", "faces"]))
        assert out.shape == ((2,) if score else (2, 2))
