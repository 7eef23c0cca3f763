"""`make ui` prints, for each experiment, the address of a runs table that opens with task,
variant and seed as columns, and per task an accuracy-vs-length chart."""

import json
import socket
import subprocess
import sys

from attnbench.tracking import runs as tracking
from attnbench.tracking.browse import RUNS_VIEW_METRIC, SHARED_VIEW_TAG, experiments, share_views


def test_each_experiment_gets_a_runs_table_with_task_variant_and_seed_columns(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    study = tracking.ensure_experiment("attnbench")
    smoke = tracking.ensure_experiment("attnbench-smoke")
    tables, _ = share_views(tmp_path / "mlflow.db", "http://127.0.0.1:5000")
    assert tables == [
        f"{name}: http://127.0.0.1:5000/#/experiments/{eid}/runs?workflowType=machine_learning"
        "&viewStateShareKey=attnbench-runs" for name, eid in (("attnbench", study), ("attnbench-smoke", smoke))]
    view = json.loads(MlflowClient(tracking.tracking_uri()).get_experiment(study).tags[
        f"{SHARED_VIEW_TAG}attnbench-runs"])
    assert set(view) <= SEARCH_FACETS | UI_STATE
    assert view["selectedColumns"] == [f"tags.`{tracking.TAG_TASK}`", f"tags.`{tracking.TAG_VARIANT}`",
                                       f"tags.`{tracking.TAG_SEED}`", f"metrics.`{RUNS_VIEW_METRIC}`"]
    assert (view["orderByKey"], view["orderByAsc"]) == (f"tags.`{tracking.TAG_VARIANT}`", True)
    assert experiments(tmp_path / "absent.db") == []


def test_a_port_in_use_is_one_line_naming_another(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "attnbench.tracking.browse", "--port", str(port)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip() == (f"error: port {port} on 127.0.0.1 is in use; choose another: "
                                   f"make ui PORT={port + 1}")


# The page-state fields MLflow 3.17's experiment page restores from a shared view (its
# search facets and UI state, read from the UI's bundled code): a field outside these is
# silently dropped, so a typo would open an ungrouped table.
SEARCH_FACETS = {"searchFilter", "orderByKey", "orderByAsc", "startTime", "lifecycleFilter",
                 "modelVersionFilter", "datasetsFilter"}
UI_STATE = {"selectedColumns", "columnOrder", "columnWidths", "runsHiddenMode", "compareRunCharts",
            "compareRunSections", "viewMaximized", "runListHidden", "isAccordionReordered", "groupBy",
            "groupsExpanded", "useGroupedValuesInCharts", "hideEmptyCharts",
            "globalLineChartConfig", "chartsSearchFilter"}


def test_each_task_gets_a_saved_accuracy_view_grouped_by_variant(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from attnbench.tracking.browse import experiments, share_accuracy_views

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    study = tracking.ensure_experiment("attnbench")
    client = MlflowClient(tracking.tracking_uri())
    for task in ("reverse", "copy"):
        tags = tracking.base_tags("train", task=task, variant="lstm", seed="0")
        tracking.create_run(client, study, f"{task}/lstm/0", tags)
    tracking.create_run(client, study, "report", tracking.base_tags("report"))
    links = share_accuracy_views(client, experiments(tmp_path / "mlflow.db"), "http://127.0.0.1:5000")
    assert links == [f"attnbench, {task}: http://127.0.0.1:5000/#/experiments/{study}/runs?workflowType="
                     f"machine_learning&compareRunsMode=CHART&viewStateShareKey=attnbench-{task}"
                     for task in ("copy", "reverse")]
    tags = client.get_experiment(study).tags
    view = json.loads(tags[f"{SHARED_VIEW_TAG}attnbench-copy"])
    assert set(view) <= SEARCH_FACETS | UI_STATE
    assert view["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": tracking.TAG_VARIANT}]
    assert view["searchFilter"] == (f"tags.{tracking.TAG_TASK} = 'copy' and "
                                    f"tags.`{tracking.TAG_KIND}` = 'train'")
    [chart] = view["compareRunCharts"]
    assert (chart["type"], chart["metricKey"], chart["xAxisKey"]) == ("LINE", "test/seq_acc", "step")
    assert chart["metricSectionId"] == view["compareRunSections"][0]["uuid"]
    before = dict(tags)
    share_accuracy_views(client, experiments(tmp_path / "mlflow.db"), "http://127.0.0.1:5000")  # again: same tags
    assert client.get_experiment(study).tags == before


def test_the_runs_view_shows_a_metric_evaluate_logs():
    from attnbench.stages.evaluate import LONGEST_TRAINED_METRIC

    assert RUNS_VIEW_METRIC == LONGEST_TRAINED_METRIC
