"""`make bench` section 5: the pinned and unpinned workers really run different kernels."""

from __future__ import annotations

import pytest

from attnbench.bench.pinning import CANDIDATES, Worker
from conftest import REPO


@pytest.fixture(scope="module")
def workers():
    started = {name: Worker(str(REPO / "params.yaml"), *CANDIDATES[name]) for name in ("unpinned", "pinned")}
    yield started
    for worker in started.values():
        worker.close()


def test_workers_report_the_settings_they_run_under(workers):
    pinned, unpinned = workers["pinned"].settings, workers["unpinned"].settings
    assert (pinned["mkl_cbwr"], pinned["aten_cpu_capability"], pinned["onednn_enabled"]) == (
        "COMPATIBLE", "AVX2", "false")
    assert (unpinned["mkl_cbwr"], unpinned["onednn_enabled"]) == ("OFF", "true")
    assert pinned["in_promise"] == "yes" and unpinned["in_promise"] != "yes"


def test_workers_time_training_steps(workers):
    for worker in workers.values():
        seconds = worker.seconds_per_step("lstm", length=6, batch=4, steps=2)
        assert 0 < seconds < 60
