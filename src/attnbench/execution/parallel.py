"""A stage's independent jobs (the seeds of one task and variant) on several processes.

Each job runs in a forked worker with the stage's one intra-op thread, so it computes the
floats a serial run computes: the number of workers never changes a byte. Forked workers
share what the stage process imported (torch, Lightning), so start-up is paid once.

MLflow's SQLite store must not be shared across a fork (its connection pool would be), so
with more than one worker the stage process itself never connects: `first` (creating the
database and the experiment once, before any race) and every job run in forked processes,
each opening its own client. Each job gets a process of its own (a fork costs milliseconds),
so no queue or lock is shared between jobs, and stopping one cannot block another.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from attnbench.execution import progress

Result = TypeVar("Result")

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset set)."""
    return len(os.sched_getaffinity(0))


def worker_count(setting: int | None, jobs: int) -> int:
    """runtime.workers, or every available core when unset; never more than the jobs."""
    return max(1, min(setting or available_cores(), jobs))


def _die_with_parent() -> None:
    """In a worker: SIGTERM it when the stage process dies, even by SIGKILL, so that its run
    guard marks the MLflow run KILLED instead of leaving it RUNNING."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (AttributeError, OSError):  # not Linux: run_jobs still terminates its workers on exit
        pass


def _child(job: Callable[..., Result], args: tuple, conn, steps, index: int) -> None:
    """One job in a forked process: its result, or its exception, goes back through `conn`;
    the training step it has reached, into steps[index] (progress.report_step)."""
    _die_with_parent()
    progress.report_to(steps, index)
    try:
        outcome = ("ok", job(*args))
    except BaseException as exc:  # handed to the stage process, which raises it
        exc.add_note(traceback.format_exc())
        outcome = ("error", exc)
    try:
        conn.send(outcome)
    except Exception as exc:  # an unpicklable result or exception
        conn.send(("error", RuntimeError(f"job result could not be sent back: {exc!r}")))
    conn.close()


def run_jobs(job: Callable[..., Result], arguments: Sequence[tuple], workers: int,
             first: Callable[[], object] | None = None) -> list[Result]:
    """[job(*args) for args in arguments], at most `workers` at a time, each in a forked
    process of its own; results in input order. `first` runs alone before them.

    The first failure is raised here after the running jobs are stopped (SIGTERM: their run
    guards mark their runs KILLED). workers == 1 runs everything in this process (where
    Lightning's own bar shows the steps). With workers, a terminal's stderr shows the jobs
    done out of the total, the running jobs' steps, the elapsed time and an estimate of the
    rest (progress.py).
    """
    if workers == 1:
        if first is not None:
            first()
        return [job(*args) for args in arguments]
    if first is not None:
        _run_forked(first, [()], 1, show=False)
    return _run_forked(job, arguments, workers)


def _run_forked(job: Callable[..., Result], arguments: Sequence[tuple], workers: int,
                show: bool = True) -> list[Result]:
    context = multiprocessing.get_context("fork")
    waiting = list(enumerate(arguments))
    running: dict = {}  # result connection -> (job index, process)
    results: list = [None] * len(arguments)
    steps = context.RawArray("q", len(arguments))  # each job's step so far (one writer a slot)
    bar = progress.Jobs(len(arguments), show=show)  # a terminal's stderr only; changes nothing
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                index, args = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(job, args, send, steps, index))
                process.start()
                send.close()
                running[receive] = (index, process)
            bar.running([steps[index] for index, _ in running.values()])
            ready = multiprocessing.connection.wait(list(running), timeout=bar.tick_s)
            if not ready:  # only with a bar: redraw its clock, keep waiting
                bar.tick()
            for conn in ready:
                index, process = running.pop(conn)
                try:
                    status, value = conn.recv()
                except EOFError:  # killed before it could answer
                    process.join()
                    status, value = "error", RuntimeError(
                        f"job {index}: its process ended without a result (exit code "
                        f"{process.exitcode})")
                finally:
                    conn.close()
                process.join()
                if status == "error":
                    raise value
                results[index] = value
                bar.done()
        return results
    finally:
        bar.close()
        for _, process in running.values():
            process.terminate()
        for conn, (_, process) in running.items():
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
