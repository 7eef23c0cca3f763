"""What a kill or a storage fault cannot cost, through the real `dvc repro` on a workspace
holding a whole smoke study: the stages' outputs are `persist: true` (DVC leaves them in place)
and written whole or not at all (artifacts.replacing), so the previous results stay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from attnbench.execution.workspace import dvc, pipeline_env, stop_group
from conftest import fingerprint

VARIANT = "transformer_local"  # the smoke study's slowest evaluation


@pytest.fixture(scope="module")
def study_workspace(workspaces):
    return workspaces[1]


def stage_processes(group: int) -> list[str]:
    """Command lines of the processes in a process group."""
    listing = subprocess.run(["ps", "-o", "pgid=,args=", "-e"], capture_output=True, text=True).stdout
    return [line.split(None, 1)[1] for line in listing.splitlines()
            if line.split(None, 1)[0] == str(group) and len(line.split(None, 1)) > 1]


def test_a_killed_evaluation_costs_no_result(study_workspace):
    ws = study_workspace
    before = {k: v for k, v in fingerprint(ws).items() if k.startswith("reports/")}
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--force", "--single-item", f"evaluate@{VARIANT}"],
                            cwd=ws, env=pipeline_env(ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(f"evaluate --variant {VARIANT}" in line for line in stage_processes(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "the evaluate stage never started"
            time.sleep(0.05)
        time.sleep(1.0)  # into its imports and jobs, before it writes
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_group(proc)
    after = dvc(ws, "repro")
    assert "Running stage" not in after.stdout, after.stdout  # restored as it was, nothing recomputed
    assert {k: v for k, v in fingerprint(ws).items() if k.startswith("reports/")} == before


@contextmanager
def mounted(target: Path, *options: str):
    """A mount over `target` (a tmpfs or a read-only bind), removed on every exit path."""
    subprocess.run(["mount", *options, str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


FAULTS = {
    # a full disk while evaluate writes: a tmpfs of 64 KiB over the variant's evaluations
    "full disk": ("reports/eval/lstm", ["-t", "tmpfs", "-o", "size=64k", "tmpfs"], "evaluate@lstm",
                  "No space left on device"),
    # a read-only folder while evaluate writes
    "read-only folder": ("reports/eval/lstm", None, "evaluate@lstm", "Read-only file system"),
}


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs or a read-only bind needs root")
@pytest.mark.parametrize("case", list(FAULTS))
def test_a_storage_fault_is_one_line_naming_the_path(study_workspace, case):
    ws = study_workspace
    folder, options, stage, cause = FAULTS[case]
    target = ws / folder
    before = fingerprint(ws)
    if options is None:  # bind the folder over itself, then make that mount read-only
        with mounted(target, "--bind", str(target)):
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
            result = dvc(ws, "repro", "--force", "--single-item", stage, check=False)
    else:
        saved = {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()}
        with mounted(target, *options):
            result = dvc(ws, "repro", "--force", "--single-item", stage, check=False)
        assert {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()} == saved
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error: ")]
    assert result.returncode != 0
    assert len(errors) == 1, result.stdout + result.stderr
    assert folder in errors[0] and cause in errors[0], errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert fingerprint(ws) == before, "an output or the MLflow store changed"
