"""A real `mlflow server` on the loopback interface dies while a training stage logs to it:
the stage ends in one line, and the next stage start closes the runs it left RUNNING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import pytest
import yaml
from mlflow.tracking import MlflowClient

from attnbench.tracking import runs as tracking
from test_train import write_data

START_BOUND_S = 300  # bounds only a hang exceeds, not speed targets
EXPERIMENT = "attnbench-smoke"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def mlflow_server(tmp_path, port: int, store: list[str] | None = None):
    """`mlflow server` over `store` (its options; default a SQLite file in tmp_path), in a
    process group of its own that is SIGKILLed on every exit path; yields (its URI, the Popen)."""
    uri = f"http://127.0.0.1:{port}"
    store = store or ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                      "--default-artifact-root", (tmp_path / "server-artifacts").as_uri()]
    with open(tmp_path / f"server-{port}.log", "ab") as log:  # the child keeps its own copy
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), *store],
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + START_BOUND_S
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / f"server-{port}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        yield uri, server
    finally:
        kill_group(server)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the server and every worker it started
    except ProcessLookupError:
        pass
    process.wait()


def train(tmp_path, uri: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "attnbench.stages", "train", "--task", "copy", "--variant", "bahdanau"],
        cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri, "DVC_ROOT": str(tmp_path)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def statuses(client: MlflowClient) -> list[str]:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    return sorted(r.info.status for r in client.search_runs([experiment.experiment_id]))


def test_server_killed_mid_run_gives_one_line_and_the_next_start_closes_the_runs(tmp_path, raw_params):
    raw_params["train"]["max_steps"] = 100_000  # still training when the server dies
    raw_params["train"].pop("stop")  # no stopping rule: the run must still be training
    raw_params["study"]["seeds"] = [0, 1]
    raw_params["runtime"]["workers"] = 2
    write_data(tmp_path, raw_params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    port = free_port()
    with mlflow_server(tmp_path, port) as (uri, server):
        stage = train(tmp_path, uri)
        try:
            client = MlflowClient(uri)
            deadline = time.monotonic() + START_BOUND_S
            while statuses(client) != ["RUNNING", "RUNNING"]:
                assert stage.poll() is None, stage.stderr.read()
                assert time.monotonic() < deadline, "the runs did not start"
                time.sleep(0.5)
            time.sleep(2)  # inside Lightning's fit loop, logging every 5 steps
            kill_group(server)
            stage.wait(timeout=START_BOUND_S)
            stderr = stage.stderr.read()
        finally:
            kill_group(stage)
            stage.stderr.close()
    assert stage.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: MLflow tracking server {uri} cannot be reached")
    assert "stays RUNNING until the next stage start marks it KILLED" in lines[0]

    # The server is back on the same store: both runs are still RUNNING there (no one could
    # close them), and a new stage start closes them as KILLED, saying why.
    raw_params["train"]["max_steps"] = 2
    raw_params["study"]["seeds"] = [0]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    with mlflow_server(tmp_path, port) as (uri, _):
        client = MlflowClient(uri)
        assert statuses(client) == ["RUNNING", "RUNNING"]
        rerun = train(tmp_path, uri)
        try:
            _, stderr = rerun.communicate(timeout=START_BOUND_S)
        finally:
            kill_group(rerun)
        assert rerun.returncode == 0, stderr
        runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
        closed = {r.info.run_id: r for r in runs if r.info.status == "KILLED"}
        assert len(closed) == 2 and len(runs) == 3
        assert all("owner process" in r.data.tags[tracking.TAG_RECONCILED] for r in closed.values())
        assert [r.info.status for r in runs if r.info.run_id not in closed] == ["FINISHED"]


def test_store_errors_name_what_failed(monkeypatch):
    """Outside a run (creating it, evaluation logging) a dead server is one TrackingError."""
    from attnbench.errors import TrackingError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    client = MlflowClient()
    with pytest.raises(TrackingError, match=r"cannot be reached .*\(while starting run x\)$"):
        with tracking.store_errors("starting run x"):
            client.get_run("0" * 32)
    with pytest.raises(ZeroDivisionError):  # the work's own errors pass through unchanged
        with tracking.store_errors("starting run x"):
            raise ZeroDivisionError
