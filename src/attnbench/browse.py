"""`make ui`: MLflow's UI over this checkout's store, with the address of each experiment's
runs table.

MLflow 3.17's UI opens an experiment on its GenAI overview (traces) unless its workflow type
is "machine_learning": a setting of the browser, defaulting to GenAI, that the address
parameter `workflowType` overrides (read from the UI's own code; the experiment tag
`mlflow.experimentKind`, which attnbench also sets, is consulted only when that setting is
switched off). So the links printed here carry it. docs/mlflow-runs-table.png shows such a
link opened in headless Chromium.

Each task also gets a saved view that opens on the chart of `test/seq_acc` against its
step (the sequence length), runs grouped by variant (mean over seeds, min-max band): the
UI's "share view" mechanism, an experiment tag `mlflow.sharedViewState.<key>` holding the
page state as JSON, opened by the address parameter `viewStateShareKey` (both read from the
UI's code). docs/mlflow-accuracy-by-length.png shows one.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from attnbench.runtime import OFFLINE_ENV


SHARED_VIEW_TAG = "mlflow.sharedViewState."  # + key: the UI's saved page states
RUNS_TABLE = "workflowType=machine_learning"


def experiments(store: Path) -> list[tuple[str, str]]:
    """(id, name) of every active experiment of a SQLite store but Default (none if no store)."""
    if not store.is_file():
        return []
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT experiment_id, name FROM experiments "
                          "WHERE lifecycle_stage = 'active' ORDER BY experiment_id").fetchall()
    db.close()
    return [(str(eid), name) for eid, name in rows if name != "Default"]


def experiment_links(store: Path, base: str) -> list[str]:
    """'name: address' of each experiment's runs table."""
    return [f"{name}: {base}/#/experiments/{eid}?{RUNS_TABLE}" for eid, name in experiments(store)]


ACCURACY_SECTION = "attnbench-accuracy"


def accuracy_view(task: str) -> dict:
    """The UI state that shows one task's accuracy-vs-length curves, grouped by variant (the
    mean over seeds, with a min-max band): search facets, UI state and one line chart, as
    MLflow 3.17's experiment page names them."""
    chart = {  # a line chart of test/seq_acc against its step, the sequence length
        "uuid": f"{ACCURACY_SECTION}-chart", "type": "LINE", "metricSectionId": ACCURACY_SECTION,
        "deleted": False, "isGenerated": False, "runsCountToCompare": 100,
        "displayName": f"{task}: exact-match accuracy (test/seq_acc) against sequence length",
        "metricKey": "test/seq_acc", "selectedMetricKeys": ["test/seq_acc"],
        "xAxisKey": "step", "xAxisScaleType": "linear", "scaleType": "linear",
        "selectedXAxisMetricKey": "", "yAxisKey": "metric", "yAxisExpressions": [],
        "lineSmoothness": 0, "ignoreOutliers": False,
        "useGlobalXaxisKey": False, "useGlobalLineSmoothing": False,
        "range": {"xMin": None, "xMax": None, "yMin": None, "yMax": None},
    }
    return {
        "searchFilter": f"tags.task = '{task}' and tags.`attnbench.kind` = 'train'",  # tracking.TAG_*
        "orderByKey": "attributes.start_time", "orderByAsc": False,
        "startTime": "ALL", "lifecycleFilter": "Active", "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        "groupBy": {"aggregateFunction": "average",
                    "groupByKeys": [{"mode": "tag", "groupByData": "variant"}]},  # TAG_VARIANT
        "useGroupedValuesInCharts": True,
        "runsHiddenMode": "SHOW_ALL",
        "compareRunCharts": [chart],
        "compareRunSections": [{"uuid": ACCURACY_SECTION, "name": "accuracy against length",
                                "display": True, "isReordered": False, "deleted": False,
                                "isGenerated": False}],
        "isAccordionReordered": True,
        "chartsSearchFilter": "test/seq_acc",  # the sections MLflow adds for other metrics stay hidden
        "hideEmptyCharts": True,
    }


def share_accuracy_views(store: Path, base: str) -> list[str]:
    """Save one accuracy view per task of every experiment in the store (experiment tags);
    'experiment, task: address' for each."""
    from attnbench import tracking  # MLflow, telemetry off: seconds, only once there is a store

    links = []
    client = tracking.MlflowClient(tracking_uri=f"sqlite:///{store}")
    for eid, name in experiments(store):
        runs = client.search_runs([eid], filter_string=f"tags.`{tracking.TAG_KIND}` = 'train'",
                                  max_results=50000)
        tasks = {run.data.tags.get(tracking.TAG_TASK) for run in runs} - {None}
        for task in sorted(tasks):
            key = f"attnbench-{task}"
            client.set_experiment_tag(eid, SHARED_VIEW_TAG + key, json.dumps(accuracy_view(task)))
            links.append(f"{name}, {task}: {base}/#/experiments/{eid}/runs?{RUNS_TABLE}"
                         f"&compareRunsMode=CHART&viewStateShareKey={key}")
    return links


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    root = Path.cwd()
    store = root / "mlflow.db"
    base = f"http://127.0.0.1:{args.port}"
    links = experiment_links(store, base)
    if links:
        print("\n".join(["Runs tables:", *links, "Accuracy against length, grouped by variant:",
                         *share_accuracy_views(store, base)]))
    else:
        print(f"{store} holds no experiment yet: `make demo` (minutes) or `make repro` records runs.")
    env = {**os.environ, **OFFLINE_ENV}
    command = [str(Path(sys.executable).parent / "mlflow"), "ui", "--host", "127.0.0.1",
               "--port", str(args.port), "--backend-store-uri", f"sqlite:///{store}",
               "--default-artifact-root", str(root / "mlartifacts")]
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
