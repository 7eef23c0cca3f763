"""Where a stage's jobs run: `runtime.executor` local (forked processes on this machine,
parallel.py) or dask (the workers of a Dask distributed scheduler, cluster.py).

Either way a job is a function of its arguments alone and returns what the stage writes,
so the executor changes no byte of any output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from attnbench.config import Params
from attnbench.execution import parallel

Result = TypeVar("Result")


def run_jobs(job: Callable[..., Result], arguments: Sequence[tuple], params: Params, variant: str,
             first: Callable[[], object] | None = None) -> list[Result]:
    """[job(*args) for args in arguments] on the configured executor, results in input order;
    `first` runs once before them. `variant` names the kernels a dask worker must prove it
    computes exactly (cluster.accepted_workers)."""
    if params.runtime.executor == "dask":
        from attnbench.execution import cluster

        return cluster.run_jobs(job, arguments, params, variant, first)
    return parallel.run_jobs(job, arguments, parallel.worker_count(params.runtime.workers, len(arguments)),
                             first=first)
