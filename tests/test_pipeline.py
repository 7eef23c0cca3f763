"""End to end: the real `dvc repro` (Lightning, MLflow in SQLite) on the smoke profile,
in two throwaway copies of the repository at different paths, run side by side: the first
trains its seeds one after another (runtime.workers 1), the second two at a time."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from mlflow.tracking import MlflowClient

from attnbench import paths
from attnbench.config import load_params
from attnbench.execution.workspace import dvc, output_files, pipeline_env, stop_group
from attnbench.platform import numerics
from attnbench.report.stats import CSV_COLUMNS
from attnbench.tracking.artifacts import read_json
from conftest import SMOKE_PROFILE


# The dispatch settings every training process must record as in force.
PINNED_TAGS = {"mkl_cbwr": "COMPATIBLE", "aten_cpu_capability": "AVX2", "onednn_enabled": "false",
               "threads": "1", "torch": numerics.TORCH_BUILD}


@pytest.fixture(scope="session")
def study():
    return load_params(SMOKE_PROFILE)


def read_csv(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_outputs_cover_the_whole_study(workspaces, study):
    ws = workspaces[0]
    rows = read_csv(ws / "reports" / "accuracy_by_length.csv")
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    def lengths(task):  # each task's own test lengths (per_task: g2p has its own)
        data = study.for_task(task).data
        return range(data.train_lengths.min, data.test_max_length + 1)

    expected = {(t, v, str(s), str(n)) for t in study.study.tasks for v in study.study.variants
                for s in study.study.seeds for n in lengths(t)}
    assert {(r["task"], r["variant"], r["seed"], r["length"]) for r in rows} == expected
    assert len(rows) == len(expected)
    assert {r["split"] for r in rows} == {"in_distribution", "extrapolation"}
    for r in rows:
        assert 0.0 <= float(r["seq_acc"]) <= float(r["tok_acc"]) + 1e-9 <= 1.0 + 1e-9
        assert float(r["per"]) >= 0.0 and (float(r["per"]) == 0.0) <= (float(r["seq_acc"]) == 1.0)
        assert r["n"] == str(study.for_task(r["task"]).data.n_test_per_length)
    for name in ("report.md", "metrics.json", "figures/accuracy_by_length.png",
                 "figures/attention_copy.png", "figures/attention_g2p.png", "figures/training_curves.png",
                 "plots/copy.csv", "plots/g2p.csv"):
        assert (ws / "reports" / name).stat().st_size > 0, name
    report = (ws / "reports" / "report.md").read_text()
    assert "## Findings" in report and "![accuracy by length](figures/accuracy_by_length.png)" in report
    assert "## Grapheme-to-phoneme conversion (CMUdict)" in report


def test_pipeline_is_up_to_date_after_repro(workspaces):
    status = dvc(workspaces[0], "status", "--json")
    assert json.loads(status.stdout) == {}


@pytest.mark.parametrize("which", [0, 1], ids=["serial", "parallel"])
def test_mlflow_has_one_run_per_task_variant_seed(workspaces, study, which):
    ws = workspaces[which]
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(study.tracking.experiment)
    assert experiment.artifact_location.startswith((ws / "mlartifacts").as_uri())
    runs = client.search_runs([experiment.experiment_id], "tags.`attnbench.kind` = 'train'")
    names = sorted(r.info.run_name for r in runs)
    assert names == sorted(f"{t}/{v}/{s}" for t in study.study.tasks
                           for v in study.study.variants for s in study.study.seeds)
    for run in runs:
        tags, info = run.data.tags, run.info
        assert info.status == "FINISHED"
        task, variant, seed = info.run_name.split("/")
        assert (tags["task"], tags["variant"], tags["seed"]) == (task, variant, seed)
        weights = (ws / paths.weights_file(task, variant, seed)).read_bytes()
        assert tags["weights_md5"] == hashlib.md5(weights).hexdigest()
        assert len(tags["git_commit"]) == 40
        assert run.data.params["train.max_steps"] == str(study.for_task(task).train.max_steps)
        # how the stopping rule ended the run: the same in MLflow and in the train JSON
        trained = read_json(ws / paths.train_curves(task, variant))["curves"]
        curve = next(c for c in trained if c["seed"] == int(seed))
        assert (tags["steps"], tags["stopped"], tags["kept_step"]) == (
            str(curve["steps"]), curve["stopped"], str(curve["kept_step"]))
        assert curve["stopped"] in ("target", "plateau", "max_steps")
        assert curve["kept_step"] in [step for step, _ in curve["val"]] and curve["steps"] <= int(
            run.data.params["train.max_steps"])
        assert {key: tags[f"platform.{key}"] for key in PINNED_TAGS} == PINNED_TAGS
        assert tags["platform.cpu"] == numerics.cpu_model() and tags["platform.mkl"] != "none"
        history = client.get_metric_history(info.run_id, "test/seq_acc")
        data = study.for_task(task).data
        assert sorted(m.step for m in history) == list(range(data.train_lengths.min, data.test_max_length + 1))
        assert client.get_metric_history(info.run_id, "test/per")
        assert client.get_metric_history(info.run_id, "train/loss")
        assert client.get_metric_history(info.run_id, "val/seq_acc")
    reports = client.search_runs([experiment.experiment_id], "tags.`attnbench.kind` = 'report'")
    assert len(reports) == 1
    artifacts = {a.path for a in client.list_artifacts(reports[0].info.run_id)}
    assert {"report.md", "accuracy_by_length.csv", "figures"} <= artifacts


def lock_without_params_file(data: bytes) -> dict:
    """dvc.lock, less the md5 of params.yaml that stage `validate` depends on: the two
    workspaces' files differ in their `workers:` line, which changes no other byte."""
    lock = yaml.safe_load(data)
    deps = lock["stages"]["validate"]["deps"]
    assert [d["path"] for d in deps].count("params.yaml") == 1
    lock["stages"]["validate"]["deps"] = [d for d in deps if d["path"] != "params.yaml"]
    return lock


def test_outputs_are_byte_identical_serial_and_parallel_and_across_paths(workspaces):
    first, second = (output_files(ws) for ws in workspaces)
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert differing in ([], ["dvc.lock"])
    assert lock_without_params_file(first["dvc.lock"]) == lock_without_params_file(second["dvc.lock"])
    machine_specific = numerics.cpu_model().encode()  # the platform goes to MLflow tags only
    assert [name for name, data in first.items() if machine_specific in data] == []


def test_dvc_plots_render_offline(workspaces, tmp_path):
    ws = workspaces[0]
    result = dvc(ws, "plots", "show", "-o", str(tmp_path), check=False)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "index.html").read_text()
    assert "vegaEmbed" in page and "reports_plots_copy_csv" in page  # the plot of dvc.yaml
    assert "<script src=" not in page  # Vega is inlined: nothing loads from a CDN


def test_changing_one_variant_reruns_only_that_variant(workspaces):
    ws = workspaces[1]
    params_file = ws / "params.yaml"
    original = params_file.read_text()
    try:
        params_file.write_text(original.replace(
            "bahdanau: {arch: rnn, cell: lstm, attention: additive}",
            "bahdanau: {arch: rnn, cell: gru, attention: additive}"))
        stale = set(json.loads(dvc(ws, "status", "--json").stdout))
    finally:
        params_file.write_text(original)
    assert stale == {"validate", "train@bahdanau", "evaluate@bahdanau", "report"}


def test_the_number_of_workers_reruns_nothing(workspaces):
    """runtime.workers changes no byte, so no stage tracks it but the check of the file."""
    ws = workspaces[1]
    params_file = ws / "params.yaml"
    original = params_file.read_text()
    try:
        params_file.write_text(original.replace("  workers: 2\n", "  workers: 1\n"))
        assert "workers: 1" in params_file.read_text()
        assert set(json.loads(dvc(ws, "status", "--json").stdout)) == {"validate"}
    finally:
        params_file.write_text(original)


def stale_after_editing(ws, relative: str) -> set[str]:
    """Stages `dvc status` reports after appending a comment to one source file."""
    path = ws / relative
    original = path.read_text()
    try:
        path.write_text(original + "\n# edited\n")
        return set(json.loads(dvc(ws, "status", "--json").stdout))
    finally:
        path.write_text(original)


def test_a_report_only_change_reruns_only_report(workspaces):
    assert stale_after_editing(workspaces[1], "src/attnbench/report/markdown.py") == {"report"}


def test_a_model_change_retrains_and_keeps_prepare_cached(workspaces, study):
    stale = stale_after_editing(workspaces[1], "src/attnbench/models/rnn_seq2seq.py")
    # report reruns too, downstream, once evaluate's outputs change
    assert stale == {f"{stage}@{v}" for stage in ("train", "evaluate") for v in study.study.variants}


def test_a_copied_workspace_keeps_its_artifacts_to_itself(workspaces, tmp_path):
    """MLflow fixes an experiment's artifact folder as an absolute path: the copy's first
    stage must repoint its own store (tracking.adopt_store), so nothing lands in the original."""
    original = workspaces[0]
    before = sorted(p.relative_to(original).as_posix() for p in (original / "mlartifacts").rglob("*"))
    copy = tmp_path / "copied" / "repo"
    shutil.copytree(original, copy, symlinks=True)
    dvc(copy, "repro", "--single-item", "--force", "report")  # a stage that logs artifacts
    after = sorted(p.relative_to(original).as_posix() for p in (original / "mlartifacts").rglob("*"))
    assert after == before
    client = MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("attnbench-smoke")
    assert experiment.artifact_location.startswith((copy / "mlartifacts").as_uri())
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    assert runs[0].info.run_name == "report"
    assert all(r.info.artifact_uri.startswith((copy / "mlartifacts").as_uri()) for r in runs)
    assert (copy / "mlartifacts").is_dir() and any((copy / "mlartifacts").rglob("report.md"))


def test_a_sigkilled_stage_leaves_no_running_run_and_a_rerun_gives_the_same_bytes(workspaces, tmp_path):
    """Kill a training stage outright (SIGKILL to its process group: no guard runs), then
    `dvc repro` again: its first stage closes the dead runs (tracking.reconcile), and the
    retrained weights are the uninterrupted ones, byte for byte."""
    original = workspaces[1]
    copy = tmp_path / "killed" / "repo"
    shutil.copytree(original, copy, symlinks=True)
    stage = "train@bahdanau"
    env = pipeline_env(copy)
    process = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--single-item", "--force", stage],
                               cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    client = MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    experiment_id = client.get_experiment_by_name("attnbench-smoke").experiment_id
    try:
        deadline = time.monotonic() + 600  # a bound on start-up, not a speed requirement
        while time.monotonic() < deadline and process.poll() is None:
            if client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
                break
            time.sleep(0.2)
        assert process.poll() is None, "the stage ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        stop_group(process)
    assert client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
    dvc(copy, "repro")
    assert client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'") == []
    weights = sorted((original / paths.variant_models("bahdanau")).rglob("seed*.pt"))
    assert weights and all((copy / w.relative_to(original)).read_bytes() == w.read_bytes() for w in weights)
