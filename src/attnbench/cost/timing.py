"""Timing and memory of callables, measured side by side.

Compared candidates run alternately (A, B, A, B, ...) after a warm-up, with the garbage
collector off inside each timed call; each is summarised as the median and the minimum
seconds per call over the rounds. Used by the cost pipeline and the benchmark.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one candidate: median and minimum over the rounds."""

    median: float
    min: float
    samples: tuple[float, ...]  # one per round, in order
    calls_per_round: int = 1  # calls averaged into each sample

    @classmethod
    def from_samples(cls, samples: Sequence[float], calls_per_round: int = 1) -> Timing:
        return cls(statistics.median(samples), min(samples), tuple(samples), calls_per_round)


def ratio(slow: Timing, fast: Timing) -> tuple[float, float]:
    """(ratio of medians, ratio of mins): how many times longer `slow` takes."""
    return slow.median / fast.median, slow.min / fast.min


def _timed(fn: Callable[[], None], calls: int) -> float:
    """Mean seconds per call over `calls` back-to-back calls, with the garbage collector off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls
    finally:
        if was_enabled:
            gc.enable()


def compare(
    candidates: dict[str, Callable[[], None]],
    rounds: int = 5,
    warmup: int = 1,
    min_round_s: float = 0.0,
) -> dict[str, Timing]:
    """Time the candidates alternately: warm-up rounds, then `rounds` rounds of A, B, A, B, ...

    With min_round_s > 0 (and warmup >= 1) a candidate faster than that runs several calls
    per round, as many as the last warm-up call says fit into min_round_s; its sample is
    then the mean over those calls.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    calls = dict.fromkeys(candidates, 1)
    for _ in range(warmup):
        for name, fn in candidates.items():
            seconds = _timed(fn, 1)
            if min_round_s > 0:
                calls[name] = max(1, math.ceil(min_round_s / max(seconds, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            gc.collect()
            samples[name].append(_timed(fn, calls[name]))
    return {name: Timing.from_samples(samples[name], calls[name]) for name in candidates}


def peak_memory_bytes(fn: Callable[[], None], device=None) -> int | None:
    """Peak bytes the torch allocator of `device` (default: the CPU) held beyond its level
    at the start of one call.

    On the CPU: from the allocation events of torch.profiler (profile_memory=True), summed
    in time order; None if this torch build does not expose them. On a CUDA device: the
    caching allocator's own peak counter.
    """
    import torch
    from torch.profiler import ProfilerActivity, profile

    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        return torch.cuda.max_memory_allocated(device) - start

    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    try:
        events = prof.profiler.kineto_results.events()
        allocations = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    except AttributeError:
        return None
    if not allocations:
        return None
    held = peak = 0
    for _, nbytes in allocations:
        held += nbytes
        peak = max(peak, held)
    return peak


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (kineto prints start/stop lines there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
