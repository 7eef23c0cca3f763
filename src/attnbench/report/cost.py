"""The cost pipeline's page and figure: reports/cost/cost.md and cost_vs_length.png, from
what cost.measure and cost.summarise computed."""

from __future__ import annotations

from pathlib import Path

from attnbench import paths
from attnbench.config import Params
from attnbench.report.figures import plt, save, variant_styles


def render(params: Params, measured: dict[str, list[dict]], summary: list[dict]) -> str:
    """reports/cost/cost.md: the method, the slopes beside the complexities, the raw numbers."""
    c = params.cost
    lengths = c.lengths
    capped = ", ".join(f"{name} to n={n}" for name, n in c.max_length.items())
    lines = [
        "# Cost against length",
        "",
        f"One training step (teacher forcing, backward, the study's clipping and optimiser) on a "
        f"batch of {c.batch_size} sequences of exactly n symbols, single-threaded CPU; "
        f"median of {c.rounds} rounds after a warm-up, every variant alternated with the "
        f"others at each length (A, B, C, ..., A, B, C, ...). Peak memory is what the torch "
        f"allocator held above its starting level during one step. Slopes are least-squares "
        f"fits of log(cost) on log(n) for n ≥ {c.fit_from_length}"
        + (f"; variants measured only to a shorter length ({capped}: a step beyond takes minutes "
           "or GiBs) are fitted over their three longest lengths" if capped else "")
        + (f". Rows marked (encoder) time the forward and backward of a Transformer's encoder "
           "alone, where restricted self-attention is not diluted by the decoder's full "
           "self- and cross-attention" if c.encoder_only else "")
        + ". These numbers depend on the machine; rerun with `make cost`.",
        "",
        f"![cost vs length]({paths.COST_FIGURE.name})",
        "",
        "| variant | mechanism | complexity (Vaswani et al. Table 1) | expected k | fitted over n | time k | memory k |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        memory = "n/a" if s["memory_exponent"] is None else f"{s['memory_exponent']:.2f}"
        first, last = s["fitted_lengths"]
        lines.append(f"| {s['variant']} | {s['mechanism']} | {s['complexity']} | "
                     f"{s['expected_exponent']} | {first}–{last} | {s['time_exponent']:.2f} | {memory} |")
    lines += ["", "Milliseconds per step (— : not measured at that length):", "", *length_table(
        measured, lengths, lambda r: f"{r['step_s'] * 1e3:.1f}")]
    lines += ["", "Peak memory per step (MiB):", "", *length_table(
        measured, lengths, lambda r: "n/a" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:.1f}")]
    lines += ["", "## What the slopes show", ""]
    for s in summary:
        gap = s["time_exponent"] - s["expected_exponent"]
        verdict = ("as the complexity predicts" if abs(gap) < 0.35
                   else "faster growth than the complexity predicts" if gap > 0
                   else "slower growth than the complexity predicts over these lengths")
        first, last = s["fitted_lengths"]
        lines.append(f"- {s['variant']} ({s['mechanism']}): time grows as n^{s['time_exponent']:.2f} "
                     f"over n = {first}–{last}, expected n^{s['expected_exponent']}: {verdict}.")
    lines += window_against_full(summary)
    lines.append("")
    return "\n".join(lines)


def window_against_full(summary: list[dict]) -> list[str]:
    """One computed sentence: over the lengths most rows are fitted on, the slopes of the
    windowed mechanisms (expected n^1, attention) against those of the quadratic ones."""
    ranges = [tuple(s["fitted_lengths"]) for s in summary]
    common = max(set(ranges), key=ranges.count)
    same = [s for s in summary if tuple(s["fitted_lengths"]) == common]
    windowed = [s for s in same if s["expected_exponent"] == 1 and s["mechanism"] != "recurrent"]
    quadratic = [s for s in same if s["expected_exponent"] == 2]
    if not windowed or not quadratic:
        return []

    def span(rows: list[dict]) -> str:
        rows = sorted(rows, key=lambda s: s["time_exponent"])
        return ", ".join(f"{s['variant']} n^{s['time_exponent']:.2f}" for s in rows)
    return ["", f"Over n = {common[0]}–{common[1]}, the windowed mechanisms grow as {span(windowed)}; "
            f"the quadratic ones measured there as {span(quadratic)}."]


def length_table(measured: dict[str, list[dict]], lengths: list[int], cell) -> list[str]:
    """A markdown table, a row per measured row and a column per length; — where not measured."""
    lines = ["| variant | " + " | ".join(f"n={n}" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
    for name, rows in measured.items():
        by_length = {r["length"]: r for r in rows}
        lines.append(f"| {name} | " + " | ".join(cell(by_length[n]) if n in by_length else "—"
                                                  for n in lengths) + " |")
    return lines


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
