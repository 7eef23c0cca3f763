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
UI's code). docs/mlflow-accuracy-by-length.png shows one. Every experiment gets a saved
runs table too (`runs_view`): task, variant and seed as columns beside the mean exact match over
the training lengths, sorted by variant (docs/mlflow-runs-table.png).

The links are printed once the server answers; MLflow's start-up noise is filtered out.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from attnbench.execution.runtime import OFFLINE_ENV


SHARED_VIEW_TAG = "mlflow.sharedViewState."  # + key: the UI's saved page states
RUNS_TABLE = "workflowType=machine_learning"
# the runs view's accuracy column: exact match at the longest training length, the hardest
# length a run was trained on (stages/evaluate.py LONGEST_TRAINED_METRIC; tests/test_browse.py)
RUNS_VIEW_METRIC = "test/seq_acc_longest_trained"


def experiments(store: Path) -> list[tuple[str, str]]:
    """(id, name) of every active experiment of a SQLite store but Default (none if no store)."""
    if not store.is_file():
        return []
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT experiment_id, name FROM experiments "
                          "WHERE lifecycle_stage = 'active' ORDER BY experiment_id").fetchall()
    db.close()
    return [(str(eid), name) for eid, name in rows if name != "Default"]


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


def share_accuracy_views(client, found: list[tuple[str, str]], base: str) -> list[str]:
    """Save one accuracy view per task of every experiment `found` (experiment tags);
    'experiment, task: address' for each."""
    from attnbench.tracking import runs as tracking

    links = []
    for eid, name in found:
        runs = client.search_runs([eid], filter_string=f"tags.`{tracking.TAG_KIND}` = 'train'",
                                  max_results=50000)
        tasks = {run.data.tags.get(tracking.TAG_TASK) for run in runs} - {None}
        for task in sorted(tasks):
            key = f"attnbench-{task}"
            client.set_experiment_tag(eid, SHARED_VIEW_TAG + key, json.dumps(accuracy_view(task)))
            links.append(f"{name}, {task}: {base}/#/experiments/{eid}/runs?{RUNS_TABLE}"
                         f"&compareRunsMode=CHART&viewStateShareKey={key}")
    return links


RUNS_VIEW = "attnbench-runs"
# MLflow's own start-up lines, which say nothing to a user of this study
NOISE = ("mlflow.server.jobs", "Started server process", "Waiting for application startup",
         "Application startup complete", "Registry store URI not provided", "Security middleware enabled",
         "Started parent process", "Uvicorn running on", "DeprecationWarning", "from starlette.",
         '"GET /health')
START_BOUND_S = 300  # a bound only a hang exceeds


def runs_view(metric: str) -> dict:
    """The UI state of a runs table that shows task, variant and seed as columns, beside
    `metric`, sorted by variant (the UI's canonical column keys: type.`name`)."""
    return {
        "searchFilter": "tags.`attnbench.kind` = 'train'",  # tracking.TAG_KIND
        "orderByKey": "tags.`variant`", "orderByAsc": True,
        "startTime": "ALL", "lifecycleFilter": "Active", "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        "selectedColumns": ["tags.`task`", "tags.`variant`", "tags.`seed`", f"metrics.`{metric}`"],
        "runsHiddenMode": "SHOW_ALL",
    }


def share_views(store: Path, base: str) -> tuple[list[str], list[str]]:
    """Save every experiment's runs view and per-task accuracy views; their addresses (none
    where the store holds no experiment, without importing MLflow)."""
    found = experiments(store)
    if not found:
        return [], []
    from attnbench.tracking import runs as tracking  # MLflow, telemetry off: seconds, only once there is a store

    client = tracking.MlflowClient(tracking_uri=f"sqlite:///{store}")
    tables = []
    for eid, name in found:
        client.set_experiment_tag(eid, SHARED_VIEW_TAG + RUNS_VIEW, json.dumps(runs_view(RUNS_VIEW_METRIC)))
        tables.append(f"{name}: {base}/#/experiments/{eid}/runs?{RUNS_TABLE}&viewStateShareKey={RUNS_VIEW}")
    return tables, share_accuracy_views(client, found, base)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


def forward_quietly(stream, out) -> None:
    """Copy the server's output but MLflow's start-up noise (NOISE)."""
    for line in stream:
        if not any(marker in line for marker in NOISE):
            out.write(line)
            out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (make ui PORT=N)")
    args = parser.parse_args()
    if not port_free(args.port):
        sys.exit(f"error: port {args.port} on 127.0.0.1 is in use; choose another: make ui PORT={args.port + 1}")
    root = Path.cwd()
    store = root / "mlflow.db"
    base = f"http://127.0.0.1:{args.port}"
    tables, accuracy = share_views(store, base)
    env = {**os.environ, **OFFLINE_ENV, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    command = [str(Path(sys.executable).parent / "mlflow"), "ui", "--host", "127.0.0.1",
               "--port", str(args.port), "--workers", "1", "--backend-store-uri", f"sqlite:///{store}",
               "--default-artifact-root", str(root / "mlartifacts")]
    print(f"starting MLflow's UI on {base} ...", flush=True)
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=forward_quietly, args=(server.stdout, sys.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + START_BOUND_S
        while not answers(base):
            if server.poll() is not None:
                sys.exit(f"error: mlflow ui exited with code {server.returncode} (its output is above)")
            if time.monotonic() > deadline:
                sys.exit(f"error: mlflow ui did not answer on {base} within {START_BOUND_S} s")
            time.sleep(0.5)
        if tables:
            print("\n".join(["", f"MLflow UI: {base}  (Ctrl-C stops it)",
                             "Runs tables (task, variant, seed as columns, sorted by variant):",
                             *(f"  {link}" for link in tables),
                             "Accuracy against length, grouped by variant:",
                             *(f"  {link}" for link in accuracy), ""]), flush=True)
        else:
            print(f"\nMLflow UI: {base}. {store} holds no experiment yet: `make demo` (minutes) or "
                  "`make repro` records runs.", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
