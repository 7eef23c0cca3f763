"""Pinned numerics and the platform canary (`make check-platform` runs this file).

The canary trains every variant for a few dozen steps and compares the weights' md5s with
golden values made on the machine that ran the committed study: equal bytes here mean
this machine can reproduce the study; a mismatch fails with one message naming the
variants that differ and the platform.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from attnbench.config import load_params
from attnbench.platform import canary, numerics
from conftest import REPO

GOLDEN_PATH = REPO / canary.GOLDEN
DISPATCH_FREE_ENV = numerics.child_environment()


@pytest.fixture(scope="module")
def study():
    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN_PATH.read_text())


def run_module(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env={**DISPATCH_FREE_ENV, **env},
                          capture_output=True, text=True, timeout=1800)  # only a hang exceeds it


def test_this_process_runs_the_pinned_kernels():
    import attnbench.models  # noqa: F401 - where every network is built: oneDNN goes off

    assert os.environ["MKL_CBWR"] == "COMPATIBLE"
    assert numerics.dispatch_mismatches() == []
    settings = numerics.settings()
    assert (settings["mkl_cbwr"], settings["aten_cpu_capability"], settings["onednn_enabled"]) == (
        "COMPATIBLE", "AVX2", "false")


def test_adam_steps_fused(study):
    """Unfused Adam takes sqrt through MKL's vector maths, which differs between Intel and AMD
    even under the pins (measured); every training path must get the fused kernel."""
    import torch

    from attnbench.training.objective import make_optimizer

    optimizer = make_optimizer([torch.nn.Parameter(torch.zeros(3))], study.train)
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["fused"] is True


def test_canary_matches_the_golden_md5s(study, golden):
    """The check a user runs: does this machine compute the committed study's bytes?"""
    message = canary.mismatch(golden, study, canary.run_canary(study))
    if message:
        pytest.fail(message, pytrace=False)


def test_pinned_bytes_do_not_move_with_the_hosts_own_choices(golden):
    """MKL's and oneDNN's ISA restricted to lower levels than this host's best: same bytes."""
    result = run_module(["attnbench.platform.canary", "--print"],
                        MKL_ENABLE_INSTRUCTIONS="SSE4_2", ONEDNN_MAX_CPU_ISA="SSE41")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == golden["md5"]


def test_canary_fails_readably_when_a_pin_is_forced_elsewhere():
    result = run_module(["attnbench.platform.canary"], ATEN_CPU_CAPABILITY="default")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    warning = [line for line in lines if "outside the exact-reproduction promise" in line]
    assert len(warning) == 1 and "ATEN_CPU_CAPABILITY=default overrides the pinned avx2" in warning[0]
    message = lines[-1]
    count = len(load_params(REPO / "params.yaml").study.variants)
    assert message.startswith(f"platform canary: {count} of {count} variants trained to other weights")
    assert "ATen DEFAULT" in message and numerics.cpu_model() in message
    assert "will not reproduce the committed study" in message


def test_canary_refuses_golden_values_of_other_settings(study, golden):
    wider = study.model_copy(update={"model": study.model.model_copy(update={"hidden_dim": 65})})
    message = canary.mismatch(golden, wider, golden["md5"])
    assert message and "other model, train or variant settings" in message
    assert canary.mismatch(golden, study, golden["md5"]) is None
    changed = {**golden["md5"], "lstm": "0" * 32}
    assert f"1 of {len(golden['md5'])} variants" in canary.mismatch(golden, study, changed)


def test_outside_promise_names_each_reason(monkeypatch):
    monkeypatch.setattr(numerics.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(numerics.metadata, "version", lambda name: "2.13.0")
    monkeypatch.setattr(numerics, "_problems", ["MKL_CBWR=AVX2 overrides the pinned COMPATIBLE"])
    assert numerics.outside_promise() == [
        "MKL_CBWR=AVX2 overrides the pinned COMPATIBLE",
        "an aarch64 CPU, not x86-64",
        "torch 2.13.0, not the pinned 2.13.0+cpu",
    ]
    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(numerics, "cpu_flags", lambda: {"sse2", "avx"})
    assert "a CPU without AVX2/FMA" in numerics.outside_promise()


@pytest.mark.skipif(numerics.platform.machine() != "x86_64", reason="CPUID is an x86 instruction")
def test_the_processor_is_read_from_cpuid_and_agrees_with_the_kernel_on_a_real_cpu():
    """On real hardware CPUID and /proc/cpuinfo describe one processor: the same vendor and
    the same answer for every flag the promise needs (under qemu-user only CPUID follows the
    emulated CPU: the emulated canary's test checks that)."""
    found = numerics.processor()
    assert found.source == "CPUID" and found.brand and found.brand in numerics.cpu_model()
    assert found.vendor == numerics._cpuinfo("vendor_id")
    kernel = set(numerics._cpuinfo("flags").split())
    for flag in (*numerics.REQUIRED_CPU_FLAGS, "avx512f"):
        assert (flag in found.flags) == (flag in kernel), flag


def test_the_processor_falls_back_to_proc_cpuinfo_where_cpuid_cannot_run(monkeypatch):
    monkeypatch.setattr(numerics, "_from_cpuid", lambda: None)
    numerics.processor.cache_clear()
    try:
        found = numerics.processor()
        assert found.source == "/proc/cpuinfo" and found.brand == numerics._cpuinfo("model name")
        assert numerics.cpu_model().endswith("by /proc/cpuinfo")
    finally:
        numerics.processor.cache_clear()


def test_outside_promise_is_said_once_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(numerics, "_warned", False)
    monkeypatch.setattr(numerics, "outside_promise", lambda: ["an aarch64 CPU, not x86-64"])
    numerics.warn_if_outside_promise()
    numerics.warn_if_outside_promise()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside the exact-reproduction promise (an aarch64 CPU" in err


def test_a_process_building_models_is_pinned_and_silent():
    """A fresh process: `import attnbench` pins MKL and ATen, the models package turns
    oneDNN off, and a platform inside the promise prints nothing."""
    code = ("import attnbench.models, torch; from attnbench.platform import numerics; "
            "torch.mm(torch.ones(2, 2), torch.ones(2, 2)); print(numerics.dispatch_mismatches())")
    result = subprocess.run([sys.executable, "-c", code], env=DISPATCH_FREE_ENV,
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")


def test_child_environment_drops_every_dispatch_variable_but_the_ones_asked_for(monkeypatch):
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    env = numerics.child_environment(ONEDNN_MAX_CPU_ISA="SSE41")
    assert [key for key in numerics.DISPATCH_VARIABLES if key in env] == ["ONEDNN_MAX_CPU_ISA"]
    assert env["ONEDNN_MAX_CPU_ISA"] == "SSE41" and env["PATH"] == os.environ["PATH"]


@pytest.mark.extended
@pytest.mark.skipif(shutil.which("qemu-x86_64") is None,
                    reason="qemu-user is not installed (Debian's qemu-user; .ci/run installs it)")
def test_the_emulated_intel_canary_fails_readably_when_a_pin_is_forced_off():
    """Under qemu's Haswell (GenuineIntel, AVX2), MKL_CBWR=AUTO lets MKL take the Intel AVX2
    branch: the canary must notice and name the cause (the planted fault of the cross-CPU
    check that .ci/run and make check-cross-cpu run)."""
    env = {**numerics.child_environment(), "MKL_CBWR": "AUTO"}
    done = subprocess.run([str(REPO / "tools" / "emulated-canary.sh"), "Haswell", "--variants", "lstm"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("platform canary: 1 of 1 variants trained to other weights than the "
                           "committed golden values (lstm)"), last
    assert "MKL_CBWR=AUTO overrides the pinned COMPATIBLE" in last
    # the processor as MKL sees it (CPUID), not the host's /proc/cpuinfo; no AVX-512 there
    assert "on Intel Core Processor (Haswell), GenuineIntel by CPUID (x86_64, AVX-512 no)" in last, last
