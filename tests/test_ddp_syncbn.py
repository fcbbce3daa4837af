"""``configs/trainer/ddp.yaml`` and SyncBatchNorm: the fragment composes with task configs, ``sync_batchnorm`` reaches
Lightning's layer sync from YAML, and (2 processes) BatchNorm statistics agree across ranks.

torch's SyncBatchNorm only synchronises CUDA tensors (it raises on CPU), so the 2-rank check of equal running
statistics needs 2 GPUs (``gpu`` marker); the ``slow`` CPU run (gloo) checks the same harness without sync.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from facedep.experiment.cli import FacedepCLI

ROOT = Path(__file__).resolve().parents[1]
DDP = ROOT / "configs" / "trainer" / "ddp.yaml"


def test_ddp_fragment_composes_with_a_task_config(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        FacedepCLI(args=["--config", str(ROOT / "configs/images/hybrid_affectnet.yaml"), "--config", str(DDP), "--print_config"])
    assert done.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    trainer = config["trainer"]
    assert trainer["strategy"]["class_path"] == "pytorch_lightning.strategies.DDPStrategy"
    assert trainer["strategy"]["init_args"]["find_unused_parameters"] is False
    assert (trainer["devices"], trainer["num_nodes"], trainer["precision"]) == ("auto", 1, "bf16-mixed")
    assert trainer["sync_batchnorm"] is False
    assert [c["class_path"] for c in trainer["callbacks"]] == ["pytorch_lightning.callbacks.EarlyStopping"]  # kept
    assert config["model"]["class_path"] == "lightning_modules.HybridAttentionClassifier"
    assert config["data"]["init_args"]["batch_size"] == 64


def test_sync_batchnorm_from_yaml_converts_batchnorm(demo_manifest: Path, tmp_path: Path) -> None:
    from pytorch_lightning.plugins import TorchSyncBatchNorm
    from pytorch_lightning.strategies import DDPStrategy

    from lightning_modules.nets import InceptionTime

    cli = FacedepCLI(args=[
        "--config", str(ROOT / "configs/tests/tiny.yaml"), "--config", str(DDP),
        "--trainer.sync_batchnorm", "true", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
        "--trainer.precision", "32-true", "--data.init_args.manifest", str(demo_manifest),
        "--run.output_dir", str(tmp_path / "runs"),
    ])
    assert isinstance(cli.trainer.strategy, DDPStrategy)
    layer_sync = cli.trainer.strategy._layer_sync  # what DDPStrategy.setup applies to the model before fitting
    assert isinstance(layer_sync, TorchSyncBatchNorm)

    net = InceptionTime(17, 2, num_filters=8, depth=3).eval()
    x = torch.randn(2, 40, 17)
    synced = layer_sync.apply(copy.deepcopy(net))
    kinds = {type(m).__name__ for m in synced.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert kinds == {"SyncBatchNorm"}
    torch.testing.assert_close(synced(x), net(x))  # one process / eval: SyncBatchNorm == BatchNorm
    reverted = layer_sync.revert(synced)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in reverted.modules())


@pytest.mark.xfail(strict=True, reason="Lightning's sync_batchnorm calls torch's convert_sync_batchnorm, which replaces "
                   "timm's BatchNormAct2d (MobileNetV2, EfficientNet) by a plain SyncBatchNorm and drops its activation")
def test_lightning_sync_batchnorm_keeps_timm_norm_act_layers() -> None:
    import timm
    from pytorch_lightning.plugins import TorchSyncBatchNorm

    net = timm.create_model("test_efficientnet", num_classes=2).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(TorchSyncBatchNorm().apply(copy.deepcopy(net)).eval()(x), net(x))


def test_timm_sync_batchnorm_plugin_keeps_norm_act_layers_and_reverts(demo_manifest: Path, tmp_path: Path) -> None:
    import timm

    from facedep.experiment.sync_batchnorm import TimmSyncBatchNorm

    net = timm.create_model("test_efficientnet", num_classes=2).eval()
    x = torch.randn(2, 3, 32, 32)
    synced = TimmSyncBatchNorm().apply(copy.deepcopy(net)).eval()
    assert {type(m).__name__ for m in synced.modules() if isinstance(m, torch.nn.SyncBatchNorm)} == {"SyncBatchNormAct"}
    torch.testing.assert_close(synced(x), net(x))
    reverted = TimmSyncBatchNorm().revert(synced).eval()
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in reverted.modules())
    assert reverted.state_dict().keys() == net.state_dict().keys()
    torch.testing.assert_close(reverted(x), net(x))

    cli = FacedepCLI(args=[
        "--config", str(ROOT / "configs/tests/tiny.yaml"), "--config", str(DDP),
        "--trainer.sync_batchnorm", "true", "--trainer.plugins", '[{"class_path": "facedep.experiment.sync_batchnorm.TimmSyncBatchNorm"}]',
        "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.precision", "32-true",
        "--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path / "runs"),
    ])
    assert isinstance(cli.trainer.strategy._layer_sync, TimmSyncBatchNorm)  # the plugin replaces Lightning's default


SCRIPT = '''
import json, sys
import pytorch_lightning as pl, torch
from torch import nn

accelerator, sync, out = sys.argv[1], sys.argv[2] == "1", sys.argv[3]


class Net(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)

    def on_train_end(self):  # before Lightning reverts SyncBatchNorm at teardown
        bn = self.body[1]
        record = {"type": type(bn).__name__, "mean": bn.running_mean.tolist(), "var": bn.running_var.tolist()}
        with open(f"{out}/rank{self.global_rank}.json", "w") as f:
            json.dump(record, f)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


g = torch.Generator().manual_seed(0)
x = torch.randn(64, 3, 8, 8, generator=g) * torch.linspace(0.5, 3, 64).view(-1, 1, 1, 1)  # shards differ in scale
data = torch.utils.data.TensorDataset(x, torch.randint(0, 2, (64,), generator=g))
pl.seed_everything(0)
trainer = pl.Trainer(accelerator=accelerator, devices=2, strategy="ddp", sync_batchnorm=sync, max_steps=4,
                     logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Net(), torch.utils.data.DataLoader(data, batch_size=8, shuffle=False))
# Leave without C++ static destructors: gloo's threads at interpreter exit sometimes abort a finished run
# ("terminate called without an active exception", exit -6) after every rank has written its record.
if torch.distributed.is_initialized():
    torch.distributed.barrier()  # every rank has written its record
    torch.distributed.destroy_process_group()
sys.stdout.flush(); sys.stderr.flush()
import os
os._exit(0)
'''


def run_two_ranks(tmp_path: Path, accelerator: str, sync: bool) -> list[dict]:
    script = tmp_path / "syncbn_run.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), accelerator, "1" if sync else "0", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]


def _same_stats(ranks: list[dict]) -> bool:
    return all(torch.allclose(torch.tensor(ranks[0][k]), torch.tensor(ranks[1][k]), atol=1e-6) for k in ("mean", "var"))


@pytest.mark.slow
def test_two_cpu_ranks_without_sync_keep_their_own_statistics(tmp_path: Path) -> None:
    ranks = run_two_ranks(tmp_path, "cpu", sync=False)
    assert [r["type"] for r in ranks] == ["BatchNorm2d", "BatchNorm2d"]
    assert not _same_stats(ranks)  # the shards differ, so unsynchronised statistics differ


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="SyncBatchNorm across 2 ranks needs 2 GPUs")
def test_two_gpu_ranks_with_sync_batchnorm_share_statistics(tmp_path: Path) -> None:
    ranks = run_two_ranks(tmp_path, "gpu", sync=True)
    assert [r["type"] for r in ranks] == ["SyncBatchNorm", "SyncBatchNorm"]
    assert _same_stats(ranks)
