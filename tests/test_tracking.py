import time
from pathlib import Path

import pytest

from attnbench.errors import TrackingError
from attnbench.execution import runtime
from attnbench.tracking import runs as tracking


def test_store_defaults_to_sqlite_at_the_project_root(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


@pytest.mark.parametrize(
    "error, status",
    [(None, "FINISHED"), (RuntimeError("boom"), "FAILED"), (runtime.Terminated(143), "KILLED"),
     (KeyboardInterrupt(), "KILLED")],
)
def test_runs_never_stay_running(mlflow_store, error, status):
    client, experiment_id = tracking.connect("t")
    run_id = tracking.create_run(client, experiment_id, "copy/lstm/0", {"task": "copy"})
    assert client.get_run(run_id).info.status == "RUNNING"
    if error is None:
        with tracking.run_guard(client, run_id, "r"):
            pass
    else:  # the guard marks the run and lets the error through
        with pytest.raises(type(error)) as raised, tracking.run_guard(client, run_id, "r"):
            raise error
        assert raised.value is error
    assert client.get_run(run_id).info.status == status


def test_find_run_by_tags(mlflow_store):
    client, experiment_id = tracking.connect("t")
    first = tracking.create_run(client, experiment_id, "a", {"weights_md5": "x", "seed": "0"})
    tracking.create_run(client, experiment_id, "b", {"weights_md5": "y", "seed": "0"})
    assert tracking.find_run(client, experiment_id, {"weights_md5": "x", "seed": "0"}) == first
    assert tracking.find_run(client, experiment_id, {"weights_md5": "z"}) is None


def test_metric_steps_are_lengths(mlflow_store):
    client, experiment_id = tracking.connect("t")
    run_id = tracking.create_run(client, experiment_id, "a", {})
    tracking.log_metric_series(client, run_id, "test/seq_acc", [(4, 1.0), (9, 0.5)], 0)
    history = client.get_metric_history(run_id, "test/seq_acc")
    assert sorted((m.step, m.value) for m in history) == [(4, 1.0), (9, 0.5)]


def test_unreachable_server_fails_fast_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    started = time.perf_counter()
    with pytest.raises(TrackingError, match=r"http://127.0.0.1:9 cannot be reached"):
        tracking.connect("t")
    assert time.perf_counter() - started < 60  # bounded retries, not minutes of back-off


def test_a_result_computed_again_replaces_its_earlier_run(mlflow_store):
    client, experiment_id = tracking.connect("retry")
    result = {tracking.TAG_TASK: "copy", tracking.TAG_VARIANT: "lstm", tracking.TAG_SEED: "0",
              tracking.TAG_WEIGHTS_MD5: "abc"}
    first = tracking.create_run(client, experiment_id, "copy/lstm/0", result)
    other_seed = tracking.create_run(client, experiment_id, "copy/lstm/1", {**result, tracking.TAG_SEED: "1"})
    again = tracking.create_run(client, experiment_id, "copy/lstm/0", result)
    assert tracking.replace_earlier(client, experiment_id, again, result) == [first]
    assert client.get_run(first).info.lifecycle_stage == "deleted"
    assert client.get_run(other_seed).info.lifecycle_stage == "active"
    assert client.get_run(again).data.tags[tracking.TAG_REPLACES] == first
    visible = client.search_runs([experiment_id])
    assert sorted(r.info.run_id for r in visible) == sorted([other_seed, again])


def test_the_experiment_opens_as_model_training_in_mlflows_ui(mlflow_store):
    experiment_id = tracking.ensure_experiment("kind")
    client, _ = tracking.connect("kind")
    key, value = tracking.EXPERIMENT_KIND
    assert client.get_experiment(experiment_id).tags[key] == value == "custom_model_development"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_store_is_one_line_naming_the_file_and_left_untouched(tmp_path, monkeypatch, damage):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    store = tmp_path / "mlflow.db"
    if damage == "garbage":
        store.write_bytes(bytes(range(256)) * 40)
    else:
        tracking.ensure_experiment("whole")
        store.write_bytes(store.read_bytes()[:5000])
    before = store.read_bytes()
    with pytest.raises(TrackingError) as error:
        tracking.ensure_experiment("study")
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert str(store) in message and "mv " in message
    assert store.read_bytes() == before


def test_git_state_is_the_checkout_the_stage_runs_in_not_dvc_root(tmp_path, monkeypatch):
    """A queued `dvc exp run` runs in a temporary checkout of its baseline with its changes
    applied, while DVC_ROOT names the original repository, whose HEAD may have moved on."""
    import subprocess

    def repo(path, text):
        path.mkdir()
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(path)]
        subprocess.run([*git, "init", "-q"], check=True)
        (path / "params.yaml").write_text(text)
        subprocess.run([*git, "add", "params.yaml"], check=True)
        subprocess.run([*git, "commit", "-qm", "c"], check=True)
        return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()

    original, checkout = tmp_path / "original", tmp_path / "checkout"
    repo(original, "a: 1\n")
    baseline = repo(checkout, "a: 2\n")
    (checkout / "params.yaml").write_text("a: 3\n")  # the experiment's change, uncommitted
    monkeypatch.setenv("DVC_ROOT", str(original))
    monkeypatch.chdir(checkout)
    assert tracking.git_state() == {"git_commit": baseline, "git_changes": "params.yaml"}
    assert tracking.base_tags("train")["git_commit"] == baseline
    monkeypatch.chdir(original)
    assert tracking.git_state()["git_changes"] == "none"
    monkeypatch.chdir(tmp_path)  # not a repository
    assert tracking.git_state() == {"git_commit": "unknown", "git_changes": "unknown"}


def test_demo_runs_carry_the_users_checkout_commit_not_the_copys(tmp_path, monkeypatch):
    """make demo runs in a throwaway copy with a commit of its own; its runs must name the
    user's checkout (git rev-parse HEAD there) and what differed from it."""
    import subprocess

    from attnbench.execution.workspace import GIT_IDENTITY, checkout_git_environment

    user = tmp_path / "user"
    user.mkdir()
    (user / "params.yaml").write_text("a: 1\n")
    subprocess.run(["git", *GIT_IDENTITY, "init", "-q"], cwd=user, check=True)
    subprocess.run(["git", *GIT_IDENTITY, "add", "-A"], cwd=user, check=True)
    subprocess.run(["git", *GIT_IDENTITY, "commit", "-q", "-m", "x"], cwd=user, check=True)
    (user / "params.yaml").write_text("a: 2\n")  # an uncommitted change of the user's
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=user, capture_output=True, text=True,
                          check=True).stdout.strip()
    copy = tmp_path / "copy"
    copy.mkdir()
    subprocess.run(["git", *GIT_IDENTITY, "init", "-q"], cwd=copy, check=True)
    subprocess.run(["git", *GIT_IDENTITY, "commit", "-q", "--allow-empty", "-m", "copy"], cwd=copy, check=True)
    for key, value in checkout_git_environment(user, Path("profiles/smoke.yaml")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(copy)  # where DVC runs the demo's stages
    tags = tracking.base_tags("train")
    assert tags[tracking.TAG_GIT_COMMIT] == head
    assert tags[tracking.TAG_GIT_CHANGES] == "params.yaml,params.yaml replaced by profiles/smoke.yaml"


def test_a_lost_workers_run_is_killed_and_replaced_by_its_finished_rerun(mlflow_store):
    """close_lost_runs after a cluster stage: the RUNNING run of a worker that left is marked
    KILLED with the reason, and soft-deleted in favour of the FINISHED rerun of the same job;
    a running run of a live worker is left alone."""
    client, experiment_id = tracking.connect("lost")
    job = tracking.run_tags("copy", "lstm", 0, **{tracking.TAG_KIND: "train"})
    lost = tracking.create_run(client, experiment_id, "copy/lstm/0", {**job, tracking.TAG_WORKER: "w1"})
    rerun = tracking.create_run(client, experiment_id, "copy/lstm/0", {**job, tracking.TAG_WORKER: "w2"})
    client.set_terminated(rerun, "FINISHED")
    alive = tracking.create_run(client, experiment_id, "copy/lstm/1",
                                {**tracking.run_tags("copy", "lstm", 1), tracking.TAG_WORKER: "w2"})
    assert tracking.close_lost_runs("lost", live_workers={"w2"}) == [lost]
    closed = client.get_run(lost)
    assert closed.info.status == "KILLED" and closed.info.lifecycle_stage == "deleted"
    assert closed.data.tags[tracking.TAG_RECONCILED].startswith("worker w1 (")
    assert client.get_run(rerun).data.tags[tracking.TAG_REPLACES] == lost
    assert client.get_run(alive).info.status == "RUNNING"
