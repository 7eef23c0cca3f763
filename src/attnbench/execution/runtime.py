"""Process set-up shared by every stage: offline environment, threads, seeding."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path

from attnbench.errors import ConfigError

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


_STAGE_PROCESS = False  # set by setup_process: this process turns signals into Terminated


def ignore_interrupts() -> None:
    """In a stage process, SIGTERM and SIGINT ignored from now on: a second signal (Ctrl-C
    pressed twice, or the stage's SIGTERM reaching a worker that already got one) must not
    interrupt the clean-up that marks a run KILLED. Elsewhere (a test calling a run guard)
    nothing changes."""
    if _STAGE_PROCESS:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)


# Code an exception must not interrupt: raised inside a database or HTTP call, it can leave
# an SQLite write transaction open in this process, which then locks every later write of
# the store, the run guard's KILLED included.
_STORE_MODULES = ("sqlalchemy", "sqlite3", "mlflow.store", "mlflow.utils.rest_utils",
                  "urllib3", "requests")
_REDELIVER_S = 0.05


def _in_store_call(frame) -> bool:
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(_STORE_MODULES):
            return True
        frame = frame.f_back
    return False


def _raise_terminated(signum, frame):
    if _in_store_call(frame):  # deliver it again in a moment, once the call has returned
        threading.Timer(_REDELIVER_S, os.kill, (os.getpid(), signum)).start()
        return
    ignore_interrupts()
    raise Terminated(128 + signum)


def setup_process(threads: int, accelerator: str = "cpu") -> None:
    """Fix thread counts, check the accelerator, and turn SIGTERM and SIGINT into an
    exception run guards can see."""
    import torch

    global _STAGE_PROCESS
    offline_defaults()
    torch.set_num_threads(threads)
    if accelerator == "gpu":
        check_gpu()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _raise_terminated)
    _STAGE_PROCESS = True


def interruption(exc: BaseException) -> Terminated | KeyboardInterrupt | None:
    """What an exception means if it ends a run by a signal: our Terminated, a
    KeyboardInterrupt, or Lightning's SIGTERMException (a bare SystemExit it raises at its
    next step when it saw a SIGTERM first: that exit code would read as success), as a
    Terminated; None for any other error."""
    if isinstance(exc, (Terminated, KeyboardInterrupt)):
        return exc
    if isinstance(exc, SystemExit) and type(exc).__name__ == "SIGTERMException":
        return Terminated(128 + signal.SIGTERM)
    return None


def check_gpu() -> None:
    """Deterministic CUDA, or a ConfigError when torch sees no CUDA device.

    cuBLAS is deterministic only with a fixed workspace (CUBLAS_WORKSPACE_CONFIG, read when
    CUDA starts). The device count comes from NVML, which does not start CUDA in this
    process: the stage's forked workers each start their own.
    """
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ConfigError(f"runtime.accelerator is gpu, but torch {torch.__version__} ({build}) "
                          "sees no CUDA device; set runtime.accelerator: cpu")


def device(accelerator: str):
    """The torch device an accelerator setting names."""
    import torch

    return torch.device("cuda" if accelerator == "gpu" else "cpu")


# A run's random sources, all from its seed: the global streams (seed_all: initial weights,
# hard attention's samples) and a generator of its own per data loader (seeded_generator), so
# that how often validation runs shifts no other stream.
def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (workers too) for one run."""
    from lightning_fabric.utilities.seed import seed_everything

    seed_everything(seed, workers=True, verbose=False)


def seeded_generator(seed: int):
    """A torch generator of its own, seeded with `seed` (a loader's shuffle and base seeds)."""
    import torch

    return torch.Generator().manual_seed(seed)


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
