"""Section 5: what pinned numerics cost, training with the pinned kernels vs the host's own.

The pins act when a process starts (MKL and ATen read them once), so each candidate
(unpinned, pinned, and one pin at a time) is a worker process; all are started side by side
and asked in turn (A, B, C, ...) to time optimisation steps of the same variant on the same
batch. Each worker times itself; only one works at a time, so none loads another's core.

    python -m attnbench.bench --sections 5       # the table, inside `make bench`
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence

from attnbench.bench.table import Report, ms, times
from attnbench.platform import numerics

# The empty value makes each library choose for itself, as if unset (MKL: CNR off; ATen:
# the host's best capability), while telling `import attnbench` not to pin it.
UNPINNED_ENV = {"MKL_CBWR": "", "ATEN_CPU_CAPABILITY": ""}


CANDIDATES = {  # name: (dispatch variables, oneDNN on)
    "unpinned": (UNPINNED_ENV, True),
    "pinned": ({}, False),
    "MKL only": ({"ATEN_CPU_CAPABILITY": ""}, True),
    "ATen only": ({"MKL_CBWR": ""}, True),
    "oneDNN off only": (UNPINNED_ENV, False),
    "MKL+ATen, oneDNN AVX2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, True),
}


class Worker:
    """A child process that builds variants and times training steps on request."""

    def __init__(self, params_path: str, env: dict[str, str], onednn: bool):
        """env: the dispatch variables to set (others as `import attnbench` pins them)."""
        command = [sys.executable, "-m", "attnbench.bench.pinning", params_path]
        command += ["--onednn"] if onednn else []
        self.process = subprocess.Popen(command, env=numerics.child_environment(**env),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        self.settings = self.ask({"settings": True})

    def ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker exited with {self.process.wait()}")
        return json.loads(line)

    def seconds_per_step(self, variant: str, length: int, batch: int, steps: int) -> float:
        return self.ask({"variant": variant, "length": length, "batch": batch, "steps": steps})["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def serve(params_path: str, onednn: bool) -> None:
    """The worker's loop: one JSON request per stdin line, one JSON answer per stdout line."""
    warnings.filterwarnings("ignore", ".*ATEN_CPU_CAPABILITY.*")  # the empty value, on purpose
    import torch

    from attnbench.config import load_params
    from attnbench.cost.curves import step_call

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = onednn  # True undoes numerics.configure_torch
    params = load_params(params_path)
    cache: dict[tuple, object] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if "settings" in request:
            answer = numerics.settings()
        else:
            key = (request["variant"], request["length"], request["batch"])
            if key not in cache:
                cache[key] = step_call(params, *key)
            step = cache[key]
            start = time.perf_counter()
            for _ in range(request["steps"]):
                step()
            answer = {"seconds": (time.perf_counter() - start) / request["steps"]}
        print(json.dumps(answer), flush=True)


def pinning_section(params_path: str, variants: Sequence[str], length: int, batch: int,
                    rounds: int, steps: int):
    """ms per training step of every variant under each candidate, alternated per round."""

    workers = {name: Worker(params_path, env, onednn) for name, (env, onednn) in CANDIDATES.items()}
    try:
        rows, ratios = [], []
        for variant in variants:
            for worker in workers.values():  # warm-up: builds the model, first steps
                worker.seconds_per_step(variant, length, batch, 2)
            samples = {name: [] for name in workers}
            for _ in range(rounds):
                for name, worker in workers.items():
                    samples[name].append(worker.seconds_per_step(variant, length, batch, steps))
            med = {name: statistics.median(values) for name, values in samples.items()}
            ratios.append(med["pinned"] / med["unpinned"])
            rows.append([variant, *(ms(med[n]) for n in workers), times(ratios[-1])])
        settings = {name: w.settings for name, w in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()
    described = [
        f"{name}: MKL branch {s['mkl_cbwr']}, ATen {s['aten_cpu_capability']}, oneDNN "
        f"{'on' if s['onednn_enabled'] == 'true' else 'off'}" for name, s in settings.items()
    ]
    return Report(
        title=f"5. Pinned numerics vs the host's own kernels, L={length}, batch {batch}, training step",
        headline=(f"No target; the cost of exactness. Pinned / unpinned time per step: median over "
                  f"variants {times(statistics.median(ratios))}, range {times(min(ratios))}-{times(max(ratios))}"),
        headers=["variant", *(f"{name} ms" for name in CANDIDATES), "pinned / unpinned"],
        rows=rows,
        notes=[*described,
               f"One worker process per candidate, asked in turn, {rounds} rounds of {steps} steps each after a "
               "warm-up; medians. Each step: forward, cross-entropy, backward, clipping, Adam."],
    )


if __name__ == "__main__":
    serve(sys.argv[1], onednn="--onednn" in sys.argv[2:])
