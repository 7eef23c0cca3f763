"""The stages take their paths from attnbench.paths and DVC takes them from dvc.yaml: the two
must name the same files, or DVC would track files no stage writes."""

from __future__ import annotations

import pytest
import yaml

from attnbench import paths
from attnbench.stages.report import OUTCOMES_CSV
from conftest import REPO, stage_body

TASK, VARIANT = "copy", "lstm"


def stage(dvc_file: str, name: str) -> dict:
    """One stage of a dvc.yaml, with its matrix item filled in as TASK (prepare's) or its
    foreach item as VARIANT (train's and evaluate's)."""
    text = (REPO / dvc_file).read_text()
    return stage_body(dvc_file, name, text.replace("${item.task}", TASK).replace("${item}", VARIANT))


def names(entries: list) -> list[str]:
    """Paths of a deps/outs list, whose entries are strings or {path: options}."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries]


def data_deps(entries: list) -> list[str]:
    """The data a stage reads: its deps but source files and the validate marker."""
    return [p for p in names(entries) if not p.startswith("src/") and p != paths.PARAMS_CHECKED.as_posix()]


def as_str(*items) -> list[str]:
    return [p.as_posix() for p in items]


def test_validate_writes_the_marker_every_stage_depends_on():
    assert names(stage("dvc.yaml", "validate")["outs"]) == as_str(paths.PARAMS_CHECKED)
    for dvc_file, name in [("dvc.yaml", n) for n in ("prepare", "train", "evaluate", "report")] + [
            ("pipelines/cost/dvc.yaml", "benchmark")]:
        assert paths.PARAMS_CHECKED.as_posix() in names(stage(dvc_file, name)["deps"]), name


def test_prepare_writes_the_task_folder():
    assert names(stage("dvc.yaml", "prepare")["outs"]) == as_str(paths.data_dir(TASK))


def test_train_reads_every_tasks_splits_and_writes_weights_and_curves():
    train = stage("dvc.yaml", "train")
    assert data_deps(train["deps"]) == as_str(paths.DATA)
    assert paths.split_file(paths.data_dir(TASK), "train").is_relative_to(paths.DATA)
    assert names(train["outs"]) == as_str(paths.variant_models(VARIANT), paths.variant_train_curves(VARIANT))
    assert paths.weights_file(TASK, VARIANT, 0).is_relative_to(paths.variant_models(VARIANT))
    assert paths.train_curves(TASK, VARIANT).parent == paths.variant_train_curves(VARIANT)


def test_evaluate_reads_test_splits_and_weights_and_writes_its_json():
    evaluate = stage("dvc.yaml", "evaluate")
    assert data_deps(evaluate["deps"]) == as_str(paths.DATA, paths.variant_models(VARIANT))
    assert names(evaluate["outs"]) == as_str(paths.variant_evaluations(VARIANT))
    assert paths.evaluation(TASK, VARIANT).parent == paths.variant_evaluations(VARIANT)


def test_report_reads_every_eval_and_train_json_and_writes_its_files():
    report = stage("dvc.yaml", "report")
    assert data_deps(report["deps"]) == as_str(paths.evaluation(TASK, VARIANT).parent.parent,
                                               paths.train_curves(TASK, VARIANT).parent.parent)
    assert names(report["outs"]) == as_str(paths.ACCURACY_CSV, OUTCOMES_CSV, paths.REPORT_MD,
                                               paths.FIGURES)
    assert names(report["metrics"]) == as_str(paths.METRICS)
    assert names(report["plots"]) == as_str(paths.PLOTS)
    assert paths.plot_data(TASK).parent == paths.PLOTS
    top_level_plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    assert top_level_plots == as_str(paths.ACCURACY_FIGURE)


def test_cost_pipeline_runs_from_the_root_and_writes_the_cost_files():
    cost = stage("pipelines/cost/dvc.yaml", "benchmark")
    assert (REPO / "pipelines/cost" / cost["wdir"]).resolve() == REPO.resolve()
    assert names(cost["outs"]) == as_str(paths.COST_JSON, paths.COST_MD, paths.COST_FIGURE)


@pytest.mark.parametrize("dvc_file", ["dvc.yaml", "pipelines/cost/dvc.yaml"])
def test_stage_commands_pass_no_paths(dvc_file):
    """Commands name the task and variant only, so that paths have one owner."""
    for name in yaml.safe_load((REPO / dvc_file).read_text())["stages"]:
        body = stage_body(dvc_file, name)
        words = body["cmd"].split()
        assert not [w for w in words if "/" in w], f"{name}: {body['cmd']}"
