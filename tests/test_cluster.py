"""The study on a Dask cluster (`runtime.executor: dask`), end to end: a real `dask scheduler`
and two `dask worker --nthreads 1` processes on 127.0.0.1, a real `mlflow server` on a
PostgreSQL server the test starts itself, `dvc repro` as the one command, and one worker
SIGKILLed while it trains: `make test-extended` (marker `extended`, minutes; `.ci/run` runs it
after `make test`). Skipped, with the reason, where PostgreSQL is not installed (`.ci/run`
installs Debian's `postgresql`). The refused-worker test at the end is part of `make test`.

The cluster study is the smoke profile narrowed to copy x 3 variants (recurrent, hard and
Transformer kernels) x 2 seeds; every file its jobs produce (data/, models/, reports/train,
reports/eval) must have the bytes the local executor gave the same file in the full smoke
study (conftest's `workspaces`). The report stage runs in the stage process under either
executor, from those files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from attnbench.execution.local_cluster import free_port, local_cluster
from attnbench.execution.workspace import make_workspace, pipeline_env
from attnbench.tracking import runs as tracking
from conftest import REPO, SMOKE_PROFILE
from test_tracking_server import mlflow_server

pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install -e '.[cluster]')")

TASKS, VARIANTS, SEEDS = ["copy"], ["lstm", "hard", "transformer_local"], [0, 1]
EXPERIMENT = "attnbench-smoke"
BOUND_S = 900  # bounds only a hang exceeds, not speed targets
POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
needs_postgres = pytest.mark.skipif(
    not POSTGRES_BIN, reason="PostgreSQL is not installed (Debian's postgresql package; .ci/run installs it)")


def cluster_profile(path: Path) -> Path:
    raw = yaml.safe_load(SMOKE_PROFILE.read_text())
    raw["runtime"].update(executor="dask")  # the scheduler: DASK_SCHEDULER_ADDRESS
    raw["study"] = {"tasks": TASKS, "variants": VARIANTS, "seeds": SEEDS}
    raw["variants"] = {name: raw["variants"][name] for name in VARIANTS}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def md5_tree(root: Path, tops: tuple[str, ...]) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): hashlib.md5(path.read_bytes()).hexdigest()
            for top in tops for path in sorted((root / top).rglob("*")) if path.is_file()}


@contextmanager
def postgres(tmp: Path):
    """A PostgreSQL server on 127.0.0.1 with a database `mlflow`; yields its SQLAlchemy URI.
    Run as the `postgres` user when this is root (PostgreSQL refuses root)."""
    bindir = POSTGRES_BIN[-1].parent
    # pytest's own temporary folders are private to this user: the server's lives in /tmp
    data = Path(tempfile.mkdtemp(prefix="attnbench-pg-"))
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True)
        assert done.returncode == 0, f"{cmd[0]}: {done.stdout[-1500:]}{done.stderr[-1500:]}"

    try:
        run(str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "server.log"), "-w", "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        try:
            run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow")
            yield f"postgresql://postgres@127.0.0.1:{port}/mlflow"
        finally:
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate",
                            "stop"], capture_output=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def kill_when_training(cluster, name: str, uri: str, done: threading.Event, killed: dict) -> None:
    """SIGKILL worker `name` as soon as a training run of its is RUNNING, note that run, and
    start a replacement worker (which must prove its platform before it gets a job)."""
    from mlflow.tracking import MlflowClient

    address = cluster.worker_addresses()[name]
    client = MlflowClient(tracking_uri=uri)
    while not done.is_set():
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            running = [r for r in client.search_runs([experiment.experiment_id],
                                                     filter_string="attributes.status = 'RUNNING'")
                       if r.data.tags.get(tracking.TAG_WORKER) == address
                       and r.data.tags.get(tracking.TAG_KIND) == "train"]
            if running:
                os.killpg(cluster.workers[name].pid, signal.SIGKILL)
                cluster.workers[name].wait()
                killed.update(run_id=running[0].info.run_id, address=address)
                cluster.start_worker("replacement")  # as a cluster replaces a lost node
                return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster_study(workspaces, tmp_path_factory):
    """The cluster study under `dvc repro`, worker w0 SIGKILLed mid-training: its workspace,
    exit status, log, the runs of the PostgreSQL-backed store and the killed run."""
    if not POSTGRES_BIN:
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package; .ci/run installs it)")
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("cluster")
    workspace = make_workspace(REPO, root / "repo", cluster_profile(root / "cluster.yaml"))
    with postgres(root / "pg") as backend, \
            mlflow_server(root, free_port(), ["--workers", "1", "--backend-store-uri", backend, "--serve-artifacts",
                                              "--artifacts-destination", (root / "served").as_uri()]) as (uri, _), \
            local_cluster(root / "dask", workers=2) as cluster:
        env = {**pipeline_env(workspace), "MLFLOW_TRACKING_URI": uri, "DASK_SCHEDULER_ADDRESS": cluster.address}
        done, killed = threading.Event(), {}
        killer = threading.Thread(target=kill_when_training, args=(cluster, "w0", uri, done, killed))
        killer.start()
        try:
            repro = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=workspace, env=env,
                                   capture_output=True, text=True, timeout=BOUND_S)
        finally:
            done.set()
            killer.join()
        client = MlflowClient(tracking_uri=uri)
        experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
        runs = client.search_runs([experiment_id], run_view_type=ViewType.ALL)
        artifacts = {r.info.run_id: [f.path for f in client.list_artifacts(r.info.run_id, "weights")]
                     for r in runs if r.info.lifecycle_stage == "active"
                     and r.data.tags.get(tracking.TAG_KIND) == "train"}
        return {"workspace": workspace, "repro": repro, "runs": runs, "artifacts": artifacts,
                "killed": killed,
                "survivors": set(cluster.worker_addresses().values())}


@pytest.mark.extended
@needs_postgres
def test_the_dask_study_has_the_local_executors_bytes(cluster_study, workspaces):
    repro = cluster_study["repro"]
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    assert "cluster: " in repro.stdout  # the jobs did go to the scheduler
    tops = ("data", "models", "reports/train", "reports/eval")
    on_dask = md5_tree(cluster_study["workspace"], tops)
    local = md5_tree(workspaces[0], tops)
    assert len([p for p in on_dask if p.startswith("models/")]) == len(TASKS) * len(VARIANTS) * len(SEEDS)
    assert {path: local.get(path) for path in on_dask} == on_dask


@pytest.mark.extended
@needs_postgres
def test_the_postgres_backed_server_holds_every_run_finished_with_its_weights(cluster_study):
    runs = cluster_study["runs"]
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    active = [r for r in runs if r.info.lifecycle_stage == "active"]
    trained = sorted(r.info.run_name for r in active if r.data.tags.get(tracking.TAG_KIND) == "train")
    assert trained == sorted(tracking.run_name(t, v, s) for t in TASKS for v in VARIANTS for s in SEEDS)
    assert {r.info.status for r in active} == {"FINISHED"}
    assert all(paths and paths[0].startswith("weights/seed") for paths in cluster_study["artifacts"].values())
    for run in active:
        if run.data.tags.get(tracking.TAG_KIND) == "train":
            assert run.data.tags[tracking.TAG_WORKER].startswith("tcp://127.0.0.1:")
            assert tracking.TAG_EVALUATED_ON in run.data.tags and "test/seq_acc" in run.data.metrics


@pytest.mark.extended
@needs_postgres
def test_a_worker_killed_mid_training_is_rerun_elsewhere_and_its_run_replaced(cluster_study):
    killed = cluster_study["killed"]
    assert killed, "worker w0 never ran a training job"
    assert cluster_study["repro"].returncode == 0
    by_id = {r.info.run_id: r for r in cluster_study["runs"]}
    lost = by_id[killed["run_id"]]
    assert lost.info.status == "KILLED" and lost.info.lifecycle_stage == "deleted"
    assert killed["address"] in lost.data.tags[tracking.TAG_RECONCILED]
    rerun = [r for r in cluster_study["runs"] if r.info.run_name == lost.info.run_name
             and r.info.lifecycle_stage == "active"]
    assert len(rerun) == 1 and rerun[0].info.status == "FINISHED"
    assert killed["run_id"] in rerun[0].data.tags[tracking.TAG_REPLACES]
    assert rerun[0].data.tags[tracking.TAG_WORKER] in cluster_study["survivors"]


@pytest.mark.extended
@needs_postgres
def test_an_unreachable_scheduler_is_one_line_and_costs_nothing(cluster_study):
    workspace = cluster_study["workspace"]
    params = workspace / "params.yaml"
    original = params.read_text()
    before = md5_tree(workspace, ("data", "models", "reports"))
    dead = f"tcp://127.0.0.1:{free_port()}"
    params.write_text(original.replace("  executor: dask\n", f"  executor: dask\n  scheduler: {dead}\n"))
    try:
        repro = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=workspace,
                               env=pipeline_env(workspace), capture_output=True, text=True, timeout=BOUND_S)
    finally:
        params.write_text(original)
    errors = [line for line in repro.stderr.splitlines() if line.startswith("error: Dask")]
    assert repro.returncode != 0
    assert errors == [f"error: Dask scheduler {dead} cannot be reached (Connection refused); start it "
                      "(dask scheduler), or set runtime.executor: local"], repro.stderr[-2000:]
    assert "Traceback" not in repro.stderr
    assert md5_tree(workspace, ("data", "models", "reports")) == before


@pytest.mark.extended
@needs_postgres
def test_dvc_pull_gives_a_second_clone_the_study_without_training(cluster_study, tmp_path):
    workspace = cluster_study["workspace"]
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    remote = tmp_path / "remote"
    env = pipeline_env(workspace)
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "shared", str(remote)],
                   cwd=workspace, env=env, check=True, capture_output=True)
    subprocess.run([*git, "add", "-A"], cwd=workspace, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "the study"], cwd=workspace, check=True)
    push = subprocess.run([sys.executable, "-m", "dvc", "push"], cwd=workspace, env=env,
                          capture_output=True, text=True)
    assert push.returncode == 0, push.stderr
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(workspace), str(clone)], check=True)
    pull = subprocess.run([sys.executable, "-m", "dvc", "pull"], cwd=clone, env=pipeline_env(clone),
                          capture_output=True, text=True)
    assert pull.returncode == 0, pull.stderr
    status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=clone, env=pipeline_env(clone),
                            capture_output=True, text=True, check=True)
    assert "up to date" in status.stdout, status.stdout
    # nothing to rerun, so not even the scheduler is needed
    repro = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=clone, env=pipeline_env(clone),
                           capture_output=True, text=True)
    assert repro.returncode == 0 and "Running stage" not in repro.stdout, repro.stdout + repro.stderr
    assert md5_tree(clone, ("data", "models", "reports")) == md5_tree(workspace, ("data", "models", "reports"))


def test_a_worker_outside_the_promise_is_refused_by_name(tmp_path, params, capsys):
    """A worker whose MKL runs another CNR branch (MKL_CBWR=AUTO, the planted fault) is
    refused with one line naming it and why; the good one is accepted."""
    from distributed import Client

    from attnbench.execution import cluster as dask_executor

    with local_cluster(tmp_path / "dask", workers=1) as cluster:
        cluster.start_worker("outside", MKL_CBWR="AUTO")
        names = cluster.wait_for(["w0", "outside"])
        with Client(cluster.address, timeout=10, set_as_default=False) as client:
            accepted = dask_executor.accepted_workers(client, params, "lstm")
    assert accepted == [names["w0"]]
    refused = [line for line in capsys.readouterr().err.splitlines() if "refused" in line]
    assert refused == [f"cluster: worker {names['outside']} refused: outside the exact-reproduction "
                       "promise (MKL_CBWR=AUTO overrides the pinned COMPATIBLE; MKL runs CNR branch "
                       "AUTO, not COMPATIBLE)"]
