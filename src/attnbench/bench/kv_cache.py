"""Section 9: Transformer greedy decoding with the key/value cache against rerunning the
decoder over the whole prefix at every step (issue 12). Both decode the same batch to the
same length (no early stop), so each does exactly `length` steps; their tokens must agree."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attnbench.bench.table import Report, ms, times
from attnbench.config import Params
from attnbench.cost.curves import build_variant, exact_length_batch
from attnbench.cost.timing import compare, ratio
from attnbench.data.tasks import SOS


@torch.no_grad()
def decode(model, src: torch.Tensor, steps: int, cached: bool) -> torch.Tensor:
    """`steps` greedy steps from SOS, (B, steps) tokens; the cache or the full prefix."""
    encoded = model.encode(src)
    state = model.start(encoded) if cached else model.start(encoded).prefix
    prev = torch.full((src.size(0),), SOS, dtype=torch.long)
    tokens = []
    for _ in range(steps):
        step = model.step(prev, state, encoded) if cached else model.step_recomputing(prev, state, encoded)
        state, prev = step.state, step.logits.argmax(-1)
        tokens.append(prev)
    return torch.stack(tokens, 1)


def kv_cache_section(params: Params, variants: Sequence[str], lengths: Sequence[int], batch_size: int,
                     rounds: int) -> Report:
    rows, headline = [], []
    for variant in variants:
        model = build_variant(params, variant).eval()
        for length in lengths:
            src = exact_length_batch(length, batch_size, params.data.vocab_size).src  # (B, L)
            same = torch.equal(decode(model, src, length + 1, True), decode(model, src, length + 1, False))
            result = compare({"cache": lambda: decode(model, src, length + 1, True),
                              "recompute": lambda: decode(model, src, length + 1, False)},
                             rounds=rounds, warmup=1)
            med, low = ratio(result["recompute"], result["cache"])
            headline.append(f"{variant} {times(med)} at L={length}")
            rows.append([variant, str(length), ms(result["recompute"].median), ms(result["cache"].median),
                         times(med), times(low), "yes" if same else "NO"])
    return Report(
        title=f"9. Transformer greedy decoding: key/value cache vs recomputing the prefix (batch {batch_size})",
        headline="Recompute / cache (ratio of medians): " + "; ".join(headline),
        headers=["variant", "L", "recompute med", "cache med", "speedup med", "speedup min", "same tokens"],
        rows=rows,
        notes=["Times in ms to decode L + 1 tokens (the target length with EOS) for the whole batch, "
               "encoder included; no early stop, so both do the same number of steps."],
    )
