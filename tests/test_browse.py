"""`make ui` prints, for each experiment, the address that opens its runs table."""

from attnbench import tracking
from attnbench.browse import experiment_links


def test_each_experiment_gets_a_runs_table_link(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    study = tracking.ensure_experiment("attnbench")
    smoke = tracking.ensure_experiment("attnbench-smoke")
    links = experiment_links(tmp_path / "mlflow.db", "http://127.0.0.1:5000")
    assert links == [
        f"attnbench: http://127.0.0.1:5000/#/experiments/{study}?workflowType=machine_learning",
        f"attnbench-smoke: http://127.0.0.1:5000/#/experiments/{smoke}?workflowType=machine_learning",
    ]
    assert experiment_links(tmp_path / "absent.db", "http://x") == []


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
    import json

    from mlflow.tracking import MlflowClient

    from attnbench.browse import SHARED_VIEW_TAG, share_accuracy_views

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    study = tracking.ensure_experiment("attnbench")
    client = MlflowClient(tracking.tracking_uri())
    for task in ("reverse", "copy"):
        tags = tracking.base_tags("train", task=task, variant="lstm", seed="0")
        tracking.create_run(client, study, f"{task}/lstm/0", tags)
    tracking.create_run(client, study, "report", tracking.base_tags("report"))
    links = share_accuracy_views(tmp_path / "mlflow.db", "http://127.0.0.1:5000")
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
    share_accuracy_views(tmp_path / "mlflow.db", "http://127.0.0.1:5000")  # again: same tags
    assert client.get_experiment(study).tags == before
