"""``make demo-fusion`` end to end: every single view, late and intermediate fusion under the same subject folds.

The demo's data plant the depression signal of half the depressed subjects in their AUs only and of the other half
in their face only (landmark brows and mouth, dark circles in the crops): no single view can find every depressed
subject, fusion can. Checked here on exactly the demo's data and settings (slow: about 5 minutes on 2 cores):

- both fusions beat every single view in subject macro-F1 (mean over the same 5 folds), and every row used the
  same test subjects in every fold;
- the explanations find what was planted: the fusion model's AU importance ranks planted AUs first, its landmark
  region importance ranks the planted regions (brows, mouth) first, and the landmark-only model ranks brows first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from datamodules.synthetic.multimodal import make_multimodal_demo
from facedep.experiment.compare import compare_models

ROOT = Path(__file__).resolve().parents[1]
PLANTED_AUS = {"AU01_r", "AU04_r", "AU15_r", "AU06_r", "AU12_r"}
PLANTED_REGIONS = {"brows", "mouth"}
VIEWS = ("aus", "landmarks", "faces")
FUSIONS = ("late_fusion", "intermediate_fusion")


def ranked(table: pd.DataFrame, key: str) -> list[str]:
    """Names ordered as the report ranks them: mean drop in subject macro-F1, ties by the log-loss increase."""
    return table.sort_values(["mean", "log_loss_mean"], ascending=False)[key].tolist()


@pytest.mark.slow
def test_demo_fusion_beats_every_view_and_explains_the_planted_signal(tmp_path: Path) -> None:
    manifest = make_multimodal_demo(tmp_path / "data", seed=0)  # the Makefile's demo_fusion/ (the CLI's defaults)
    overrides = ["--data.init_args.manifest", str(manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--data.init_args.cache_dir", str(tmp_path / "cache")]
    summaries = compare_models(str(ROOT / "configs" / "fusion" / "demo.yaml"), 5, None, overrides, inner_folds=2)
    assert list(summaries) == [*VIEWS, *FUSIONS]
    f1 = {row: summaries[row]["levels"]["subject"]["metrics"]["macro_f1"]["mean"] for row in summaries}
    for fused in FUSIONS:
        assert f1[fused] > max(f1[v] for v in VIEWS), f1

    check_outputs(tmp_path / "runs" / "fusion-demo-compare", list(summaries))


def check_outputs(root: Path, rows: list[str]) -> None:
    """The comparison's files: same test subjects in every row, the planted signal found by the explanations."""
    table = json.loads((root / "table.json").read_text())
    assert set(table) == set(rows) and (root / "table.md").is_file()
    for fold in range(5):  # the same test subjects in every row (late fusion: subject level only)
        tests = {row: set(pd.read_csv(root / row / f"fold{fold}" / "predictions_test_subject.csv")["name"].astype(str))
                 for row in rows}
        assert tests["aus"] == tests["intermediate_fusion"] == tests["late_fusion"]  # every subject has AUs
        assert tests["landmarks"] <= tests["aus"] and tests["faces"] <= tests["aus"]  # minus those without the view

    fusion = root / "intermediate_fusion"
    aus = ranked(pd.read_csv(fusion / "au_importance.csv"), "channel")
    assert set(aus[:3]) <= PLANTED_AUS, aus[:5]
    regions = pd.read_csv(fusion / "region_importance.csv").sort_values("log_loss_mean", ascending=False)["region"]
    assert set(regions.tolist()[:2]) == PLANTED_REGIONS, regions.tolist()
    assert ranked(pd.read_csv(root / "landmarks" / "region_importance.csv"), "region")[0] == "brows"
    views = pd.read_csv(fusion / "view_contribution.csv").set_index("view")
    assert (views["mean"] >= -0.05).all() and views.loc["aus", "mean"] > 0.1  # half the depressed: only in the AUs
    report = (fusion / "report.md").read_text()
    assert "## Explanations" in report and "view_contribution.png" in report
    assert "## Late fusion" in (root / "late_fusion" / "report.md").read_text()
