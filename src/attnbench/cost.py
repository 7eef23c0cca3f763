"""Training cost against sequence length: the one measurement of step time and memory per
length, for the cost pipeline (stages/cost.py) and the benchmark (`make bench`, section 1).

A step is `objective.train_step` (forward under teacher forcing, cross-entropy, backward,
the study's clipping and optimiser) on a batch whose every source has exactly n symbols.
The slope k of log(cost) against log(n) is set beside the exponent of the variant's
mechanism (attention/mechanism.py).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import torch
from torch import nn

from attnbench.config import Params
from attnbench.data import Batch, collate
from attnbench.models import build_model
from attnbench.objective import make_optimizer, train_step
from attnbench.tasks import FIRST_SYMBOL, make_example, vocab_total
from attnbench.timing import compare, peak_memory_bytes

CPU = torch.device("cpu")


def exact_length_batch(length: int, batch_size: int, vocab_size: int, seed: int = 0,
                       task: str = "copy") -> Batch:
    """A batch whose every source has exactly `length` symbols (so no padding anywhere):
    src (B, L), tgt_in and tgt_out (B, L + 1)."""
    rng = random.Random(f"bench:{task}:{length}:{seed}")
    examples = [
        make_example(task, "bench", tuple(rng.randrange(FIRST_SYMBOL, FIRST_SYMBOL + vocab_size)
                                          for _ in range(length)))
        for _ in range(batch_size)
    ]
    return collate(examples)


def build_variant(params: Params, name: str, seed: int = 0) -> nn.Module:
    """The variant's network as the study builds it, with seeded initial weights."""
    torch.manual_seed(seed)
    return build_model(params.variant(name), params.model, vocab_total(params.data.vocab_size))


def step_call(params: Params, name: str, length: int, batch_size: int,
              device: torch.device = CPU) -> Callable[[], None]:
    """A no-argument callable doing one training step of a fresh `name` at this length on
    `device`; on a GPU it returns when the step's kernels have finished."""
    model = build_variant(params, name).to(device).train()
    optimizer = make_optimizer(model.parameters(), params.train)
    batch = exact_length_batch(length, batch_size, params.data.vocab_size)
    batch = Batch(*(tensor.to(device) for tensor in (batch.src, batch.tgt_in, batch.tgt_out)))
    if device.type == "cuda":
        return lambda: (train_step(model, batch, optimizer, params.train.grad_clip),
                        torch.cuda.synchronize(device))
    return lambda: train_step(model, batch, optimizer, params.train.grad_clip)


def measure(params: Params, variants: Sequence[str], lengths: Sequence[int], batch_size: int,
            rounds: int, min_round_s: float = 0.0, device: torch.device = CPU) -> dict[str, list[dict]]:
    """{variant: one row per length}: seconds per step (median and minimum over the rounds,
    all variants alternated at each length) and peak bytes held during one step."""
    measured: dict[str, list[dict]] = {name: [] for name in variants}
    for length in lengths:
        steps = {name: step_call(params, name, length, batch_size, device) for name in variants}
        timings = compare(steps, rounds=rounds, warmup=1, min_round_s=min_round_s)
        for name in variants:
            measured[name].append({"length": length, "step_s": timings[name].median,
                                   "step_s_min": timings[name].min,
                                   "peak_bytes": peak_memory_bytes(steps[name], device)})
    return measured


def loglog_slope(lengths: Sequence[int], values: Sequence[float]) -> float:
    """Least-squares slope of log(value) against log(length)."""
    xs, ys = [math.log(n) for n in lengths], [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def summarise(params: Params, measured: dict[str, list[dict]]) -> list[dict]:
    """Per variant: its mechanism, the expected exponent and the fitted ones, from the
    lengths >= cost.fit_from_length (where fixed per-step costs no longer dominate)."""
    summary = []
    for name, rows in measured.items():
        fitted = [r for r in rows if r["length"] >= params.cost.fit_from_length]
        lengths = [r["length"] for r in fitted]
        mechanism = params.variants[name].mechanism
        memory = [r["peak_bytes"] for r in fitted]
        summary.append({
            "variant": name,
            "mechanism": mechanism.family,
            "complexity": mechanism.complexity,
            "expected_exponent": mechanism.exponent,
            "time_exponent": loglog_slope(lengths, [r["step_s"] for r in fitted]),
            "memory_exponent": loglog_slope(lengths, memory) if all(memory) else None,
        })
    return summary
