"""A stage's jobs on a Dask distributed cluster (`runtime.executor: dask`).

The stage process is a Dask client. Before any job it asks every worker of the scheduler
to prove its platform (`platform_report`): the pinned numerics in force, this checkout's
code, and the canary's weights md5 of the stage's variant, the same as the committed golden
value (or, for other settings than the study's, as this machine's). Jobs are then submitted
only to the workers that passed, and the stage writes its outputs from their results, so no
worker needs this machine's files. Jobs compute under the pinned numerics, so where one runs
changes no byte.

Each job runs with the stage's MLflow tracking URI and git state in its environment, and
tags its run with the worker that ran it (tracking.TAG_WORKER). A worker that dies mid-job:
the scheduler runs the job again on another worker; the dead worker's run, left RUNNING, is
marked KILLED at the stage's end and replaced by the rerun's (tracking.close_lost_runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import attnbench
from attnbench.config import Params
from attnbench.errors import ClusterError
from attnbench.execution import progress, runtime
from attnbench.platform import canary_weights as canary
from attnbench.platform import numerics
from attnbench.tracking import runs as tracking

CONNECT_TIMEOUT_S = 10  # a scheduler that does not answer within this fails the stage
WORKERS_TIMEOUT_S = 60  # how long a reachable scheduler may take to have a first worker


def connect(address: str):
    """A client of the scheduler, or one ClusterError line within CONNECT_TIMEOUT_S."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except Exception as exc:  # OSError / TimeoutError from distributed's comm layer
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ClusterError(f"Dask scheduler {address} cannot be reached ({first}); start it "
                           "(dask scheduler), or set runtime.executor: local") from None


def code_digest() -> str:
    """md5 of the attnbench sources this process runs: the workers must run this checkout's."""
    root = Path(attnbench.__file__).parent
    digest = hashlib.md5()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


_canary_md5: dict[tuple[str, str], str] = {}  # per worker process: (fingerprint, variant) -> md5


def canary_md5(params: Params, variant: str) -> str:
    """The canary's weights md5 of `variant` in this process (once per process)."""
    key = (canary.fingerprint(params), variant)
    if key not in _canary_md5:
        import torch

        from attnbench.training.lit import quiet_lightning

        torch.set_num_threads(params.runtime.threads)
        with quiet_lightning():
            _canary_md5[key] = canary.train_variant(params, variant)
    return _canary_md5[key]


def platform_report(params: Params, variant: str) -> dict[str, object]:
    """Run on a worker: what decides whether its bytes are the study's."""
    return {"host": socket.gethostname(), "code": code_digest(), "md5": canary_md5(params, variant),
            "problems": numerics.outside_promise() + numerics.dispatch_mismatches(),
            "platform": canary.platform_line()}


def reference_md5(params: Params, variant: str) -> str:
    """The committed golden md5 where the golden values were made for these settings, else
    this machine's own."""
    try:
        golden = json.loads((runtime.project_root() / canary.GOLDEN).read_text())
    except (OSError, ValueError):
        golden = {}
    if golden.get("fingerprint") == canary.fingerprint(params) and variant in golden.get("md5", {}):
        return golden["md5"][variant]
    return canary_md5(params, variant)


def refusal(report: dict, expected_md5: str, code: str, shared_store: bool) -> str | None:
    """Why a worker's report keeps it from the study's jobs; None if it may take them."""
    if report["problems"]:
        return f"outside the exact-reproduction promise ({'; '.join(report['problems'])})"
    if report["code"] != code:
        return "runs other attnbench code than this checkout (install the same commit there)"
    if report["md5"] != expected_md5:
        return (f"its canary trained to weights md5 {report['md5']}, not {expected_md5}, "
                f"on {report['platform']}")
    if not shared_store and report["host"] != socket.gethostname():
        return ("it runs on another host than this machine's SQLite MLflow store; point "
                "MLFLOW_TRACKING_URI at a tracking server every worker can reach")
    return None


def accepted_workers(client, params: Params, variant: str) -> list[str]:
    """The addresses of the scheduler's workers that prove their platform; each refused one
    gets a line on stderr, and none accepted is a ClusterError."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except Exception:
        raise ClusterError(f"Dask scheduler {client.scheduler.address} has no worker after "
                           f"{WORKERS_TIMEOUT_S} s; start one (dask worker ADDRESS --nthreads 1)") from None
    addresses = sorted(client.scheduler_info(n_workers=-1)["workers"])
    futures = {address: client.submit(platform_report, params, variant, workers=[address],
                                      allow_other_workers=False, pure=False,
                                      key=f"platform-check-{variant}-{uuid.uuid4().hex}")
               for address in addresses}
    # on GPUs the bytes are the GPU's own: the workers must agree with each other (the first)
    on_gpu = params.runtime.accelerator == "gpu"
    expected, code = (None if on_gpu else reference_md5(params, variant)), code_digest()
    shared_store = not tracking.tracking_uri().startswith("sqlite:")
    accepted, refused = [], []
    for address, future in futures.items():
        try:
            report = future.result()
            expected = expected or report["md5"]
            why = refusal(report, expected, code, shared_store)
        except Exception as exc:  # the worker died, or cannot import attnbench
            why = f"its platform check failed ({(str(exc).splitlines() or [type(exc).__name__])[0]})"
        if why is None:
            accepted.append(address)
        else:
            refused.append(address)
            print(f"cluster: worker {address} refused: {why}", file=sys.stderr, flush=True)
    if not accepted:
        raise ClusterError(f"none of the {len(addresses)} workers of Dask scheduler "
                           f"{client.scheduler.address} can take the study's jobs (see above)")
    return accepted


def job_environment() -> dict[str, str]:
    """What a job on a worker must see as the stage process does: the tracking store, the
    checkout's git state, the DVC experiment, and nothing phoning home."""
    env = {"MLFLOW_TRACKING_URI": tracking.tracking_uri(), **tracking.git_environment(),
           **runtime.OFFLINE_ENV}
    if os.environ.get("DVC_EXP_NAME"):
        env["DVC_EXP_NAME"] = os.environ["DVC_EXP_NAME"]
    return env


def _on_worker(job: Callable, args: tuple, env: dict[str, str], threads: int):
    """One job on a Dask worker: the stage's environment around it, this worker named in
    its run (tracking.WORKER_ENV), the stage's thread count."""
    import torch
    from distributed import get_worker

    env = {**env, tracking.WORKER_ENV: get_worker().address}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    torch.set_num_threads(threads)
    numerics.configure_torch()
    try:
        return job(*args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_jobs(job: Callable, arguments: Sequence[tuple], params: Params, variant: str,
             first: Callable[[], object] | None = None) -> list:
    """[job(*args) for args in arguments] on the accepted workers of the scheduler; the
    first failure is raised here (the other jobs are cancelled)."""
    address = params.runtime.scheduler_address()
    client = connect(address)
    try:
        workers = accepted_workers(client, params, variant)
        if first is not None:
            first()
        env = job_environment()
        started = time.perf_counter()
        print(f"cluster: {len(arguments)} jobs on {len(workers)} worker(s) of {address}", flush=True)
        futures = [client.submit(_on_worker, job, args, env, params.runtime.threads, workers=workers,
                                 allow_other_workers=False, pure=False,
                                 key=f"{job.__name__}-{index}-{uuid.uuid4().hex}")
                   for index, args in enumerate(arguments)]
        try:
            with progress.Jobs(len(futures)) as bar:  # on a terminal's stderr only
                if bar.enabled:  # count the jobs as they end; gather below raises a failure
                    from distributed import as_completed

                    for future in as_completed(futures):
                        if future.status in ("error", "cancelled"):
                            break
                        bar.done()
            results = client.gather(futures)
        except BaseException:
            client.cancel(futures)
            raise
        live = set(client.scheduler_info(n_workers=-1)["workers"])
        closed = tracking.close_lost_runs(params.tracking.experiment, live)
        print(f"cluster: {len(arguments)} jobs done in {time.perf_counter() - started:.0f} s"
              + (f"; {len(closed)} run(s) of lost workers marked KILLED" if closed else ""), flush=True)
        return results
    finally:
        client.close()
