"""One fold of a classic baseline under exactly the deep models' protocol.

The same config, DataModule, subject-level fold, training-only scaler and windows as
``scripts/train.py``; the model is a scikit-learn pipeline fitted on the training windows and
scored on the test windows; predictions are aggregated to video and subject level and written in
the same files (``metrics.json``, ``predictions_test_<level>.csv``, ``data_report.json``).
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from baselines.classic import make_classic_model, scores
from facedep.classification_metrics import compute_metrics
from facedep.cli import FacedepCLI
from facedep.predictions import write_level_predictions
from lightning_modules.aggregation import three_levels


def run_classic_fold(args: list[str], model_name: str, **model_kwargs: object) -> dict:
    """Fit ``model_name`` on one fold described by training ``args``; returns the run's ``metrics.json``."""
    started = time.perf_counter()
    cli = FacedepCLI(args=args + ["--tracking.wandb", "disabled", "--trainer.logger", "false"])
    datamodule, run_dir = cli.datamodule, cli.run_dir
    datamodule.prepare_data()
    datamodule.setup("fit")
    train, test = datamodule.datasets["train"].arrays(), datamodule.datasets["test"].arrays()
    model = make_classic_model(model_name, seed=int(cli.config["seed_everything"] or 0), **model_kwargs)
    model.fit(train["x"], train["y"])
    probs = scores(model, test["x"], datamodule.num_classes)

    levels = three_levels(
        torch.from_numpy(probs), *(torch.from_numpy(test[k]) for k in ("y", "video", "subject")), torch.arange(len(probs))
    )
    test_metrics = {
        f"test/{level}/{name}": value
        for level, pred in levels.items()
        for name, value in compute_metrics(pred["y"].numpy(), pred["probs"].numpy(), datamodule.num_classes).items()
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    privacy = cli.privacy
    datamodule.write_report(run_dir / "data_report.json")
    names = datamodule.sample_names()
    if privacy is not None:
        privacy.scrub_json_file(run_dir / "data_report.json")
        names = privacy.sample_names(names)
    written = write_level_predictions(levels, names, datamodule.class_names, "test", run_dir)
    result = {
        "run_dir": str(run_dir),
        "model": model_name,
        "test": {k: float(v) for k, v in test_metrics.items() if np.isfinite(v)},
        "class_names": datamodule.class_names,
        "data": datamodule.data_report,
        "predictions": {k: str(v) for k, v in written.items()},
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    (run_dir / "metrics.json").write_text(json.dumps(privacy.scrub(result) if privacy is not None else result, indent=2))
    return result
