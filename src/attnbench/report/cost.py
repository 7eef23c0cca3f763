"""The cost pipeline's page and figure: reports/cost/cost.md and cost_vs_length.png, from
what cost.measure and cost.summarise computed."""

from __future__ import annotations

from pathlib import Path

from attnbench import paths
from attnbench.config import Params
from attnbench.report.figures import plt, save, variant_styles


def render(params: Params, measured: dict[str, list[dict]], summary: list[dict]) -> str:
    """reports/cost/cost.md: the method, the slopes beside the complexities, the raw numbers."""
    lengths = params.cost.lengths
    lines = [
        "# Cost against length",
        "",
        f"One training step (teacher forcing, backward, the study's clipping and optimiser) on a "
        f"batch of {params.cost.batch_size} sequences of exactly n symbols, single-threaded CPU; "
        f"median of {params.cost.rounds} rounds after a warm-up, every variant alternated with the "
        f"others at each length (A, B, C, ..., A, B, C, ...). Peak memory is what the torch "
        f"allocator held above its starting level during one step. Slopes are least-squares "
        f"fits of log(cost) on log(n) for n ≥ {params.cost.fit_from_length}. These numbers "
        "depend on the machine; rerun with `make cost`.",
        "",
        f"![cost vs length]({paths.COST_FIGURE.name})",
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


def figure(measured: dict[str, list[dict]], path: Path) -> None:
    """Time and peak memory per step against n, log-log, a line per variant."""
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
