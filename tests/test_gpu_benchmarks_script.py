"""``scripts/gpu_benchmarks.sh`` rehearsed on the CPU (``SMOKE=1``): every step of the calls a lent GPU runs
(part ``quick``, then parts 1-4) must get through here first (a lent machine's minutes are few; 2026-12-06
this caught the x4 face manifest that the duplicate check now refuses), and the kit step must verify its
wheels before installing them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_benchmarks.sh"
QUICK_STEPS = ("kit", "environment", "rocket_gpu", "faces", "faces_x4", "train_resnet50_gpu_aug_compiled_x4",
               "images_resnet50")

needs_bash = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils' timeout")


def run_script(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The script with this interpreter, SMOKE sizes, faces and the kit under ``tmp_path``."""
    environment = {**os.environ, "SMOKE": "1", "PYTHON": sys.executable, "FACES": str(tmp_path / "faces"),
                   "KIT": str(tmp_path / "kit"), "KIT_WHEELS": str(tmp_path / "no_wheels"), **env}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=900, check=False)


def summary_codes(results: Path) -> dict[str, int]:
    """``summary.txt``: step name -> exit code."""
    lines = (results / "summary.txt").read_text().splitlines()
    return {line.split()[0]: int(line.split()[1].removeprefix("rc=")) for line in lines}


@pytest.mark.slow
@needs_bash
def test_quick_part_runs_every_step_on_the_cpu(tmp_path: Path) -> None:
    results, archive = tmp_path / "results", tmp_path / "results.tgz"
    done = run_script(tmp_path, "quick", str(results), str(archive))
    assert done.returncode == 0, done.stderr[-2000:]
    codes = summary_codes(results)
    assert list(codes) == list(QUICK_STEPS)
    failed = {name: (results / f"{name}.log").read_text()[-1500:] for name, rc in codes.items() if rc != 0}
    assert not failed, failed
    rocket = json.loads((results / "rocket_gpu.json").read_text())
    assert rocket["shape"] == [24, 17, 256] and all(rate > 0 for rate in rocket["ours"].values())
    manifest_rows = (tmp_path / "faces" / "x4" / "manifest.csv").read_text().splitlines()
    assert len(manifest_rows) - 1 == 4 * 32  # 2 parts x 4 classes x 4 faces, listed 4 times
    linked = next((tmp_path / "faces" / "x4" / "k3").rglob("*.jpg"))
    assert linked.stat().st_nlink == 5  # the drawn file and its 4 hard links: no copy, no duplicate path
    epochs = json.loads((results / "resnet50_gpu_aug_compiled_x4.step_times.json").read_text())["epochs"]
    assert len(epochs) == 2 and all(e["samples_per_s"] > 0 for e in epochs)
    training = json.loads((results / "images_resnet50.json").read_text())["train"]
    assert all(training[side]["images_per_s"] > 0 for side in ("cache_u8", "cache_gpu_aug"))
    with tarfile.open(archive) as tar:  # what a cut-off call still returns: packed after every step
        assert "./summary.txt" in tar.getnames()


@pytest.mark.slow
@needs_bash
def test_every_part_runs_every_step_on_the_cpu(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = run_script(tmp_path, "all", str(results))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (results / "summary.txt").read_text().splitlines()
    failed = [line for line in lines if not line.split()[1] == "rc=0"]
    assert not failed, {line: (results / f"{line.split()[0]}.log").read_text()[-1500:] for line in failed}
    steps = {line.split()[0] for line in lines}
    assert {"images_resnet50", "train_hybrid", "pytest_gpu", "models_au", "rocket_gpu", "models_compile",
            "overhead_lstm", "overhead_resnet50", "train_resnet50_x4"} <= steps
    assert json.loads((results / "overhead_lstm.json").read_text())["ratio"] > 0


@needs_bash
def test_kit_step_refuses_a_wheel_folder_whose_checksums_fail(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    (wheels / "aeon").mkdir(parents=True)
    wheel = wheels / "tampered-1.0-py3-none-any.whl"
    wheel.write_bytes(b"not the file that was summed")
    (wheels / "SHA256SUMS").write_text(f"{hashlib.sha256(b'original').hexdigest()}  ./{wheel.name}\n")
    results = tmp_path / "results"
    done = run_script(tmp_path, "quick", str(results), ONLY="kit", KIT_WHEELS=str(wheels))
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary_codes(results) == {"kit": 1}
    assert "FAILED" in (results / "kit.log").read_text()
    assert not (tmp_path / "kit").exists()  # nothing installed


@needs_bash
def test_kit_step_refuses_wheels_built_for_another_python(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    (wheels / "aeon").mkdir(parents=True)
    (wheels / "PYTHON").write_text("2.7\n")
    (wheels / "SHA256SUMS").write_text(f"{hashlib.sha256(b'2.7' + bytes([10])).hexdigest()}  PYTHON\n")
    results = tmp_path / "results"
    done = run_script(tmp_path, "quick", str(results), ONLY="kit", KIT_WHEELS=str(wheels))
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary_codes(results) == {"kit": 1}
    version = "%d.%d" % sys.version_info[:2]
    assert f"holds wheels for Python 2.7, this is {version}: not installed" in (results / "kit.log").read_text()
    assert not (tmp_path / "kit").exists()


@needs_bash
def test_unknown_part_is_refused_by_name(tmp_path: Path) -> None:
    done = run_script(tmp_path, "fast", str(tmp_path / "results"))
    assert done.returncode == 2 and "not fast" in done.stderr
