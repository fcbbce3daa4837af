"""Search spaces (facedep/tuning/space.py): parsing, errors that name the file and key, key checks against the
config (the CLI's key hints, frozen keys, values that do not parse), sampling, overrides and best.yaml."""

from __future__ import annotations

import math
import re
from pathlib import Path

import optuna
import pytest
import yaml

from facedep.tuning.space import (
    Param,
    SpaceError,
    as_overrides,
    decode_params,
    load_space,
    parse_space,
    suggest,
    thaw,
    write_best_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tests" / "tiny.yaml")
LR = "model.init_args.optimizer.init_args.lr"
HIDDEN = "model.init_args.net.init_args.hidden_size"
CHANNELS = "data.init_args.channels"
WINDOW = "data.init_args.window"


def write_space(tmp_path: Path, body: dict | str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False))
    return path


def space_error(tmp_path: Path, body: dict | str, config: str | None = TINY) -> str:
    """The message of the SpaceError that loading ``body`` raises (it must raise)."""
    path = write_space(tmp_path, body)
    with pytest.raises(SpaceError) as info:
        load_space(path, config)
    message = str(info.value)
    assert str(path) in message, f"the error does not name the file: {message}"
    return message


def resolved_config(*args: str) -> dict:
    """The whole training config after configs and overrides, parsed as training parses it, nothing built."""
    from facedep.experiment.cli import FacedepCLI

    class _ParseOnly(FacedepCLI):
        def _set_seed(self) -> None:
            pass

        def instantiate_classes(self) -> None:
            pass

    return _ParseOnly(args=list(args)).config.as_dict()


# ---- parsing ------------------------------------------------------------------------------------------------


def test_parses_float_int_categorical_with_their_fields() -> None:
    params = parse_space({
        LR: {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "model.init_args.optimizer.init_args.weight_decay": {"type": "float", "low": 0.0, "high": 0.1, "step": 0.05},
        HIDDEN: {"type": "int", "low": 4, "high": 16, "step": 4},
        "model.init_args.net.init_args.num_layers": {"type": "int", "low": 1, "high": 3},
        CHANNELS: {"type": "categorical", "choices": ["intensity", ["AU01", "AU04"]]},
    }, "s.yaml")
    by_key = {p.key: p for p in params}
    assert [p.key for p in params] == [LR, "model.init_args.optimizer.init_args.weight_decay", HIDDEN,
                                       "model.init_args.net.init_args.num_layers", CHANNELS]
    assert by_key[LR] == Param(LR, "float", 1e-4, 1e-2, log=True, step=None)
    assert by_key["model.init_args.optimizer.init_args.weight_decay"].step == 0.05
    hidden = by_key[HIDDEN]
    assert (hidden.type, hidden.low, hidden.high, hidden.step, hidden.log) == ("int", 4, 16, 4, False)
    assert isinstance(hidden.low, int) and isinstance(hidden.step, int)
    assert by_key["model.init_args.net.init_args.num_layers"].step is None
    channels = by_key[CHANNELS]
    assert channels.type == "categorical" and len(channels.choices) == 2
    assert channels.sample_value() == "intensity"
    hash(channels)  # frozen, hashable even with a list choice


def test_params_wrapper_and_leading_dashes() -> None:
    params = parse_space({"params": {"--" + LR: {"type": "float", "low": 0.001, "high": 0.1}}})
    assert [p.key for p in params] == [LR]


@pytest.mark.parametrize("spec, pattern", [
    ({"type": "uniform", "low": 0, "high": 1}, r"type must be one of float, int, categorical, got 'uniform'"),
    ({"low": 0, "high": 1}, r"type must be one of"),
    ({"type": "float", "high": 1}, r"numeric 'low' and 'high'.*low=None"),
    ({"type": "float", "low": 0}, r"numeric 'low' and 'high'.*high=None"),
    ({"type": "float", "low": "a", "high": 1}, r"numeric 'low' and 'high'.*low='a'"),
    ({"type": "int", "low": True, "high": 4}, r"numeric 'low' and 'high'"),
    ({"type": "float", "low": 1.0, "high": 1.0}, r"low must be below high"),
    ({"type": "int", "low": 8, "high": 2}, r"low must be below high"),
    ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, r"log scale needs low > 0"),
    ({"type": "float", "low": -1.0, "high": 1.0, "log": True}, r"log scale needs low > 0"),
    ({"type": "float", "low": 1e-4, "high": 1.0, "log": True, "step": 0.1}, r"either log: true or a step"),
    ({"type": "float", "low": 1e-4, "high": 1.0, "log": "yes"}, r"log must be true or false"),
    ({"type": "int", "low": 1.5, "high": 4}, r"int bounds must be integers"),
    ({"type": "int", "low": 1, "high": 4, "step": 1.5}, r"step must be a positive integer"),
    ({"type": "float", "low": 0.0, "high": 1.0, "step": 0}, r"step must be a positive number"),
    ({"type": "categorical", "choices": []}, r"non-empty list 'choices'"),
    ({"type": "categorical"}, r"non-empty list 'choices'"),
    ({"type": "categorical", "choices": "gru"}, r"non-empty list 'choices'"),
    ({"type": "categorical", "choices": [32, 64, 32]}, r"choices repeat a value"),
    ({"type": "categorical", "choices": [["AU01", "AU04"], ["AU01", "AU04"]]}, r"choices repeat a value"),
    ({"type": "float", "low": 0.0, "high": 1.0, "choices": [1]}, r"unknown field\(s\) choices for type float"),
    ({"type": "categorical", "choices": [1, 2], "low": 0}, r"unknown field\(s\) low for type categorical"),
    ({"type": "int", "low": 1, "high": 4, "stpe": 2}, r"unknown field\(s\) stpe .*valid: high, log, low, step, type"),
    (0.01, r"expected a mapping"),
])
def test_structure_errors_name_file_and_key(tmp_path: Path, spec: object, pattern: str) -> None:
    message = space_error(tmp_path, {LR: spec})
    assert f": {LR}: " in message, message
    assert re.search(pattern, message), message


def test_structure_errors_without_a_config(tmp_path: Path) -> None:
    """Structure is checked first (no config needed to find a broken spec)."""
    message = space_error(tmp_path, {HIDDEN: {"type": "int", "low": 4, "high": 4}}, config=None)
    assert HIDDEN in message and "low must be below high" in message


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(tmp_path / "missing.yaml", TINY)
    assert "not valid YAML" in space_error(tmp_path, "a: [1, 2\n")
    assert "non-empty mapping" in space_error(tmp_path, "")
    assert "non-empty mapping" in space_error(tmp_path, "- 1\n- 2\n")


# ---- keys against the config ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key, guess, listed", [
    ("model.init_args.optimizer.init_args.lrr", "'lr'", ["weight_decay", "betas"]),
    ("model.init_args.net.init_args.hiden_size", "'hidden_size'", ["num_layers", "cell", "pooling"]),
    ("data.init_args.windw", "'window'", ["stride", "channels", "batch_size"]),
    ("trainer.max_epoch", "'trainer.max_epochs'", ["gradient_clip_val", "accumulate_grad_batches"]),
    ("modle.init_args.net.init_args.hidden_size", "'model'", ["model, data, trainer"]),
])
def test_unknown_keys_list_valid_keys_and_guess(tmp_path: Path, key: str, guess: str, listed: list[str]) -> None:
    message = space_error(tmp_path, {key: {"type": "int", "low": 1, "high": 4}})
    assert f"unknown key '{key}'" in message, message
    assert f"did you mean {guess}" in message, message
    for name in listed:
        assert name in message, f"{name!r} not listed: {message}"


def test_unknown_section_without_guess(tmp_path: Path) -> None:
    message = space_error(tmp_path, {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.1}})
    assert "unknown key 'optimizer.lr'" in message and "tunable sections: model, data, trainer" in message
    message = space_error(tmp_path, {"model.lr": {"type": "float", "low": 0.001, "high": 0.1}})
    assert "not a hyper-parameter key" in message and "model.init_args.<name>" in message


@pytest.mark.parametrize("key, reason", [
    ("data.init_args.fold", "outer fold"),
    ("data.init_args.num_folds", "outer folds"),
    ("data.init_args.manifest", "the data itself"),
    ("data.init_args.split", "outer split"),
    ("data.init_args.seed", "subject folds"),
    ("data.init_args.inner_fold", "inner fold"),
    ("data.init_args.val_fraction", "validation subjects"),
    ("run.name", "where the run writes"),
    ("run.output_dir", "where the run writes"),
    ("tracking.project", "where the run writes"),
    ("seed_everything", "random seed"),
    ("model.init_args.selection_metric", "compared on"),
])
def test_frozen_keys_refused_with_reason(tmp_path: Path, key: str, reason: str) -> None:
    message = space_error(tmp_path, {key: {"type": "int", "low": 0, "high": 3}})
    assert f"{key} cannot be tuned" in message and reason in message, message


def test_values_must_parse_with_the_config(tmp_path: Path) -> None:
    message = space_error(tmp_path, {WINDOW: {"type": "categorical", "choices": [32, "abc"]}})
    assert "data.init_args.window = abc does not parse with the config" in message, message
    assert "window" in message and "int" in message
    message = space_error(tmp_path, {"model.init_args.net.init_args.cell": {"type": "categorical",
                                                                             "choices": ["gru", "bogus"]}})
    assert "cell = bogus does not parse" in message, message


def test_valid_space_loads(tmp_path: Path) -> None:
    path = write_space(tmp_path, {
        LR: {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        HIDDEN: {"type": "int", "low": 4, "high": 16, "step": 4},
        "model.init_args.net.init_args.cell": {"type": "categorical", "choices": ["gru", "lstm"]},
        CHANNELS: {"type": "categorical", "choices": ["intensity", ["AU01", "AU04", "AU12"]]},
        "trainer.gradient_clip_val": {"type": "float", "low": 0.5, "high": 5.0},
    })
    params = load_space(path, TINY)
    assert [p.key for p in params][0] == LR and len(params) == 5


def _search_pairs() -> list[tuple[Path, Path]]:
    """Every configs/search/*.yaml with its base config (the ``--config X`` of its first comment lines)."""
    pairs = []
    for space in sorted((ROOT / "configs" / "search").glob("*.yaml")):
        match = re.search(r"^#.*scripts/tune\.py\s+--config\s+(\S+)", space.read_text(), re.MULTILINE)
        config = ROOT / match.group(1) if match else ROOT / "configs" / space.name
        pairs.append((space, config))
    return pairs


def test_search_spaces_exist_and_pair_with_configs() -> None:
    pairs = _search_pairs()
    assert any(space.name == "demo.yaml" and config == ROOT / "configs" / "demo.yaml" for space, config in pairs), pairs
    for space, config in pairs:
        assert config.is_file(), f"{space}: paired config {config} does not exist"


@pytest.mark.parametrize("space, config", _search_pairs(), ids=lambda p: Path(p).name)
def test_search_spaces_load_against_their_config(space: Path, config: Path) -> None:
    params = load_space(space, str(config))
    assert params and all(p.type in ("float", "int", "categorical") for p in params)


# ---- sampling -------------------------------------------------------------------------------------------------

SAMPLED = {
    LR: {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "model.init_args.optimizer.init_args.weight_decay": {"type": "float", "low": 0.0, "high": 0.1, "step": 0.025},
    HIDDEN: {"type": "int", "low": 4, "high": 16, "step": 4},
    "model.init_args.net.init_args.num_layers": {"type": "int", "low": 1, "high": 8, "log": True},
    CHANNELS: {"type": "categorical", "choices": ["intensity", ["AU01", "AU04"], ["AU12", "AU15", "AU45"]]},
    WINDOW: {"type": "categorical", "choices": [16, 32]},
}


def _check_values(values: dict, params: list[Param]) -> None:
    assert set(values) == {p.key for p in params}
    for p in params:
        value = values[p.key]
        if p.type == "categorical":
            assert value in [thaw(c) for c in p.choices], value
            continue
        assert p.low <= value <= p.high, (p.key, value)
        if p.type == "int":
            assert isinstance(value, int)
        if p.step:
            grid = (value - p.low) / p.step
            assert math.isclose(grid, round(grid), abs_tol=1e-9), (p.key, value)


def test_suggest_with_fixed_trial_decodes_lists() -> None:
    params = parse_space(SAMPLED)
    fixed = optuna.trial.FixedTrial({
        LR: 0.003, "model.init_args.optimizer.init_args.weight_decay": 0.05, HIDDEN: 12,
        "model.init_args.net.init_args.num_layers": 2, CHANNELS: '["AU12", "AU15", "AU45"]', WINDOW: 32,
    })
    values = suggest(fixed, params)
    assert values[CHANNELS] == ["AU12", "AU15", "AU45"]
    assert values[WINDOW] == 32 and values[HIDDEN] == 12 and values[LR] == 0.003
    _check_values(values, params)


def test_suggest_with_a_study_stays_in_bounds_on_grid() -> None:
    params = parse_space(SAMPLED)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen_channels = []
    for _ in range(25):
        trial = study.ask()
        values = suggest(trial, params)
        _check_values(values, params)
        seen_channels.append(values[CHANNELS])
        study.tell(trial, float(values[LR]))
    assert ["AU01", "AU04"] in seen_channels and "intensity" in seen_channels
    stored = study.trials[0].params
    assert isinstance(stored[CHANNELS], str)  # Optuna holds the JSON text ...
    decoded = decode_params(stored, params)  # ... decode_params gives the list back
    assert decoded[CHANNELS] == suggest(optuna.trial.FixedTrial(stored), params)[CHANNELS]
    assert not isinstance(decoded[CHANNELS], str) or decoded[CHANNELS] == "intensity"


# ---- overrides and best.yaml ---------------------------------------------------------------------------------


def test_as_overrides_are_accepted_by_training(demo_manifest: Path) -> None:
    from facedep.experiment.cross_validate import resolved_data_args

    base = ["--data.init_args.manifest", str(demo_manifest)]
    tuned = {WINDOW: 16, CHANNELS: ["AU01", "AU04", "AU12_c"], "data.init_args.batch_size": 8}
    data = resolved_data_args(TINY, base + as_overrides(tuned))
    assert data["window"] == 16 and data["batch_size"] == 8
    assert data["channels"] == ["AU01", "AU04", "AU12_c"]
    assert data["stride"] == 32  # untouched key keeps the config's value
    model = resolved_config("--config", TINY, *base, *as_overrides({LR: 0.00123, HIDDEN: 12}))["model"]
    assert model["init_args"]["optimizer"]["init_args"]["lr"] == pytest.approx(0.00123)
    assert model["init_args"]["net"]["init_args"]["hidden_size"] == 12


def test_best_config_overrides_only_the_tuned_keys(tmp_path: Path, demo_manifest: Path) -> None:
    params = parse_space({LR: SAMPLED[LR], HIDDEN: SAMPLED[HIDDEN], CHANNELS: SAMPLED[CHANNELS]})
    stored = {LR: 0.0042, HIDDEN: 12, CHANNELS: '["AU01", "AU04"]'}  # as Optuna stores them
    best = write_best_config(decode_params(stored, params), tmp_path / "sub" / "best.yaml", comment="best trial 3\nfold 0")
    text = best.read_text()
    assert text.startswith("# best trial 3\n# fold 0\n")
    assert yaml.safe_load(text) == {
        "model": {"init_args": {"optimizer": {"init_args": {"lr": 0.0042}}, "net": {"init_args": {"hidden_size": 12}}}},
        "data": {"init_args": {"channels": ["AU01", "AU04"]}},
    }
    base = resolved_config("--config", TINY, "--data.init_args.manifest", str(demo_manifest))
    tuned = resolved_config("--config", TINY, "--config", str(best), "--data.init_args.manifest", str(demo_manifest))
    model, base_model = tuned["model"], base["model"]
    assert model["class_path"] == base_model["class_path"] == "lightning_modules.SequenceClassifier"
    assert model["init_args"]["net"]["class_path"] == "lightning_modules.nets.RecurrentNet"
    assert model["init_args"]["optimizer"]["class_path"] == "torch.optim.AdamW"
    assert model["init_args"]["optimizer"]["init_args"]["lr"] == pytest.approx(0.0042) != base_model["init_args"]["optimizer"]["init_args"]["lr"]
    assert model["init_args"]["net"]["init_args"]["hidden_size"] == 12
    assert model["init_args"]["net"]["init_args"]["cell"] == base_model["init_args"]["net"]["init_args"]["cell"] == "gru"
    assert model["init_args"]["net"]["init_args"]["pooling"] == "mean"
    assert tuned["data"]["init_args"]["channels"] == ["AU01", "AU04"]
    # everything else is the base config's
    for section in ("trainer", "run", "tracking", "seed_everything"):
        assert tuned[section] == base[section], section
    base_data = {k: v for k, v in base["data"]["init_args"].items() if k != "channels"}
    assert {k: v for k, v in tuned["data"]["init_args"].items() if k != "channels"} == base_data
    assert tuned["data"]["class_path"] == base["data"]["class_path"]


def test_tune_writes_best_yaml_with_list_choices_decoded(tmp_path: Path, demo_manifest: Path) -> None:
    """tune() (stub runner: no training) stores a list choice as JSON text in Optuna but writes it to best.yaml
    and returns it as a list; every inner run gets the tuned values after the user's overrides."""
    from facedep.experiment.cross_validate import arg_value
    from facedep.tuning.tune import TuneOptions, tune

    space = write_space(tmp_path, {CHANNELS: {"type": "categorical", "choices": [["AU01", "AU04"], ["AU12", "AU15"]]},
                                   HIDDEN: {"type": "int", "low": 4, "high": 8, "step": 4}})
    calls: list[list[str]] = []

    def runner(args: list[str], callbacks=()) -> dict:  # noqa: ANN001
        calls.append(args)
        run_dir = Path(arg_value(args, "--run.output_dir", "")) / arg_value(args, "--run.name", "")
        channels = yaml.safe_load(arg_value(args, "--" + CHANNELS, ""))
        return {"best_val_score": 0.9 if channels == ["AU01", "AU04"] else 0.5, "run_dir": str(run_dir)}

    overrides = ["--data.init_args.manifest", str(demo_manifest), "--run.output_dir", str(tmp_path / "runs"),
                 "--" + HIDDEN, "16"]
    result = tune(TINY, str(space), overrides, TuneOptions(trials=4, inner_folds=2, pruner="none", fold=1, folds=3,
                                                           study_dir=tmp_path / "study"), runner=runner)
    assert result.counts["complete"] == 4 and len(calls) == 8
    for args in calls:
        assert arg_value(args, "--data.init_args.fold", "") == "1"
        assert arg_value(args, "--data.init_args.num_folds", "") == "3"
        assert arg_value(args, "--data.init_args.inner_folds", "") == "2"
        assert arg_value(args, "--run.test", "") == "false"
        assert arg_value(args, "--" + HIDDEN, "") in ("4", "8")  # the tuned value wins over the user's 16
    assert [arg_value(a, "--data.init_args.inner_fold", "") for a in calls[:2]] == ["0", "1"]
    chosen = result.best_params[CHANNELS]
    assert chosen in (["AU01", "AU04"], ["AU12", "AU15"])  # a list, not Optuna's JSON text
    assert result.best_value == pytest.approx(0.9 if chosen == ["AU01", "AU04"] else 0.5)
    assert isinstance(result.study.best_trial.params[CHANNELS], str)
    best = yaml.safe_load(result.best_config.read_text())
    assert best["data"]["init_args"]["channels"] == chosen
    tuned = resolved_config("--config", TINY, "--config", str(result.best_config),
                            "--data.init_args.manifest", str(demo_manifest))
    assert tuned["data"]["init_args"]["channels"] == chosen
    assert tuned["model"]["init_args"]["net"]["init_args"]["hidden_size"] == result.best_params[HIDDEN]


@pytest.mark.parametrize("script", ["tune", "cross_validate"])
def test_a_datamodule_without_inner_folds_is_refused_before_any_trial(script: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    """AU frames (the severity CSV) cannot hold out an outer fold and split the rest: refused up front, exit 2."""
    from facedep.experiment.cross_validate import main as cv_main
    from facedep.tuning.cli import main as tune_main

    space = tmp_path / "space.yaml"
    space.write_text("model.init_args.optimizer.init_args.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n")
    config = str(ROOT / "configs" / "au" / "severity_mlp.yaml")
    out = ["--run.output_dir", str(tmp_path / "runs")]
    with pytest.raises(SystemExit) as done:
        if script == "tune":
            tune_main(["--config", config, "--space", str(space), "--trials", "2", *out])
        else:
            cv_main(["--config", config, "--seeds", "0", "--tune", str(space), "--trials", "2", *out])
    assert done.value.code == 2
    assert "AUFrameDataModule cannot be tuned" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
