"""MLflow: the store, the study's experiment, run naming and tags, finding a run again.

One run per (task, variant, seed), named `task/variant/seed`. Evaluation finds the run
that trained a weights file by its md5 tag and logs into it.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import time
from urllib.parse import unquote, urlparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attnbench.errors import TrackingError
from attnbench.execution import runtime
from attnbench.platform import numerics

runtime.offline_defaults()  # before mlflow is imported

from mlflow.entities import Metric, Param, RunStatus, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

TAG_KIND = "attnbench.kind"  # "train" or "report"
TAG_TASK, TAG_VARIANT, TAG_SEED = "task", "variant", "seed"
TAG_WEIGHTS_MD5 = "weights_md5"
TAG_DATA_MD5 = "data_md5"
# how the stopping rule ended a training run (stopping.py): steps taken, why, the step of the weights kept
TAG_STEPS, TAG_STOPPED, TAG_KEPT_STEP = "steps", "stopped", "kept_step"
TAG_GIT_COMMIT = "git_commit"
TAG_GIT_CHANGES = "git_changes"  # tracked files that differ from git_commit (e.g. params.yaml)
TAG_DVC_EXP = "dvc_exp_name"
TAG_RESTORED = "restored_from_cache"
TAG_OWNER = "attnbench.owner"  # host:pid:start-ticks of the process that created the run
TAG_RECONCILED = "attnbench.reconciled"  # why a RUNNING run was closed by a later stage
# MLflow 3 records an experiment's kind in this tag; ours is classic model training. (The
# 3.17 UI itself picks GenAI vs training views by a browser setting; see browse.py.)
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
TAG_REPLACES = "attnbench.replaces"  # ids of the earlier runs of the same result it replaced
TAG_HOST = "attnbench.host"  # the machine a run's job ran on
TAG_WORKER = "attnbench.worker"  # the Dask worker that ran it (runtime.executor: dask), else "local"
TAG_EVALUATED_ON = "attnbench.evaluated_on"  # worker and host of its evaluation
WORKER_ENV = "ATTNBENCH_WORKER"  # set by cluster.py around a job on a Dask worker
# the stage's checkout, for a job that runs elsewhere (cluster.py) or in a throwaway copy
GIT_ENV = {TAG_GIT_COMMIT: "ATTNBENCH_GIT_COMMIT", TAG_GIT_CHANGES: "ATTNBENCH_GIT_CHANGES"}
TAG_PLATFORM = "platform."  # prefix: CPU, dispatch settings in force, library versions, threads


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else an absolute SQLite file at the repository root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{runtime.project_root() / 'mlflow.db'}"


def artifact_root() -> str:
    return (runtime.project_root() / "mlartifacts").as_uri()


def run_name(task: str, variant: str, seed: int) -> str:
    return f"{task}/{variant}/{seed}"


def run_tags(task: str, variant: str, seed: int, **extra: str) -> dict[str, str]:
    """The tags that say which (task, variant, seed) a run is, plus `extra`: what a run is
    created with, found by and replaced by."""
    return {TAG_TASK: task, TAG_VARIANT: variant, TAG_SEED: str(seed), **extra}


def git_state(checkout: Path | None = None) -> dict[str, str]:
    """The commit the code was run from, and the tracked files that differ from it.

    Asked of the working directory, where DVC runs every stage: for a queued `dvc exp run`
    that is DVC's temporary checkout of the experiment's baseline with its changes applied,
    not DVC_ROOT (the original repository, whose HEAD may have moved on meanwhile). Where
    ATTNBENCH_GIT_COMMIT and ATTNBENCH_GIT_CHANGES are set (GIT_ENV), they are the answer:
    the stage's own state, handed to a job that runs elsewhere."""

    if checkout is None and all(os.environ.get(var) for var in GIT_ENV.values()):
        return {tag: os.environ[var] for tag, var in GIT_ENV.items()}

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=checkout or Path.cwd(), capture_output=True,
                                  text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain=v1", "--untracked-files=no")
    changed = sorted(line[3:] for line in (status or "").splitlines())
    return {TAG_GIT_COMMIT: commit.strip() if commit else "unknown",
            TAG_GIT_CHANGES: ",".join(changed) if changed else ("none" if commit else "unknown")}


def git_environment() -> dict[str, str]:
    """This checkout's git state as GIT_ENV variables, for a job that runs elsewhere."""
    return {GIT_ENV[tag]: value for tag, value in git_state().items()}


def worker_tags() -> dict[str, str]:
    """Where this process runs a job: its host, and its Dask worker ("local" off a cluster)."""
    return {TAG_HOST: socket.gethostname(), TAG_WORKER: os.environ.get(WORKER_ENV, "local")}


def connect(experiment: str) -> tuple[MlflowClient, str]:
    """A client and the study's experiment id, creating the experiment if needed."""
    uri = tracking_uri()
    try:
        client = MlflowClient(tracking_uri=uri)  # opens (and migrates) a SQLite store at once
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            return client, found.experiment_id
        try:
            # a tracking server places artifacts itself (--serve-artifacts: served to every
            # worker); a local store keeps them beside it, in this checkout's mlartifacts/
            served = uri.startswith(("http://", "https://"))
            return client, client.create_experiment(
                experiment, artifact_location=None if served else f"{artifact_root()}/{experiment}"
            )
        except MlflowException:  # created meanwhile by a parallel stage
            return client, client.get_experiment_by_name(experiment).experiment_id
    except Exception as exc:  # MlflowException, or a requests/urllib error underneath
        raise TrackingError(_explain(uri, exc)) from None


def ensure_experiment(experiment: str) -> str:
    """Create the store and the experiment if needed (once, before parallel writers), point
    a copied checkout's store at its own artifacts (adopt_store), tag its kind for MLflow's
    UI, and close the runs whose process is gone (reconcile); the experiment's id."""
    client, experiment_id = connect(experiment)
    with store_errors(f"preparing experiment {experiment}"):
        found = client.get_experiment(experiment_id)
        if adopt_store(found.artifact_location):
            client, experiment_id = connect(experiment)
        if found.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
            client.set_experiment_tag(experiment_id, *EXPERIMENT_KIND)
        reconcile(client, experiment_id)
    return experiment_id


def adopt_store(artifact_location: str) -> bool:
    """Repoint the local SQLite store at this checkout's mlartifacts/ if it was copied or
    moved here with its repository; True if it did.

    MLflow stores an experiment's artifact location as an absolute path, fixed when the
    experiment was created, so a copied store would keep writing into the original
    checkout. Only the default store (mlflow.db at the project root, no MLFLOW_TRACKING_URI)
    is rewritten: every experiment location and run artifact URI under the old
    mlartifacts/ folder moves to this checkout's (plain SQL on MLflow's `experiments` and
    `runs` tables).
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return False
    location = urlparse(artifact_location)
    old_root = unquote(location.path).rpartition("/mlartifacts/")[0]
    new_root = runtime.project_root().as_posix()
    if location.scheme != "file" or not old_root or old_root == new_root:
        return False
    old_uri, new_uri = Path(old_root, "mlartifacts").as_uri(), Path(new_root, "mlartifacts").as_uri()
    with sqlite3.connect(runtime.project_root() / "mlflow.db") as db:
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            db.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                       f"WHERE substr({column}, 1, ?) = ?",
                       (new_uri, len(old_uri) + 1, len(old_uri), old_uri))
    db.close()
    return True


def _start_ticks(pid: int) -> str | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22): with
    the pid it names one process, even after the pid is reused. None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name start at 3


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def owner_gone(tag: str) -> bool:
    """True if the owning process surely no longer runs; False if it does, or if it lived
    on another host (whose processes this one cannot see)."""
    host, _, rest = tag.partition(":")
    pid, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return _start_ticks(int(pid)) != ticks


def running_runs(client: MlflowClient, experiment_id: str) -> list:
    """The experiment's runs that MLflow still calls RUNNING."""
    return client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")


def close_as_killed(client: MlflowClient, run_id: str, gone: str) -> None:
    """Mark a RUNNING run KILLED whose process will never close it, tagging who was gone."""
    client.set_tag(run_id, TAG_RECONCILED, f"{gone} was gone at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))


def reconcile(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED every RUNNING run of the experiment whose owning process is gone (killed
    by SIGKILL or the OOM killer, so its own guard never ran), tagging why; their ids."""
    closed = []
    for run in running_runs(client, experiment_id):
        tag = run.data.tags.get(TAG_OWNER)
        if tag is not None and owner_gone(tag):
            close_as_killed(client, run.info.run_id, f"owner process {tag}")
            closed.append(run.info.run_id)
    return closed


def close_lost_runs(experiment: str, live_workers: set[str]) -> list[str]:
    """After a stage on a Dask cluster: mark KILLED every RUNNING run of the experiment whose
    worker has left the cluster (or whose process is gone), and where a FINISHED run of the
    same task, variant and seed exists (the job's rerun), let it replace the killed one
    (MLflow's soft delete, named in TAG_REPLACES). The closed runs' ids."""
    client, experiment_id = connect(experiment)
    closed = []
    with store_errors("closing the runs of lost workers"):
        for run in running_runs(client, experiment_id):
            tags = run.data.tags
            worker, owner_tag = tags.get(TAG_WORKER, "local"), tags.get(TAG_OWNER, "")
            lost = worker != "local" and worker not in live_workers
            if not (lost or (owner_tag and owner_gone(owner_tag))):
                continue
            close_as_killed(client, run.info.run_id, f"worker {worker} ({owner_tag})")
            closed.append(run.info.run_id)
            same = {key: tags[key] for key in (TAG_KIND, TAG_TASK, TAG_VARIANT, TAG_SEED) if key in tags}
            rerun = find_run(client, experiment_id, same)
            if rerun and rerun != run.info.run_id and client.get_run(rerun).info.status == "FINISHED":
                client.delete_run(run.info.run_id)
                earlier = client.get_run(rerun).data.tags.get(TAG_REPLACES)
                client.set_tag(rerun, TAG_REPLACES, ",".join(filter(None, [earlier, run.info.run_id])))
    return closed


def _explain(uri: str, exc: Exception) -> str:
    """One readable line for a store that cannot be used."""
    text = getattr(exc, "message", None) or str(exc)
    if uri.startswith(("http://", "https://")) and ("Max retries" in text or "connect" in text.lower()):
        reason = re.search(r"\[Errno -?\d+\] ([^'\"]+)", text)
        why = reason.group(1) if reason else "no answer"
        return (f"MLflow tracking server {uri} cannot be reached ({why}); start it, or unset "
                "MLFLOW_TRACKING_URI to use the local SQLite store")
    first = text.splitlines()[0] if text else repr(exc)
    if uri.startswith("sqlite:///") and "database is locked" in text:
        path = uri.removeprefix("sqlite:///")
        return (f"MLflow store {path} is locked by another process writing to it (another stage, "
                "`make ui`, a test); it is not damaged: wait for that process to finish, or stop it, "
                "and run again")
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///")
        return (f"MLflow store {path} cannot be read ({first}); it was left as it is: move it "
                f"aside (mv {path} {path}.broken) to start a new store, or restore a copy")
    return f"MLflow tracking store {uri} is not usable: {first}"


def platform_tags() -> dict[str, str]:
    """Where the run's floats were computed; tags only, never a DVC output (machine-specific)."""
    return {f"{TAG_PLATFORM}{key}": value for key, value in numerics.settings().items()}


def base_tags(kind: str, **extra: str) -> dict[str, str]:
    tags = {TAG_KIND: kind, **git_state(), **platform_tags(), **worker_tags(), **extra}
    if os.environ.get("DVC_EXP_NAME"):
        tags[TAG_DVC_EXP] = os.environ["DVC_EXP_NAME"]
    return tags


def create_run(client: MlflowClient, experiment_id: str, name: str, tags: dict[str, str]) -> str:
    """A new RUNNING run, tagged with this process as its owner (see reconcile)."""
    run = client.create_run(experiment_id, run_name=name, tags={**tags, TAG_OWNER: owner()})
    return run.info.run_id


def find_run(client: MlflowClient, experiment_id: str, tags: dict[str, str]) -> str | None:
    """The newest run whose tags match all of `tags`, or None."""
    query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in sorted(tags.items()))
    runs = client.search_runs(
        [experiment_id], filter_string=query, order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0].info.run_id if runs else None


def replace_earlier(client: MlflowClient, experiment_id: str, run_id: str, tags: dict[str, str]) -> list[str]:
    """Delete (MLflow's soft delete, restorable) every other run whose tags match `tags`, the
    same result computed again (a retried stage, `dvc repro --force`), so that the study's
    table holds one run per result; the kept run names them in TAG_REPLACES."""
    query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in sorted(tags.items()))
    earlier = [r.info.run_id for r in client.search_runs([experiment_id], filter_string=query)
               if r.info.run_id != run_id]
    for old in earlier:
        client.delete_run(old)
    if earlier:
        client.set_tag(run_id, TAG_REPLACES, ",".join(earlier))
    return earlier


def run_params(params, task: str, variant: str, seed: int) -> dict[str, object]:
    """The flat parameter set one run records (of train.schedules, its own family's)."""
    config = params.variants[variant]
    flat: dict[str, object] = {"task": task, "variant": variant, "seed": seed}
    for section, values in (
        ("variant", config.model_dump()),
        ("model", params.model.model_dump()),
        ("train", {**params.train.model_dump(exclude={"schedules"}),
                   "schedule": params.train.schedule(config.arch).model_dump()}),
        ("data", params.data.model_dump()),
    ):
        for key, value in values.items():
            flat[f"{section}.{key}"] = value
    return flat


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    """Several tags in one request."""
    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in sorted(tags.items())])


def log_params(client: MlflowClient, run_id: str, params: dict[str, object]) -> None:
    items = [Param(key, str(value)) for key, value in sorted(params.items())]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start : start + 100])


def log_metric_series(
    client: MlflowClient, run_id: str, key: str, points: list[tuple[int, float]], timestamp: int
) -> None:
    """Log (step, value) points in one batch; the step is an int (here: a sequence length)."""
    metrics = [Metric(key, float(value), timestamp, int(step)) for step, value in points]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def store_failure(exc: BaseException) -> bool:
    """True if `exc` came from the tracking store (an MLflow or HTTP error), not the work."""
    import requests

    return isinstance(exc, (MlflowException, requests.RequestException))


@contextmanager
def store_errors(doing: str) -> Iterator[None]:
    """An error of the tracking store while `doing` becomes one TrackingError line."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as exc:
        if not store_failure(exc):
            raise
        raise TrackingError(f"{_explain(tracking_uri(), exc)} (while {doing})") from None


def _close(client: MlflowClient, run_id: str, status: RunStatus, name: str) -> str | None:
    """Set the run's final status; if the store cannot be reached, the one line to show."""
    try:
        client.set_terminated(run_id, RunStatus.to_string(status))
    except Exception as exc:
        if not store_failure(exc):
            raise
        return (f"{_explain(tracking_uri(), exc)}; run {name} could not be closed and stays "
                "RUNNING until the next stage start marks it KILLED")
    return None


@contextmanager
def run_guard(client: MlflowClient, run_id: str, name: str) -> Iterator[None]:
    """Mark the run FINISHED on success, KILLED on SIGTERM/Ctrl-C, FAILED on any error.

    A store that fails mid-run (a tracking server that died) ends the stage with one line:
    the run is marked FAILED where the store still answers; where it does not, the run
    stays RUNNING and the next stage start closes it (reconcile), its owner being gone.
    """
    try:
        yield
    except BaseException as exc:
        stop = runtime.interruption(exc)
        if stop is not None:  # again: Lightning's teardown has put the raising handler back
            runtime.ignore_interrupts()
        unclosed = _close(client, run_id, RunStatus.FAILED if stop is None else RunStatus.KILLED, name)
        if stop is exc:
            raise
        if stop is not None:
            raise stop from None
        if unclosed:
            raise TrackingError(unclosed) from None
        if store_failure(exc):
            raise TrackingError(f"{_explain(tracking_uri(), exc)}; run {name} was marked FAILED") from None
        raise
    unclosed = _close(client, run_id, RunStatus.FINISHED, name)
    if unclosed:
        raise TrackingError(unclosed)
