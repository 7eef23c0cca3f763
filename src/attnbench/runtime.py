"""Process set-up shared by every stage: offline environment, threads, seeding."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

# Set before mlflow or dvc is imported anywhere in the process: MLflow 3.x starts a telemetry
# thread on import, and DVC posts analytics after each command unless told not to.
OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true",
    # An unreachable tracking server fails in seconds, not after minutes of back-off.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "GIT_PYTHON_REFRESH": "quiet",
}


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM or SIGINT (Ctrl-C), so
    that both end a run the same way: KILLED. (Lightning would turn a KeyboardInterrupt into
    its own graceful shutdown and exit(1), which reads as a failure.)"""


def offline_defaults() -> None:
    """Default the environment so nothing in this process phones home."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def _raise_terminated(signum, frame):  # noqa: ARG001 - signal handler signature
    # Once: a second signal (Ctrl-C pressed twice, or the stage's SIGTERM reaching a worker
    # that already got the terminal's SIGINT) must not interrupt the clean-up that marks the run.
    for other in (signal.SIGTERM, signal.SIGINT):
        signal.signal(other, signal.SIG_IGN)
    raise Terminated(128 + signum)


def setup_process(threads: int) -> None:
    """Fix thread counts and turn SIGTERM and SIGINT into an exception run guards can see."""
    import torch

    offline_defaults()
    torch.set_num_threads(threads)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _raise_terminated)


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (workers too) for one training run."""
    from lightning_fabric.utilities.seed import seed_everything

    seed_everything(seed, workers=True, verbose=False)


def project_root() -> Path:
    """The repository the study belongs to.

    DVC runs stages from the repository root; queued experiments run in a temporary copy
    and point DVC_ROOT at the original, which is where the tracking store must stay.
    """
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def is_terminal() -> bool:
    return sys.stdout.isatty()


def shows_progress() -> bool:
    """Progress bars only on a terminal, and only in the stage process (workers side by
    side would interleave theirs)."""
    return is_terminal() and multiprocessing.parent_process() is None
