"""Stage `benchmark` (reports/cost/dvc.yaml): training cost of every variant against length.

Measures one training step's time and peak memory at each length, fits the log-log slope
(cost ~ n^k) and sets it beside the complexity Vaswani et al. 2017 (Table 1) give. The
numbers depend on the machine: this stage has its own dvc.yaml and dvc.lock, outside the
byte-for-byte promise of the accuracy pipeline.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from attnbench import runtime
from attnbench.artifacts import write_json
from attnbench.config import Params, RNNVariant, TransformerVariant, load_params
from attnbench.lit import make_optimizer
from attnbench.stages import base_parser, stage_entry

# Per-layer cost in the source length n (target length m = n + 1 here), after Vaswani et
# al. 2017 Table 1 and Luong et al. 2015: (formula, exponent of n).
COMPLEXITY = {
    "recurrent": ("O(n·d²)", 1),
    "global attention": ("O(n·m·d)", 2),
    "local attention": ("O(n·D·d)", 1),
    "hard attention": ("O(n·m·d)", 2),  # the distribution it samples from is global
    "self-attention": ("O(n²·d)", 2),
    "restricted self-attention": ("O(r·n·d) encoder, O(n²·d) decoder", 2),
}


def mechanism(variant: RNNVariant | TransformerVariant) -> str:
    if isinstance(variant, TransformerVariant):
        return "self-attention" if variant.window is None else "restricted self-attention"
    if variant.fixed_context:
        return "recurrent"
    if variant.attention in ("local_m", "local_p"):
        return "local attention"
    return "hard attention" if variant.attention == "hard" else "global attention"


def loglog_slope(lengths: list[int], values: list[float]) -> float:
    """Least-squares slope of log(value) against log(length)."""
    xs, ys = [math.log(n) for n in lengths], [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def measure_variant(params: Params, name: str) -> list[dict]:
    """Seconds per training step (median of alternating rounds) and peak bytes, per length."""
    from attnbench.bench import build_variant, compare, exact_length_batch, peak_memory_bytes, train_step_fn

    rows = []
    for length in params.cost.lengths:
        model = build_variant(params, name).train()
        optimizer = make_optimizer(model.parameters(), params.train)
        batch = exact_length_batch(length, params.cost.batch_size, params.data.vocab_size)
        step = train_step_fn(model, batch, optimizer)
        timing = compare({name: step}, rounds=params.cost.rounds, warmup=1)[name]
        rows.append({"length": length, "step_s": timing.median, "step_s_min": timing.min,
                     "peak_bytes": peak_memory_bytes(step)})
        print(f"cost {name} L={length}: {timing.median * 1e3:.1f} ms/step", flush=True)
    return rows


def summarise(params: Params, measured: dict[str, list[dict]]) -> list[dict]:
    fit_from = params.cost.fit_from_length
    summary = []
    for name, rows in measured.items():
        fitted = [r for r in rows if r["length"] >= fit_from]
        lengths = [r["length"] for r in fitted]
        kind = mechanism(params.variants[name])
        memory = [r["peak_bytes"] for r in fitted]
        summary.append({
            "variant": name,
            "mechanism": kind,
            "complexity": COMPLEXITY[kind][0],
            "expected_exponent": COMPLEXITY[kind][1],
            "time_exponent": loglog_slope(lengths, [r["step_s"] for r in fitted]),
            "memory_exponent": loglog_slope(lengths, memory) if all(memory) else None,
        })
    return summary


def render(params: Params, measured: dict[str, list[dict]], summary: list[dict]) -> str:
    lengths = params.cost.lengths
    lines = [
        "# Cost against length",
        "",
        f"One training step (teacher forcing, backward, Adam) on a batch of "
        f"{params.cost.batch_size} sequences of exactly n symbols, single-threaded CPU; "
        f"median of {params.cost.rounds} rounds after a warm-up. Peak memory is what the torch "
        f"allocator held above its starting level during one step. Slopes are least-squares "
        f"fits of log(cost) on log(n) for n ≥ {params.cost.fit_from_length}. These numbers "
        "depend on the machine; rerun with `dvc repro reports/cost/dvc.yaml`.",
        "",
        "![cost vs length](cost_vs_length.png)",
        "",
        "| variant | mechanism | complexity (Vaswani et al. Table 1) | expected k | time k | memory k |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary:
        memory = "n/a" if s["memory_exponent"] is None else f"{s['memory_exponent']:.2f}"
        lines.append(f"| {s['variant']} | {s['mechanism']} | {s['complexity']} | "
                     f"{s['expected_exponent']} | {s['time_exponent']:.2f} | {memory} |")
    lines += ["", "Milliseconds per training step:", "",
              "| variant | " + " | ".join(f"n={n}" for n in lengths) + " |",
              "|---|" + "---|" * len(lengths)]
    for name, rows in measured.items():
        lines.append(f"| {name} | " + " | ".join(f"{r['step_s'] * 1e3:.1f}" for r in rows) + " |")
    lines += ["", "Peak memory per training step (MiB):", "",
              "| variant | " + " | ".join(f"n={n}" for n in lengths) + " |",
              "|---|" + "---|" * len(lengths)]
    for name, rows in measured.items():
        cells = ["n/a" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:.1f}" for r in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## What the slopes show", ""]
    for s in summary:
        gap = s["time_exponent"] - s["expected_exponent"]
        verdict = ("as the complexity predicts" if abs(gap) < 0.35
                   else "faster growth than the complexity predicts" if gap > 0
                   else "slower growth than the complexity predicts over these lengths")
        lines.append(f"- {s['variant']} ({s['mechanism']}): time grows as n^{s['time_exponent']:.2f}, "
                     f"expected n^{s['expected_exponent']}: {verdict}.")
    lines.append("")
    return "\n".join(lines)


def figure(params: Params, measured: dict[str, list[dict]], path: Path) -> None:
    from attnbench.report.figures import plt, save, variant_styles

    styles = variant_styles(list(measured))
    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, rows in measured.items():
        lengths = [r["length"] for r in rows]
        time_ax.plot(lengths, [r["step_s"] * 1e3 for r in rows], marker="o", markersize=3, label=name,
                     **styles[name])
        if all(r["peak_bytes"] for r in rows):
            mem_ax.plot(lengths, [r["peak_bytes"] / 2**20 for r in rows], marker="o", markersize=3,
                        label=name, **styles[name])
    for ax, label in ((time_ax, "ms per training step"), (mem_ax, "peak memory (MiB)")):
        ax.set(xscale="log", yscale="log", xlabel="sequence length n", ylabel=label)
        ax.grid(alpha=0.3, which="both")
    time_ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save(fig, path)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    runtime.setup_process(params.runtime.threads)
    out = Path(args.out)
    measured = {name: measure_variant(params, name) for name in params.study.variants}
    summary = summarise(params, measured)
    write_json(out / "cost.json", {"measured": measured, "summary": summary})
    (out / "cost.md").write_text(render(params, measured, summary))
    figure(params, measured, out / "cost_vs_length.png")


parser = base_parser(__doc__)
parser.add_argument("--out", default="reports/cost", help="output directory")
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
