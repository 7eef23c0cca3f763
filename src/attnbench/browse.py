"""`make ui`: MLflow's UI over this checkout's store, with the address of each experiment's
runs table.

MLflow 3.17's UI opens an experiment on its GenAI overview (traces) unless its workflow type
is "machine_learning": a setting of the browser, defaulting to GenAI, that the address
parameter `workflowType` overrides (read from the UI's own code; the experiment tag
`mlflow.experimentKind`, which attnbench also sets, is consulted only when that setting is
switched off). So the links printed here carry it. docs/mlflow-runs-table.png shows such a
link opened in headless Chromium.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from attnbench.runtime import OFFLINE_ENV


def experiment_links(store: Path, base: str) -> list[str]:
    """'name: address' for every active experiment of a SQLite store (none if it has none)."""
    if not store.is_file():
        return []
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT experiment_id, name FROM experiments "
                          "WHERE lifecycle_stage = 'active' ORDER BY experiment_id").fetchall()
    return [f"{name}: {base}/#/experiments/{eid}?workflowType=machine_learning"
            for eid, name in rows if name != "Default"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    root = Path.cwd()
    store = root / "mlflow.db"
    base = f"http://127.0.0.1:{args.port}"
    links = experiment_links(store, base)
    print("\n".join(["Runs tables:", *links]) if links else
          f"{store} holds no experiment yet: `make demo` (minutes) or `make repro` records runs.")
    env = {**os.environ, **OFFLINE_ENV}
    command = [str(Path(sys.executable).parent / "mlflow"), "ui", "--host", "127.0.0.1",
               "--port", str(args.port), "--backend-store-uri", f"sqlite:///{store}",
               "--default-artifact-root", str(root / "mlartifacts")]
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
