"""Section 1: training step time of every variant at several source lengths.

The measurement is the cost pipeline's own (cost.measure); this section prints it as
throughput beside the LSTM baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

from attnbench.bench import LONG
from attnbench.bench.table import Report, ms, times
from attnbench.config import Params
from attnbench.cost import curves as cost


def throughput_section(params: Params, lengths: Sequence[int], batch_size: int, rounds: int,
                       long_rounds: int, min_round_s: float) -> Report:
    """ms per optimisation step of every variant, all variants alternated at each length."""
    names = list(params.variants)
    parallel = {name: cost.build_variant(params, name).parallel_teacher_forcing for name in names}
    rows: list[list[str]] = []
    spans: list[str] = []
    for length in lengths:
        chosen = long_rounds if length >= LONG else rounds
        measured = cost.measure(params, names, [length], batch_size, chosen, min_round_s)
        step = {name: measured[name][0] for name in names}  # one row each: this length
        tokens = batch_size * (length + 1)  # every target token, EOS included
        base = step.get("lstm")
        for name in names:
            row = step[name]
            rel = times(row["step_s"] / base["step_s"]) if base else "-"
            memory = "n/a" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.1f}"
            rows.append([name, str(length), "parallel" if parallel[name] else "loop",
                         ms(row["step_s"]), ms(row["step_s_min"]), f"{tokens / row['step_s']:,.0f}",
                         memory, rel, str(chosen)])
        rows.append([])
        slow = max(names, key=lambda n: step[n]["step_s"])
        fast = min(names, key=lambda n: step[n]["step_s"])
        spans.append(f"L={length}: {slow} {times(step[slow]['step_s'] / step[fast]['step_s'])} {fast}")
    return Report(
        title=f"1. Training throughput, batch {batch_size} (fwd + cross-entropy + bwd + clip + Adam step)",
        headline="No target. Slowest vs fastest variant (ratio of medians): " + "; ".join(spans),
        headers=["variant", "L", "decoder", "ms/step med", "ms/step min", "target tok/s",
                 "peak MiB", "vs lstm", "rounds"],
        rows=rows[:-1],
        notes=["L = source length; the decoder runs L + 1 steps (target + EOS); tok/s from the median.",
               "decoder: 'parallel' = teacher forcing runs all positions in one call; 'loop' = step by step.",
               "Models in train() mode; `hard` samples its attention, and its step here has the "
               "cross-entropy only (no REINFORCE term).",
               "'vs lstm' = this variant's median / lstm's median at the same length."],
    )
