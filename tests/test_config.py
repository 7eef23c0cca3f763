import subprocess
import sys

import pytest
import yaml
from pydantic import ValidationError

from attnbench.config import load_params, parse_params
from attnbench.errors import ConfigError
from conftest import REPO


def error_of(raw) -> str:
    with pytest.raises(ConfigError) as info:
        parse_params(raw)
    return str(info.value)


def test_default_study_and_smoke_profile_are_valid():
    default = load_params(REPO / "params.yaml")
    assert len(default.study.variants) == 16
    # the controlled set: every position scheme once, under one causal encoder, nothing else apart
    from attnbench.config import POSITION_SCHEMES

    causal = [default.variants[v] for v in default.study.variants
              if getattr(default.variants[v], "encoder", None) == "causal"]
    assert sorted(v.positions for v in causal) == sorted(POSITION_SCHEMES)
    assert len({v.model_dump(exclude={"positions"}).__repr__() for v in causal}) == 1
    assert default.train.stop is not None and default.train.keep == "best"
    assert len(default.study.seeds) >= 3
    load_params(REPO / "profiles" / "smoke.yaml")


def test_typo_names_the_key(raw_params):
    raw_params["train"]["lrr"] = 0.1
    assert error_of(raw_params) == "params.yaml: train.lrr: Extra inputs are not permitted"


def test_wrong_type_names_the_key(raw_params):
    raw_params["train"]["max_steps"] = "many"
    message = error_of(raw_params)
    assert message.startswith("params.yaml: train.max_steps: ") and "'many'" in message


def test_negative_length_names_the_key(raw_params):
    raw_params["data"]["train_lengths"]["min"] = -3
    assert "data.train_lengths.min: Input should be greater than 0" in error_of(raw_params)


def test_empty_task_list(raw_params):
    raw_params["study"]["tasks"] = []
    assert "study.tasks: List should have at least 1 item" in error_of(raw_params)


def test_unknown_task(raw_params):
    raw_params["study"]["tasks"] = ["copy", "sorting"]
    assert "study.tasks: unknown task 'sorting'" in error_of(raw_params)


def test_unknown_variant_in_study(raw_params):
    raw_params["study"]["variants"] = ["lstm", "transformr"]
    assert "study.variants: unknown variant 'transformr'" in error_of(raw_params)


def test_unknown_attention(raw_params):
    raw_params["variants"]["bahdanau"]["attention"] = "additiv"
    assert "variants.bahdanau.attention: unknown attention 'additiv'" in error_of(raw_params)


def test_impossible_ranges(raw_params):
    raw_params["data"]["train_lengths"] = {"min": 8, "max": 4}
    assert "data.train_lengths: min (8) must not exceed max (4)" in error_of(raw_params)
    raw_params["data"]["train_lengths"] = {"min": 2, "max": 10}
    assert "test_max_length (8) must be at least train_lengths.max (10)" in error_of(raw_params)


def test_pyyaml_string_floats_are_numbers(raw_params):
    # PyYAML reads 1e-3 (no dot) as the string "1e-3"; the config must still take it.
    raw_params["train"]["lr"] = yaml.safe_load("lr: 1e-3")["lr"]
    assert isinstance(raw_params["train"]["lr"], str)
    assert parse_params(raw_params).train.lr == pytest.approx(1e-3)


def test_params_are_frozen(params):
    with pytest.raises(ValidationError, match="frozen"):
        params.train.lr = 1.0
    assert params.train.lr == 1.0e-2  # the smoke profile's value, unchanged


@pytest.mark.parametrize("stage", ["prepare --task copy", "train --task copy --variant lstm",
                                   "evaluate --task copy --variant lstm", "report", "cost"])
def test_every_stage_refuses_bad_params_in_one_line_before_loading_torch(tmp_path, raw_params, stage):
    """The stage command (`python -m attnbench.stages <stage>`) validates first: a bad value
    ends in one line, and neither torch, Lightning nor MLflow is ever imported."""
    raw_params["train"]["batch_sise"] = 8
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw_params))
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "attnbench.stages", *stage.split(), "--params", str(bad)],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert errors == [f"error: {bad}: train.batch_sise: Extra inputs are not permitted"]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"torch", "pytorch_lightning", "lightning_fabric", "mlflow", "matplotlib"}
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("stage", "says"), [
    ("prepare --task sort", "task 'sort' is not in study.tasks ['copy', 'reverse', 'g2p']"),
    ("train --task copy --variant luong_dot", "variant 'luong_dot' is not in study.variants"),
    ("evaluate --task sort --variant lstm", "task 'sort' is not in study.tasks"),
])
def test_a_task_or_variant_outside_the_study_is_one_line(tmp_path, raw_params, stage, says):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(raw_params))
    result = subprocess.run(
        [sys.executable, "-m", "attnbench.stages", *stage.split(), "--params", str(params_file)],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr


@pytest.mark.parametrize(("content", "says"), [
    (b"\xff\xfe\x00", "not UTF-8 text"),
    (b"", "the file is empty"),
    (b"- 1\n- 2\n", "expected a mapping at the top level, got list"),
    (b"train: [unclosed\n", "not valid YAML at line 2"),
])
def test_an_unreadable_params_file_is_one_line(tmp_path, content, says):
    bad = tmp_path / "params.yaml"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match=says) as error:
        load_params(bad)
    assert len(str(error.value).splitlines()) == 1 and str(bad) in str(error.value)


def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read params file"):
        load_params(tmp_path / "nope.yaml")


def test_mechanism_settings_must_fit_the_mechanism(raw_params):
    raw_params["variants"]["bahdanau"]["window"] = 3
    assert "variants.bahdanau: window and score apply to local attention only" in error_of(raw_params)
    raw_params["variants"]["bahdanau"].pop("window")
    raw_params["variants"]["local_p"].pop("window")
    assert "variants.local_p: attention local_p needs a window (D)" in error_of(raw_params)


def test_input_feeding_only_for_the_luong_family(raw_params):
    raw_params["variants"]["bahdanau"]["input_feeding"] = True
    assert "input_feeding applies to the Luong family" in error_of(raw_params)


def test_transformer_heads_must_divide_the_width(raw_params):
    raw_params["variants"]["transformer_local"]["heads"] = 3
    assert "variants.transformer_local.heads (3) must divide model.hidden_dim (16)" in error_of(raw_params)


def test_reinforce_applies_to_hard_attention_only(params, raw_params):
    assert params.variants["hard"].reinforce_settings.expected_context_prob == 0.5
    assert params.variants["bahdanau"].reinforce_settings is None
    assert params.variants["transformer_local"].reinforce_settings is None
    raw_params["variants"]["bahdanau"]["reinforce"] = {"weight": 1.0}
    assert "reinforce applies to hard attention only" in error_of(raw_params)


def test_the_accelerator_is_cpu_or_gpu(raw_params):
    assert parse_params(raw_params).runtime.accelerator == "cpu"
    raw_params["runtime"]["accelerator"] = "cuda"
    assert "runtime.accelerator: Input should be 'cpu' or 'gpu'" in error_of(raw_params)
