"""Cross-validation end to end: every subject tested once, report written, the planted effect learned."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from facedep.experiment.cross_validate import cross_validate

ROOT = Path(__file__).resolve().parents[1]


def test_cross_validation_learns_planted_effect_and_reports(demo_manifest: Path, tmp_path: Path) -> None:
    overrides = [
        "--data.init_args.manifest", str(demo_manifest),
        "--run.output_dir", str(tmp_path / "runs"),
        "--run.name", "cv",
        "--trainer.max_epochs", "8",
        "--model.init_args.net", "lightning_modules.nets.InceptionTime",
        "--model.init_args.net.init_args.num_filters", "8",
        "--model.init_args.net.init_args.depth", "3",
        "--model.init_args.net.init_args.bottleneck", "8",
    ]
    summary = cross_validate(str(ROOT / "configs" / "tests" / "tiny.yaml"), folds=3, overrides=overrides, n_boot=200)
    cv_dir = tmp_path / "runs" / "cv"
    for name in ("report.md", "report.json", "confusion_subject.png", "roc_subject.png"):
        assert (cv_dir / name).exists(), name
    tested = pd.concat([pd.read_csv(cv_dir / f"fold{k}" / "predictions_test_subject.csv") for k in range(3)])
    assert tested["name"].is_unique and len(tested) == 18  # each subject is a test subject exactly once
    subject = summary["levels"]["subject"]
    assert len(subject["metrics"]["macro_f1"]["per_fold"]) == 3
    pooled = subject["pooled"]["metrics"]["macro_f1"]
    assert pooled["ci_low"] <= pooled["value"] <= pooled["ci_high"]
    assert pooled["value"] >= 0.8  # the synthetic depressed group has higher AU01/AU04/AU15, lower AU06/AU12
    assert json.loads((cv_dir / "report.json").read_text())["class_names"] == ["healthy", "depressed"]
    assert "±" in (cv_dir / "report.md").read_text()
