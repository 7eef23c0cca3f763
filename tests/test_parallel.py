"""Seeds side by side: the worker pool keeps job order and fails fast, and parallel writers
to one SQLite MLflow store leave every run present and none RUNNING, even when the stage
process is killed."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from mlflow.tracking import MlflowClient

from attnbench.execution import parallel
from attnbench.tracking import runs as tracking
from conftest import REPO


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def fail_or_hang(x: int, pid_dir: str) -> int:
    (open(os.path.join(pid_dir, str(os.getpid())), "w")).close()
    if x == 1:
        raise ValueError(f"job {x} failed")
    time.sleep(600)
    return x


def test_results_come_back_in_job_order_from_several_processes():
    jobs = [(x,) for x in range(7)]
    serial = parallel.run_jobs(square_with_pid, jobs, workers=1)
    side_by_side = parallel.run_jobs(square_with_pid, jobs, workers=3)
    assert [r for r, _ in side_by_side] == [r for r, _ in serial] == [x * x for x in range(7)]
    assert {pid for _, pid in serial} == {os.getpid()}
    assert os.getpid() not in {pid for _, pid in side_by_side}


def test_a_failing_job_raises_here_and_the_other_workers_are_stopped(tmp_path):
    with pytest.raises(ValueError, match="job 1 failed"):
        parallel.run_jobs(fail_or_hang, [(0, str(tmp_path)), (1, str(tmp_path))], workers=2)
    pids = [int(p.name) for p in tmp_path.iterdir()]
    assert len(pids) == 2
    for pid in pids:  # the hanging worker did not outlive the pool
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_worker_count_defaults_to_the_available_cores_and_never_exceeds_the_jobs():
    assert parallel.worker_count(None, 100) == len(os.sched_getaffinity(0))
    assert parallel.worker_count(3, 2) == 2
    assert parallel.worker_count(1, 5) == 1


def record_run(index: int, experiment: str) -> str:
    """A training run's traffic: create, params, a batch of metrics, a tag, terminate."""
    client, experiment_id = tracking.connect(experiment)
    run_id = tracking.create_run(client, experiment_id, f"copy/lstm/{index}", {"seed": str(index)})
    with tracking.run_guard(client, run_id, "r"):
        tracking.log_params(client, run_id, {"seed": index, "lr": 0.003})
        for start in range(0, 100, 25):
            tracking.log_metric_series(client, run_id, "train/loss",
                                       [(s, 1.0 / (s + 1)) for s in range(start, start + 25)], 0)
        client.set_tag(run_id, "weights_md5", f"md5-{index}")
    return run_id


def test_parallel_writers_leave_every_run_present_and_finished(mlflow_store):
    experiment = "parallel-writers"
    run_ids = parallel.run_jobs(record_run, [(i, experiment) for i in range(8)], workers=4,
                                first=functools.partial(tracking.ensure_experiment, experiment))
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids)
    assert {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "train/loss")
        assert sorted(m.step for m in history) == list(range(100))


STAGE_LIKE = textwrap.dedent("""
    import functools, sys, time
    from attnbench.execution import parallel, runtime
    from attnbench.tracking import runs as tracking

    def train(index):
        client, experiment_id = tracking.connect("killed")
        run_id = tracking.create_run(client, experiment_id, f"copy/lstm/{index}", {})
        with tracking.run_guard(client, run_id, "r"):
            print("running", flush=True)
            time.sleep(600)

    if __name__ == "__main__":
        runtime.setup_process(1)
        parallel.run_jobs(train, [(0,), (1,)], workers=2,
                          first=functools.partial(tracking.ensure_experiment, "killed"))
""")


def test_runs_are_marked_killed_when_the_stage_process_is_sigkilled(mlflow_store, tmp_path):
    script = tmp_path / "stage_like.py"
    script.write_text(STAGE_LIKE)
    stage = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             cwd=REPO, env={**os.environ})
    try:
        assert [stage.stdout.readline() for _ in range(2)] == ["running\n"] * 2
        stage.send_signal(signal.SIGKILL)  # no clean-up in the stage process itself
        stage.wait(timeout=600)  # a bound only a hang exceeds
        client = MlflowClient(mlflow_store)
        experiment_id = client.get_experiment_by_name("killed").experiment_id
        deadline = time.monotonic() + 120  # a bound on waiting, not a speed requirement
        while time.monotonic() < deadline:
            statuses = [r.info.status for r in client.search_runs([experiment_id])]
            if "RUNNING" not in statuses:
                break
            time.sleep(0.5)
        assert sorted(statuses) == ["KILLED", "KILLED"]
    finally:
        stage.kill()
        stage.stdout.close()


def test_a_run_whose_process_was_sigkilled_is_closed_by_the_next_stage(mlflow_store, tmp_path):
    """SIGKILL of one worker (the OOM killer's way) leaves its run RUNNING: no guard runs.
    The next stage's start (ensure_experiment) finds its owner gone and marks it KILLED."""
    script = tmp_path / "stage_like.py"
    script.write_text(STAGE_LIKE.replace('print("running", flush=True)',
                                         'print("running", os.getpid(), flush=True)')
                      .replace("import functools, sys, time", "import functools, os, sys, time"))
    stage = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             cwd=REPO, env={**os.environ})
    try:
        workers = [int(stage.stdout.readline().split()[1]) for _ in range(2)]
        os.kill(workers[0], signal.SIGKILL)
        stage.wait(timeout=600)  # the stage sees a worker without a result and stops the other
        assert stage.returncode != 0
        client = MlflowClient(mlflow_store)
        experiment_id = client.get_experiment_by_name("killed").experiment_id
        statuses = sorted(r.info.status for r in client.search_runs([experiment_id]))
        assert statuses == ["KILLED", "RUNNING"]  # the SIGKILLed worker's run
        tracking.ensure_experiment("killed")  # what every stage does first
        runs = client.search_runs([experiment_id])
        assert sorted(r.info.status for r in runs) == ["KILLED", "KILLED"]
        reasons = [r.data.tags.get(tracking.TAG_RECONCILED, "") for r in runs]
        assert sum(f":{workers[0]}:" in reason for reason in reasons) == 1
    finally:
        stage.kill()
        stage.wait()
        stage.stdout.close()


def test_a_live_owner_keeps_its_run_running(mlflow_store):
    client, experiment_id = tracking.connect("alive")
    run_id = tracking.create_run(client, experiment_id, "copy/lstm/0", {})
    assert tracking.reconcile(client, experiment_id) == []
    assert client.get_run(run_id).info.status == "RUNNING"
    client.set_terminated(run_id, "FINISHED")
