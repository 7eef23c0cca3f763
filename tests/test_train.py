"""The train stage's failure paths, run as DVC runs it: a subprocess in the repo root."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from mlflow.tracking import MlflowClient

from attnbench.config import parse_params
from attnbench.data.files import write_examples, write_vocabulary
from attnbench.data.tasks import draw_splits
from attnbench.paths import split_file, weights_file


def run_train(workdir, raw, env_uri):
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    return subprocess.run(
        [sys.executable, "-m", "attnbench.stages", "train", "--task", "copy", "--variant", "bahdanau"],
        cwd=workdir, capture_output=True, text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": env_uri},
    )


def write_data(workdir, raw):
    splits, vocab = draw_splits("copy", parse_params(raw).data)
    for name, examples in splits.items():
        write_examples(split_file(workdir / "data" / "copy", name), examples)
    write_vocabulary(workdir / "data" / "copy", vocab)


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
    assert not (tmp_path / weights_file("copy", "bahdanau", 0)).exists()


def test_missing_data_names_the_file_before_any_run(tmp_path, raw_params, mlflow_store):
    result = run_train(tmp_path, raw_params, mlflow_store)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {split_file('data/copy', 'train')}: data file not found (run `dvc repro` to prepare the data)"
    ]
    assert MlflowClient(mlflow_store).get_experiment_by_name("attnbench-smoke") is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_ctrl_c_and_sigterm_both_end_every_run_killed(tmp_path, raw_params, mlflow_store, signum):
    """The signal reaches the whole process group (the stage and its workers), as a
    terminal's Ctrl-C does; both signals must read the same in the store."""
    raw_params["train"]["max_steps"] = 100_000
    raw_params["train"].pop("stop")  # no stopping rule: the run must still be training
    raw_params["study"]["seeds"] = [0, 1]
    raw_params["runtime"]["workers"] = 2
    # a store write at every step, so that the signal often lands inside one (raised there,
    # it could leave an SQLite transaction open that locks the store: runtime._raise_terminated)
    raw_params["tracking"]["log_every_n_steps"] = 1
    write_data(tmp_path, raw_params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    stage = subprocess.Popen(
        [sys.executable, "-m", "attnbench.stages", "train", "--task", "copy", "--variant", "bahdanau"],
        cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_store},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    client = MlflowClient(mlflow_store)
    try:
        deadline = time.monotonic() + 300  # a bound on waiting for start-up, not a speed target
        statuses = []
        while time.monotonic() < deadline and stage.poll() is None:
            experiment = client.get_experiment_by_name("attnbench-smoke")
            if experiment is not None:
                statuses = [r.info.status for r in client.search_runs([experiment.experiment_id])]
                if statuses == ["RUNNING", "RUNNING"]:
                    break
            time.sleep(0.5)
        assert statuses == ["RUNNING", "RUNNING"], stage.stderr.read() if stage.poll() is not None else ""
        time.sleep(2)  # inside Lightning's fit loop
        os.killpg(stage.pid, signum)
        stage.wait(timeout=600)  # a bound only a hang exceeds
        stderr = stage.stderr.read()
        assert stage.returncode == 128 + signum, stderr
        runs = client.search_runs([client.get_experiment_by_name("attnbench-smoke").experiment_id])
        assert sorted(r.info.status for r in runs) == ["KILLED", "KILLED"], stderr
    finally:
        if stage.poll() is None:
            os.killpg(stage.pid, signal.SIGKILL)
            stage.wait()
        stage.stderr.close()


def test_gpu_without_cuda_is_one_line_before_any_run(tmp_path, raw_params, mlflow_store):
    """runtime.accelerator: gpu on a machine (or torch build) without CUDA: a named error
    before any run is created. (The CUDA path itself needs a GPU; see the README.)"""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    raw_params["runtime"]["accelerator"] = "gpu"
    write_data(tmp_path, raw_params)
    result = run_train(tmp_path, raw_params, mlflow_store)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "runtime.accelerator is gpu, but torch" in lines[0], result.stderr
    assert "sees no CUDA device" in lines[0]
    assert MlflowClient(mlflow_store).get_experiment_by_name("attnbench-smoke") is None
