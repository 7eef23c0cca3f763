"""Section 10: the windowed paths against the masked ones, one training step each (issue 12).

local_m and local_p gather each query's 2D + 1 window keys (LocalAttention.forward_windowed)
instead of scoring every key and masking (forward_masked); transformer_local's encoder
attends on the band (banded_attention) instead of masking the full score matrix. Both sides
compute the same numbers (tests). The table shows where the windowed path starts to pay: the
crossover behind WINDOWED_FROM, the source length from which `forward` and `encode` take it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from attnbench.attention.window import WINDOWED_FROM
from attnbench.bench.table import Report, ms, times
from attnbench.config import Params
from attnbench.cost.curves import build_variant, exact_length_batch
from attnbench.cost.timing import compare, ratio
from attnbench.training.objective import make_optimizer, train_step


def pinned_model(params: Params, name: str, windowed: bool):
    """A fresh `name` (seeded weights) whose windowed path is forced on or off."""
    model = build_variant(params, name).train()
    if hasattr(model, "encoder_layers"):  # transformer_local: the encoder's band
        model.encode = functools.partial(type(model).encode, model, banded=windowed)
    else:  # local_m, local_p
        attention = model.attention
        path = attention.forward_windowed if windowed else attention.forward_masked
        attention.forward = lambda query, keys, keep, positions=None, projected_keys=None, sequence_state=None: \
            path(query, keys, keep, positions, projected_keys)
    return model


def pinned_step(params: Params, name: str, length: int, batch_size: int, windowed: bool):
    """One training step of a fresh pinned_model at this length."""
    model = pinned_model(params, name, windowed)
    optimizer = make_optimizer(model.parameters(), params.train)
    batch = exact_length_batch(length, batch_size, params.data.vocab_size)
    return lambda: train_step(model, batch, optimizer, params.train.grad_clip)


def windowed_section(params: Params, variants: Sequence[str], lengths: Sequence[int],
                     batch_sizes: Sequence[int], rounds: int, min_round_s: float) -> Report:
    rows, headline = [], []
    for batch_size, length in ((b, n) for b in batch_sizes for n in lengths):
        steps = {}
        for name in variants:
            steps[(name, "masked")] = pinned_step(params, name, length, batch_size, windowed=False)
            steps[(name, "windowed")] = pinned_step(params, name, length, batch_size, windowed=True)
        result = compare({f"{n}/{p}": fn for (n, p), fn in steps.items()}, rounds=rounds, warmup=1,
                         min_round_s=min_round_s)
        for name in variants:
            masked, windowed = result[f"{name}/masked"], result[f"{name}/windowed"]
            med, low = ratio(masked, windowed)
            rows.append([name, str(batch_size), str(length), ms(masked.median), ms(windowed.median),
                         times(med), times(low)])
        headline.append(f"B={batch_size} L={length}: " + ", ".join(
            f"{n} {times(ratio(result[f'{n}/masked'], result[f'{n}/windowed'])[0])}" for n in variants))
    return Report(
        title="10. Windowed vs masked local attention, one training step",
        headline="Masked / windowed (ratio of medians; above 1 the window pays): " + "; ".join(headline),
        headers=["variant", "B", "L", "masked med", "windowed med", "masked/windowed med", "min"],
        rows=rows,
        notes=[f"The study switches to the windowed paths from L = {WINDOWED_FROM} on (WINDOWED_FROM, "
               "a constant so the bytes never depend on the machine); the cost pipeline "
               "(reports/cost/cost.md) shows their slopes to L = 2048."],
    )
