"""The train stage's failure paths, run as DVC runs it: a subprocess in the repo root."""

import os
import subprocess
import sys

import yaml
from mlflow.tracking import MlflowClient

from attnbench.config import parse_params
from attnbench.data import write_examples
from attnbench.paths import split_file
from attnbench.stages.prepare import prepare


def run_train(workdir, raw, env_uri):
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    return subprocess.run(
        [sys.executable, "-m", "attnbench.stages.train", "--task", "copy", "--variant", "bahdanau"],
        cwd=workdir, capture_output=True, text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": env_uri},
    )


def write_data(workdir, raw):
    splits = prepare("copy", parse_params(raw).data)
    for name, examples in splits.items():
        write_examples(split_file(workdir / "data" / "copy", name), examples)


def test_diverging_loss_stops_with_a_message_and_a_failed_run(tmp_path, raw_params, mlflow_store):
    raw_params["train"].update(optimizer="sgd", lr=1.0e30, grad_clip=0.0, max_steps=20)
    raw_params["study"]["seeds"] = [0]
    write_data(tmp_path, raw_params)
    result = run_train(tmp_path, raw_params, mlflow_store)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "copy/bahdanau/0: training loss became nan" in errors[0]
    assert "Traceback" not in result.stderr
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name("attnbench-smoke").experiment_id])
    assert [(r.info.run_name, r.info.status) for r in runs] == [("copy/bahdanau/0", "FAILED")]
    assert not (tmp_path / "models" / "copy" / "bahdanau" / "seed0.pt").exists()


def test_missing_data_names_the_file_before_any_run(tmp_path, raw_params, mlflow_store):
    result = run_train(tmp_path, raw_params, mlflow_store)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {split_file('data/copy', 'train')}: data file not found (run `dvc repro` to prepare the data)"
    ]
    assert MlflowClient(mlflow_store).get_experiment_by_name("attnbench-smoke") is None
