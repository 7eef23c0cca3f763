"""A Dask scheduler and workers as real processes on 127.0.0.1 (`dask scheduler`, `dask
worker --nthreads 1`), each in a process group of its own, stopped on every exit path: what
the cluster tests and the benchmark run the study against. On real machines the same two
commands start them (README, "Running on a cluster")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from attnbench.execution.workspace import stop_group

START_BOUND_S = 120  # a bound only a hang exceeds, not a speed target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalCluster:
    address: str
    log_dir: Path
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)  # name -> process
    env: dict[str, str] = field(default_factory=dict)

    def start_worker(self, name: str, **extra_env: str) -> subprocess.Popen:
        """One `dask worker --nthreads 1` (no nanny: a killed worker stays dead) named `name`."""
        dask = str(Path(sys.executable).with_name("dask"))
        with open(self.log_dir / f"worker-{name}.log", "ab") as log:
            worker = subprocess.Popen(
                [dask, "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--name", name],
                cwd=self.log_dir, env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.workers[name] = worker
        return worker

    def worker_addresses(self) -> dict[str, str]:
        """name -> address of the workers the scheduler knows now."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as client:
            return {info["name"]: address
                    for address, info in client.scheduler_info(n_workers=-1)["workers"].items()}

    def wait_for(self, names: list[str]) -> dict[str, str]:
        deadline = time.monotonic() + START_BOUND_S
        while True:
            known = self.worker_addresses()
            if all(name in known for name in names):
                return known
            for name in names:
                process = self.workers[name]
                if process.poll() is not None:
                    raise RuntimeError(f"dask worker {name} exited: "
                                       f"{(self.log_dir / f'worker-{name}.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dask workers {names} did not register within {START_BOUND_S} s")
            time.sleep(0.3)


@contextmanager
def local_cluster(log_dir: Path, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[LocalCluster]:
    """A scheduler and `workers` workers (named w0, w1, ...) on 127.0.0.1; everything is
    stopped when the block ends, however it ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if env is None else env)
    address = f"tcp://127.0.0.1:{free_port()}"
    dask = str(Path(sys.executable).with_name("dask"))
    with open(log_dir / "scheduler.log", "ab") as log:
        scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
             "--no-dashboard"],
            cwd=log_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    cluster = LocalCluster(address, log_dir, scheduler, env=env)
    try:
        deadline = time.monotonic() + START_BOUND_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=1).close()
                break
            except OSError:
                if scheduler.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dask scheduler did not start: "
                                       f"{(log_dir / 'scheduler.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        for index in range(workers):
            cluster.start_worker(f"w{index}")
        cluster.wait_for([f"w{index}" for index in range(workers)])
        yield cluster
    finally:
        for worker in cluster.workers.values():
            stop_group(worker, grace=10)
        stop_group(scheduler, grace=10)
