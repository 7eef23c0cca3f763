"""Stage `validate`: check params.yaml whole before any stage that could lose outputs runs.

DVC deletes a stage's outputs before it runs the stage's command, so a typo that the stage
itself rejects has already cost them (and `reports/` JSON is not in DVC's cache). Every
stage of the study depends on this stage's marker file, so DVC runs this one first and
stops at its error with every output in place. The marker's content never changes and DVC
keeps it (persist), so passing reruns nothing downstream.
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
from urllib.parse import urlparse

from attnbench import paths
from attnbench.config import RuntimeConfig, load_params
from attnbench.errors import ClusterError, ConfigError
from attnbench.stages import base_parser, stage_entry

MARKER_TEXT = "params.yaml passed `python -m attnbench.stages validate`\n"

SCHEDULER_TIMEOUT_S = 5


def check_executor(settings: RuntimeConfig) -> None:
    """With runtime.executor dask: a scheduler named, Dask distributed installed, and the
    scheduler's port answering, checked here so that no stage loses its outputs to them."""
    if settings.executor != "dask":
        return
    address = settings.scheduler_address()
    if importlib.util.find_spec("distributed") is None:
        raise ConfigError("runtime.executor is dask, but Dask distributed is not installed: "
                          "pip install -e '.[cluster]'")
    url = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = url.hostname, url.port or 8786
    except ValueError as exc:
        raise ConfigError(f"runtime.scheduler {address!r} is not an address ({exc})") from None
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(f"Dask scheduler {address} cannot be reached ({exc.strerror or exc}); "
                           "start it (dask scheduler), or set runtime.executor: local") from None


def check_accelerator(accelerator: str) -> None:
    """runtime.accelerator gpu needs a CUDA device; asked of NVML (the driver's library),
    without importing torch, so the answer comes in milliseconds."""
    if accelerator != "gpu":
        return
    import ctypes

    count = ctypes.c_uint(0)
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
        found = nvml.nvmlInit_v2() == 0 and nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0
    except (OSError, AttributeError):
        found = False
    if not found or count.value == 0:
        raise ConfigError("runtime.accelerator is gpu, but this machine has no CUDA device (no NVIDIA "
                          "driver answers); set runtime.accelerator: cpu")


def check_data(params) -> None:
    """Every task's splits can be drawn at the configured sizes (prepare's own generation,
    dry: milliseconds for the synthetic tasks, about a second for g2p)."""
    from attnbench.data.tasks import draw_splits

    for task in params.study.tasks:
        draw_splits(task, params.for_task(task).data)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    check_executor(params.runtime)
    check_accelerator(params.runtime.accelerator)
    check_data(params)
    marker = paths.PARAMS_CHECKED
    if not marker.is_file() or marker.read_text() != MARKER_TEXT:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(MARKER_TEXT)
    print(f"validate {args.params}: {len(params.study.tasks)} tasks x {len(params.study.variants)} "
          f"variants x {len(params.study.seeds)} seeds")


parser = base_parser(__doc__)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
