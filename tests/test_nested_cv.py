"""Nested cross-validation (``cross_validate.py --tune``): no trial of an outer fold ever sees, or even reads, that
fold's test subjects; the fold is trained with its best values; the report carries the nested table.

One nested run (3 outer folds x 2 trials x 2 inner folds, 1 epoch) is shared by the tests of this module; it
goes through ``cross_validate.main`` (the command line) with the AU file loader spied on.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")
FOLDS, INNER, TRIALS = 3, 2, 2
LR = "model.init_args.optimizer.init_args.lr"

pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI's args parameter", "ignore::UserWarning")


def _subjects_of_files(manifest: Path) -> dict[str, str]:
    """Resolved file path -> subject id of the manifest."""
    from datamodules.manifest import load_manifest

    table = load_manifest(manifest)
    return {str(Path(p).resolve()): str(s) for p, s in zip(table["path"], table["subject_id"])}


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def nested(demo_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run the nested CV once, recording which AU files are read while each outer fold is tuned / trained."""
    import datamodules.au_sequence as au_sequence
    from facedep.experiment import cross_validate as cv
    from facedep.tuning.nested import FoldTuner

    out = tmp_path_factory.mktemp("nested")
    space = out / "space.yaml"
    # one key keeps the space checks (one config parse per value) short; the lr changes the fold's config.yaml
    space.write_text(yaml.safe_dump({LR: {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}))
    phase: dict = {"now": None}  # ("tune", k) while fold k is tuned, ("outer", k) while it is trained and tested
    reads: dict = defaultdict(set)
    real_load, real_tune, real_record = au_sequence.load_au_table, FoldTuner.tune_fold, FoldTuner.record_outer

    def spy_load(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        reads[phase["now"]].add(str(Path(path).resolve()))
        return real_load(path, *args, **kwargs)

    def spy_tune(self, fold, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        phase["now"] = ("tune", fold)
        overrides = real_tune(self, fold, *args, **kwargs)
        phase["now"] = ("outer", fold)  # cross_validate trains and tests the fold right after
        return overrides

    def spy_record(self, fold, metrics):  # noqa: ANN001
        phase["now"] = None
        return real_record(self, fold, metrics)

    argv = ["--config", TINY, "--folds", str(FOLDS), "--tune", str(space), "--trials", str(TRIALS),
            "--inner-folds", str(INNER), "--pruner", "none", "--n-boot", "20",
            "--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(out / "runs"),
            "--run.name", "nested", "--trainer.max_epochs", "1"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 15 tiny trainings: one thread is faster than two contending ones on a busy machine
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(au_sequence, "load_au_table", spy_load)
            patch.setattr(FoldTuner, "tune_fold", spy_tune)
            patch.setattr(FoldTuner, "record_outer", spy_record)
            assert cv.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    cv_dir = out / "runs" / "nested"
    files = _subjects_of_files(demo_manifest)
    outer = {k: _json(cv_dir / f"fold{k}" / "subjects.json") for k in range(FOLDS)}
    return {"cv_dir": cv_dir, "reads": dict(reads), "files": files, "outer": outer}


def _trial_dirs(cv_dir: Path, fold: int) -> list[Path]:
    return sorted((cv_dir / "tuning" / f"fold{fold}" / "trials").glob("trial_*"))


def test_outer_folds_partition_the_subjects(nested: dict) -> None:
    cv_dir, outer = nested["cv_dir"], nested["outer"]
    tests = [set(outer[k]["test"]) for k in range(FOLDS)]
    assert set().union(*tests) == set(nested["files"].values())
    assert sum(map(len, tests)) == len(set(nested["files"].values()))  # each subject tested once
    for k in range(FOLDS):
        predicted = set(pd.read_csv(cv_dir / f"fold{k}" / "predictions_test_subject.csv")["name"].astype(str))
        assert predicted == tests[k]


@pytest.mark.parametrize("fold", range(FOLDS))
def test_no_outer_test_subject_in_any_trial(nested: dict, fold: int) -> None:
    cv_dir, outer = nested["cv_dir"], nested["outer"][fold]
    held_out, tuned_on = set(outer["test"]), set(outer["train"]) | set(outer["val"])
    trials = _trial_dirs(cv_dir, fold)
    assert len(trials) == TRIALS
    for trial in trials:
        record = _json(trial / "trial.json")
        assert record["state"] == "COMPLETE" and record["outer_fold"] == fold
        assert len(record["inner_scores"]) == INNER
        assert record["value"] == pytest.approx(sum(record["inner_scores"]) / INNER)
        val_union: set[str] = set()
        for inner in range(INNER):
            run = trial / f"inner{inner}"
            subjects = _json(run / "subjects.json")
            train, val = set(subjects["train"]), set(subjects["val"])
            assert subjects["test"] == []
            assert train and val and not train & val, f"{run}: inner train and validation overlap"
            assert not (train | val) & held_out, f"{run}: outer test subjects {sorted((train | val) & held_out)}"
            assert train | val == tuned_on, f"{run}: inner folds do not cover the outer training subjects"
            val_union |= val
            split = _json(run / "data_report.json")["split"]
            assert (split["fold"], split["num_folds"]) == (fold, FOLDS), split
            assert (split["inner_fold"], split["inner_folds"]) == (inner, INNER)
            assert split["outer_test_excluded"] == len(held_out)
            assert split["subjects"] == {"train": len(train), "val": len(val), "test": 0}
            assert not (run / "predictions_test_subject.csv").exists()  # trials never test
        assert val_union == tuned_on  # the inner validation sets partition the outer training subjects


@pytest.mark.parametrize("fold", range(FOLDS))
def test_tuning_never_reads_outer_test_files(nested: dict, fold: int) -> None:
    files, outer = nested["files"], nested["outer"][fold]
    held_out = set(outer["test"])
    tuned_reads = nested["reads"].get(("tune", fold), set())
    assert tuned_reads, "the spy saw no read while tuning (is load_au_table still looked up in au_sequence?)"
    leaked = sorted({files[p] for p in tuned_reads if files.get(p) in held_out})
    assert not leaked, f"tuning fold {fold} read files of its outer test subjects {leaked}"
    assert {files[p] for p in tuned_reads} == set(outer["train"]) | set(outer["val"])
    # the outer run of the same fold does read them (the spy sees test files when they are read)
    outer_reads = {files[p] for p in nested["reads"].get(("outer", fold), set())}
    assert held_out <= outer_reads


def test_nested_section_of_the_report(nested: dict) -> None:
    cv_dir = nested["cv_dir"]
    report = _json(cv_dir / "report.json")
    section = report["nested"]
    assert [f["fold"] for f in section["folds"]] == list(range(FOLDS))
    for entry in section["folds"]:
        assert set(entry["params"]) == {LR}
        assert 1e-3 <= entry["params"][LR] <= 1e-1
        assert math.isfinite(entry["best_inner_score"]) and math.isfinite(entry["outer_score"])
        assert entry["optimism"] == pytest.approx(entry["best_inner_score"] - entry["outer_score"])
        assert (entry["trials"], entry["complete"]) == (TRIALS, TRIALS)
        values = [_json(t / "trial.json")["value"] for t in _trial_dirs(cv_dir, entry["fold"])]
        assert entry["best_inner_score"] == pytest.approx(max(values))
        outer_metrics = _json(cv_dir / f"fold{entry['fold']}" / "metrics.json")
        assert entry["outer_score"] == pytest.approx(outer_metrics["test"]["test/selection_score"])
    assert section["inner_folds"] == INNER and section["trials_per_study"] == TRIALS
    assert set(section["params"]) == {LR}
    lrs = [entry["params"][LR] for entry in section["folds"]]
    assert section["params"][LR]["values"] == lrs and section["params"][LR]["min"] == min(lrs)
    markdown = (cv_dir / "report.md").read_text()
    assert "## Nested cross-validation" in markdown
    lines = markdown.split("## Nested cross-validation", 1)[1].splitlines()
    header = next(line for line in lines if line.startswith("| fold |"))
    assert LR in header and "best inner" in header and "outer" in header and "optimism" in header
    rows = lines[lines.index(header) + 2:lines.index(header) + 2 + FOLDS]
    assert [int(r.split("|")[1]) for r in rows] == list(range(FOLDS))
    for row, entry in zip(rows, section["folds"]):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == f"{entry['best_inner_score']:.4f}" and cells[3] == f"{entry['outer_score']:.4f}", row


def test_each_fold_trained_with_its_best_params(nested: dict) -> None:
    cv_dir = nested["cv_dir"]
    section = _json(cv_dir / "report.json")["nested"]
    for entry in section["folds"]:
        fold = entry["fold"]
        best_trial = _json(_trial_dirs(cv_dir, fold)[entry["best_trial"]] / "trial.json")
        assert best_trial["params"] == entry["params"]
        config = yaml.safe_load((cv_dir / f"fold{fold}" / "config.yaml").read_text())
        model = config["model"]["init_args"]
        assert model["optimizer"]["init_args"]["lr"] == pytest.approx(entry["params"][LR]) != 0.01  # tiny.yaml: 0.01
        assert model["net"]["init_args"]["hidden_size"] == 8  # untuned: the config's
        assert config["data"]["init_args"]["fold"] == fold and config["data"]["init_args"].get("inner_fold") is None
        best_yaml = yaml.safe_load((cv_dir / "tuning" / f"fold{fold}" / "best.yaml").read_text())
        assert best_yaml["model"]["init_args"]["optimizer"]["init_args"]["lr"] == pytest.approx(entry["params"][LR])


# ---- the DataModule ------------------------------------------------------------------------------------------


def _au_module(manifest: Path, **kwargs):  # noqa: ANN202
    from datamodules import AUSequenceDataModule

    return AUSequenceDataModule(str(manifest), classes=[0, 1], window=32, stride=32, num_folds=3, fold=1,
                                cache_dir=None, **kwargs)


def test_datamodule_inner_fold(demo_manifest: Path) -> None:
    outer = _au_module(demo_manifest)
    outer.setup("fit")
    outer_parts = outer.stage_subjects()
    held_out, tuned_on = set(outer_parts["test"]), set(outer_parts["train"]) | set(outer_parts["val"])
    assert held_out and tuned_on
    vals = set()
    for inner_fold in range(2):
        module = _au_module(demo_manifest, inner_fold=inner_fold, inner_folds=2)
        assert set(module.rows_to_read()["subject_id"].astype(str)) == tuned_on
        module.setup("fit")
        parts = module.stage_subjects()
        assert parts["test"] == [] and len(module.datasets["test"]) == 0
        assert not (set(parts["train"]) | set(parts["val"])) & held_out
        assert not set(parts["train"]) & set(parts["val"])
        assert set(parts["train"]) | set(parts["val"]) == tuned_on
        assert not set(module.videos["subject_id"].astype(str)) & held_out
        split = module.data_report["split"]
        assert (split["inner_fold"], split["inner_folds"], split["outer_test_excluded"]) == (inner_fold, 2, len(held_out))
        assert split["subjects"]["test"] == 0
        assert "inner fold" in module.split_description()
        vals |= set(parts["val"])
    assert vals == tuned_on
    assert "inner_fold" not in outer.data_report["split"]


def test_datamodule_inner_fold_refusals(demo_manifest: Path) -> None:
    from datamodules import AUFrameDataModule

    with pytest.raises(ValueError, match="AUFrameDataModule does not support inner folds"):
        AUFrameDataModule(str(demo_manifest), classes=[0, 1], inner_fold=0, inner_folds=2)
    AUFrameDataModule(str(demo_manifest), classes=[0, 1])  # without inner_fold: accepted
    with pytest.raises(ValueError, match=r"inner_fold must be in \[0, 2\), got 2"):
        _au_module(demo_manifest, inner_fold=2, inner_folds=2)
    with pytest.raises(ValueError, match=r"inner_fold must be in \[0, 3\), got -1"):
        _au_module(demo_manifest, inner_fold=-1, inner_folds=3)
    with pytest.raises(ValueError, match="inner_folds must be >= 2"):
        _au_module(demo_manifest, inner_fold=0, inner_folds=1)
