"""Every shipped config parses: its classes exist and its keys are valid (no data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facedep.experiment.cli import FacedepCLI
from facedep.experiment.config_hints import hints_for_args

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml")  # search spaces: tests/test_tuning_space.py
                 if p.relative_to(ROOT / "configs").parts[0] != "search")


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c.relative_to(ROOT / "configs")) for c in CONFIGS])
def test_config_parses(config: Path, capsys: pytest.CaptureFixture) -> None:
    assert hints_for_args(["--config", str(config)]) == []
    with pytest.raises(SystemExit) as done:
        FacedepCLI(args=["--config", str(config), "--print_config"])
    assert done.value.code == 0
    assert "class_path:" in capsys.readouterr().out
