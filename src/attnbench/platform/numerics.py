"""Pinned CPU numerics: the same kernels, hence the same bytes, on every x86-64 CPU with AVX2.

Three libraries inside torch choose their kernels by processor, and a different kernel
sums in a different order, so the floats differ in the last bits and training drifts:

- MKL (every float matrix product): `MKL_CBWR=COMPATIBLE`. Of MKL's Conditional Numerical
  Reproducibility branches it is the one honoured on Intel and AMD alike (SSE2 without
  rcpps/rsqrtps); `AVX2`, `AVX512`, ... are Intel-only and silently fall back to the
  processor's own choice elsewhere (checked here: on AMD, MKL reports branch AUTO for them).
- ATen (element-wise maths, reductions, softmax, SDPA): `ATEN_CPU_CAPABILITY=avx2`, the
  vector width every promised CPU has; AVX-512 hosts would otherwise take their own kernels.
- oneDNN (`nn.LSTM` / `nn.RNN` on CPU): switched off (`torch.backends.mkldnn.enabled =
  False`), so recurrent layers run ATen's cell over MKL's matrix products. Capping its ISA
  is not enough: its RNN bytes move between ONEDNN_MAX_CPU_ISA=AVX2 and SSE41.

MKL's vector maths (VML), which ATen calls for a few element-wise functions, stays
outside CNR: its sqrt gives other bits on an Intel Xeon than on an AMD EPYC under these
pins (measured, same torch). The study's one tensor sqrt is Adam's, so Adam runs fused,
in ATen code (objective.make_optimizer). With that, both processors trained to identical bytes.

The environment variables must be set before torch's first kernel runs, so `import
attnbench` sets them (unless the user already did); `configure_torch()` switches oneDNN
off once torch is loaded. A process outside the promise says so once, in one line.

The processor is named, and its flags read, from the CPUID instruction (py-cpuinfo), which
is what MKL and ATen dispatch on: under an emulator (qemu-user -cpu Haswell) /proc/cpuinfo
still describes the host, CPUID the emulated CPU. /proc/cpuinfo is the fallback where CPUID
cannot run (not x86, or executable memory refused).
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata

PINNED_ENV = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2"}
# Every variable that picks a kernel: the pins plus MKL's and oneDNN's own ISA ceilings.
DISPATCH_VARIABLES = (*PINNED_ENV, "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")
TORCH_BUILD = "2.13.0+cpu"  # pyproject.toml pins torch==2.13.0; the CPU build is the promise
REQUIRED_CPU_FLAGS = ("avx2", "fma")
MKL_BRANCHES = {0: "OFF", 1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 8: "SSE4_2",
                9: "AVX", 10: "AVX2", 12: "AVX512"}  # mkl_cbwr_get(MKL_CBWR_BRANCH) -> name

_problems: list[str] = []
_warned = False


def pin_environment() -> None:
    """Set the pinned variables before torch loads; note any that a user overrode."""
    if "torch" in sys.modules:
        _problems.append("torch was imported before attnbench pinned its numerics")
    for key, value in PINNED_ENV.items():
        current = os.environ.setdefault(key, value)
        if current != value:
            _problems.append(f"{key}={current} overrides the pinned {value}")


def _cpuinfo(field: str) -> str | None:
    """The first `field` line of /proc/cpuinfo, or None where there is none (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def child_environment(**dispatch: str) -> dict[str, str]:
    """This process's environment for a child, with no dispatch variable but `dispatch`
    (the child's `import attnbench` then pins the rest)."""
    env = {key: value for key, value in os.environ.items() if key not in DISPATCH_VARIABLES}
    return {**env, **dispatch}


@dataclass(frozen=True)
class Processor:
    brand: str  # "Intel Core Processor (Haswell)"
    vendor: str  # "GenuineIntel", "AuthenticAMD"
    flags: frozenset[str] | None  # lower-case feature flags (avx2, fma, avx512f, ...); None if unreadable
    source: str  # "CPUID" or "/proc/cpuinfo"


def _from_cpuid() -> Processor | None:
    """The processor as CPUID reports it (py-cpuinfo's CPUID class, in this process: tens of
    milliseconds), or None where it cannot run."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        from cpuinfo.cpuinfo import CPUID

        cpuid = CPUID()
        if cpuid.is_selinux_enforcing:  # no executable memory for the instruction
            return None
        extension = cpuid.get_max_extension_support()
        return Processor(cpuid.get_processor_brand(extension).strip(), cpuid.get_vendor_id(),
                         frozenset(cpuid.get_flags(extension)), "CPUID")
    except Exception:  # noqa: BLE001 - any failure of the probe means: read /proc/cpuinfo instead
        return None


@functools.cache
def processor() -> Processor:
    """This process's processor: from CPUID, else /proc/cpuinfo (read once per process)."""
    found = _from_cpuid()
    if found is not None:
        return found
    flags = _cpuinfo("flags")
    return Processor(_cpuinfo("model name") or platform.processor() or platform.machine() or "unknown",
                     _cpuinfo("vendor_id") or "unknown", None if flags is None else frozenset(flags.split()),
                     "/proc/cpuinfo")


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags, or None where they cannot be read."""
    flags = processor().flags
    return None if flags is None else set(flags)


def cpu_model() -> str:
    """The processor's brand and vendor, and where they were read: 'Intel Core Processor
    (Haswell), GenuineIntel by CPUID'."""
    found = processor()
    return f"{found.brand}, {found.vendor} by {found.source}"


def outside_promise() -> list[str]:
    """Why this process cannot expect the committed bytes; empty inside the promise."""
    reasons = list(_problems)
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        reasons.append(f"an {platform.machine()} CPU, not x86-64")
    else:
        flags = cpu_flags()
        if flags is None:
            reasons.append(f"CPU flags unreadable on {platform.system()}")
        elif missing := [flag for flag in REQUIRED_CPU_FLAGS if flag not in flags]:
            reasons.append(f"a CPU without {'/'.join(missing).upper()}")
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    if torch_version != TORCH_BUILD:
        reasons.append(f"torch {torch_version}, not the pinned {TORCH_BUILD}")
    return reasons


def warn_if_outside_promise() -> None:
    """Say once per process, in one line, that results here may differ from the committed ones."""
    global _warned
    if _warned:
        return
    _warned = True
    reasons = outside_promise()
    if reasons:
        print(f"attnbench: this platform is outside the exact-reproduction promise "
              f"({'; '.join(reasons)}): results repeat here but may differ from the "
              "committed study", file=sys.stderr)


def configure_torch() -> None:
    """Route recurrent layers around oneDNN (see the module docstring); idempotent."""
    import torch

    torch.backends.mkldnn.enabled = False


def _mkl_library():
    import ctypes

    import torch

    return ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))


def mkl_branch() -> str:
    """The CNR branch MKL itself reports as in force (not merely what the environment asks)."""
    try:
        code = _mkl_library().mkl_serv_cbwr_get(1)  # MKL_CBWR_BRANCH
    except (OSError, AttributeError):
        return "unknown"
    return MKL_BRANCHES.get(code, str(code))


def dispatch_mismatches() -> list[str]:
    """Pinned settings that torch's libraries do not actually use in this process."""
    import torch

    found = []
    if (branch := mkl_branch()) != PINNED_ENV["MKL_CBWR"]:
        found.append(f"MKL runs CNR branch {branch}, not {PINNED_ENV['MKL_CBWR']}")
    if (capability := torch.backends.cpu.get_cpu_capability()) != PINNED_ENV["ATEN_CPU_CAPABILITY"].upper():
        found.append(f"ATen dispatches to {capability}, not {PINNED_ENV['ATEN_CPU_CAPABILITY'].upper()}")
    if torch.backends.mkldnn.enabled:
        found.append("oneDNN is enabled for recurrent layers")
    return found


def settings() -> dict[str, str]:
    """The platform and the dispatch settings in force, as strings (MLflow tags, messages)."""
    import torch

    config = torch.__config__.show()
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cpu_avx512": str(bool((cpu_flags() or set()) & {"avx512f"})).lower(),
        "torch": torch.__version__,
        "mkl": _version_in(config, "Math Kernel Library Version "),
        "onednn": _version_in(config, "MKL-DNN v"),
        "mkl_cbwr": mkl_branch(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_enabled": str(torch.backends.mkldnn.enabled).lower(),
        "threads": str(torch.get_num_threads()),
        "in_promise": "; ".join(outside_promise() + dispatch_mismatches()) or "yes",
    }


def _version_in(config: str, marker: str) -> str:
    start = config.find(marker)
    if start < 0:
        return "none"
    return config[start + len(marker):].split()[0].removesuffix("-Product")
