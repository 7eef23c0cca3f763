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

from attnbench.attention.mechanism import Mechanism, encoder_self_attention
from attnbench.config import Params
from attnbench.cost.timing import compare, peak_memory_bytes
from attnbench.data.files import Batch, collate
from attnbench.data.tasks import FIRST_SYMBOL, make_example, vocab_total
from attnbench.models import build_model
from attnbench.training.objective import make_optimizer, train_step

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


ENCODER = " (encoder)"  # suffix of the rows that time a Transformer's encoder alone


def encoder_step_call(params: Params, name: str, length: int, batch_size: int,
                      device: torch.device = CPU) -> Callable[[], None]:
    """Forward and backward of the Transformer `name`'s encoder alone (loss: the sum of its
    memory), at this length: where restricted self-attention's O(r·n) shows undiluted by
    the decoder's O(n²) self- and cross-attention."""
    model = build_variant(params, name).to(device).train()
    src = exact_length_batch(length, batch_size, params.data.vocab_size).src.to(device)  # (B, n)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model.encode(src).memory.sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return step


def row_names(variants: Sequence[str], encoder_only: Sequence[str] = ()) -> list[str]:
    return [*variants, *(name + ENCODER for name in encoder_only)]


def measure(params: Params, variants: Sequence[str], lengths: Sequence[int], batch_size: int,
            rounds: int, min_round_s: float = 0.0, device: torch.device = CPU,
            max_length: dict[str, int] | None = None, encoder_only: Sequence[str] = ()) -> dict[str, list[dict]]:
    """{row: one entry per length measured}: seconds per step (median and minimum over the
    rounds, all rows alternated at each length) and peak bytes held during one step. A row
    is a variant's training step, or its encoder alone for `encoder_only`; a variant stops
    at its max_length."""
    max_length = max_length or {}
    measured: dict[str, list[dict]] = {name: [] for name in row_names(variants, encoder_only)}
    for length in lengths:
        steps = {name: step_call(params, name, length, batch_size, device)
                 for name in variants if length <= max_length.get(name, length)}
        steps |= {name + ENCODER: encoder_step_call(params, name, length, batch_size, device)
                  for name in encoder_only if length <= max_length.get(name, length)}
        timings = compare(steps, rounds=rounds, warmup=1, min_round_s=min_round_s)
        for name in steps:
            measured[name].append({"length": length, "step_s": timings[name].median,
                                   "step_s_min": timings[name].min,
                                   "peak_bytes": peak_memory_bytes(steps[name], device)})
    return measured


def loglog_slope(lengths: Sequence[int], values: Sequence[float]) -> float:
    """Least-squares slope of log(value) against log(length)."""
    xs, ys = [math.log(n) for n in lengths], [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def mechanism_of(params: Params, row: str) -> Mechanism:
    if row.endswith(ENCODER):
        return encoder_self_attention(params.variants[row.removesuffix(ENCODER)].window)
    return params.variants[row].mechanism


def fitted_rows(rows: list[dict], fit_from_length: int) -> list[dict]:
    """The lengths a slope is fitted over: those >= fit_from_length (where fixed per-step
    costs no longer dominate), or a row's three longest where it stops short of two of them."""
    fitted = [r for r in rows if r["length"] >= fit_from_length]
    return fitted if len(fitted) >= 2 else rows[-3:]


def summarise(params: Params, measured: dict[str, list[dict]]) -> list[dict]:
    """Per row: its mechanism, the expected exponent and the fitted ones (fitted_rows)."""
    summary = []
    for name, rows in measured.items():
        fitted = fitted_rows(rows, params.cost.fit_from_length)
        lengths = [r["length"] for r in fitted]
        mechanism = mechanism_of(params, name)
        memory = [r["peak_bytes"] for r in fitted]
        summary.append({
            "variant": name,
            "mechanism": mechanism.family,
            "complexity": mechanism.complexity,
            "expected_exponent": mechanism.exponent,
            "fitted_lengths": [lengths[0], lengths[-1]],
            "time_exponent": loglog_slope(lengths, [r["step_s"] for r in fitted]),
            "memory_exponent": loglog_slope(lengths, memory) if all(memory) else None,
        })
    return summary
