"""Section 11: the Dask executor's overhead: the whole smoke study under `dvc repro` with
`runtime.executor: dask` (a scheduler and 2 `dask worker --nthreads 1` on 127.0.0.1) against
the local pool of 2 forked workers, alternately, each in a fresh copy of the repository.

The dask run pays, per stage, a client connection, every worker's platform check (the
canary of the stage's variant, once per worker process and variant) and this machine's own
reference canary, plus shipping each job's data and results; the local pool pays a fork.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from attnbench.bench.table import Report, times
from attnbench.cost.timing import compare, ratio
from attnbench.execution.local_cluster import local_cluster
from attnbench.execution.workspace import make_workspace, pipeline_env

SMOKE = Path("profiles/smoke.yaml")
WORKERS = 2


def _study(tmp: Path, profile: Path, name: str, extra_env: dict[str, str]) -> None:
    """`dvc repro` of the profile in a fresh copy of this checkout."""
    workspace = make_workspace(Path.cwd(), Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp)) / "repo", profile)
    subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=workspace,
                   env={**pipeline_env(workspace), **extra_env}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cluster_section(rounds: int) -> Report:
    raw = yaml.safe_load(SMOKE.read_text())
    with tempfile.TemporaryDirectory(prefix="attnbench-bench-cluster-") as tmp_name:
        tmp = Path(tmp_name)
        profiles = {}
        for executor in ("local", "dask"):
            raw["runtime"].update(executor=executor, workers=WORKERS)
            profiles[executor] = tmp / f"smoke-{executor}.yaml"
            profiles[executor].write_text(yaml.safe_dump(raw, sort_keys=False))
        with local_cluster(tmp / "dask", workers=WORKERS) as cluster:
            walls = compare({
                f"local pool, {WORKERS} workers": lambda: _study(tmp, profiles["local"], "local", {}),
                f"dask, {WORKERS} workers": lambda: _study(
                    tmp, profiles["dask"], "dask", {"DASK_SCHEDULER_ADDRESS": cluster.address}),
            }, rounds=rounds, warmup=0)
    local, dask = walls.values()
    overhead = ratio(dask, local)[0]
    study = raw["study"]
    return Report(
        title=f"11. The smoke study on a Dask cluster vs the local pool ({len(study['tasks'])} tasks x "
              f"{len(study['variants'])} variants x {len(study['seeds'])} seeds)",
        headline=(f"Dask / local wall time of the whole `dvc repro`: {times(overhead)} "
                  f"({dask.median - local.median:+.0f} s); no target: the price of sending each "
                  "stage's jobs to a scheduler, which pays off once they go to more cores than "
                  "this machine has"),
        headers=["executor", "s med", "s min", "vs local"],
        rows=[[name, f"{t.median:.0f}", f"{t.min:.0f}", "-" if t is local else times(ratio(t, local)[0])]
              for name, t in walls.items()],
        notes=[f"Both on this machine, {WORKERS} single-threaded workers each; each call is a whole "
               "`dvc repro` in a fresh copy of the checkout (stage start-up included), candidates "
               "alternating; the dask workers stay up across calls, as a cluster's would."],
    )
