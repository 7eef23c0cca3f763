"""Matplotlib figures of a study, written as PNG with fixed metadata (byte-stable); the
attention heatmaps, which evaluation draws too, are in heatmaps.py."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from attnbench.report.heatmaps import save  # noqa: E402
from attnbench.report.stats import Curve  # noqa: E402

def save_with_legend(fig: plt.Figure, axes: list[plt.Axes], entries: int, path: Path) -> None:
    """One legend for all panels, below them (rows of 6 entries), then save."""
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, entries), fontsize=8,
               bbox_to_anchor=(0.5, -0.02 - 0.04 * math.ceil(entries / 6)))
    fig.tight_layout()
    save(fig, path)


def variant_styles(variants: list[str]) -> dict[str, dict]:
    """A fixed colour and line style per variant, in study order."""
    cmap = plt.get_cmap("tab20")
    return {v: {"color": cmap(i % 20), "linestyle": "-" if i < 10 else "--"} for i, v in enumerate(variants)}


def task_panels(tasks: list[str]) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4), squeeze=False)
    return fig, list(axes[0])


def accuracy_by_length(curves: dict[tuple[str, str], Curve], tasks: list[str],
                       variants: list[str], longest_trained: dict[str, int], path: Path) -> None:
    """Exact-match accuracy vs length, one panel per task: mean over seeds, 95% band; a
    dotted line after each task's longest training length."""
    styles = variant_styles(variants)
    fig, axes = task_panels(tasks)
    for ax, task in zip(axes, tasks):
        for variant in variants:
            curve = curves[(task, variant)]
            ax.plot(curve.lengths, [iv.mean for iv in curve.seq_acc], marker="o", markersize=2.5,
                    linewidth=1.2, label=variant, **styles[variant])
            ax.fill_between(curve.lengths, [iv.low for iv in curve.seq_acc],
                            [iv.high for iv in curve.seq_acc], color=styles[variant]["color"], alpha=0.12)
        ax.axvline(longest_trained[task] + 0.5, color="grey", linestyle=":", linewidth=1)
        ax.text(longest_trained[task] + 0.7, 0.98, "extrapolation", color="grey", va="top", fontsize=8)
        ax.set(title=task, xlabel="sequence length", ylabel="exact-match accuracy", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    save_with_legend(fig, axes, len(variants), path)


def training_curves(curves: dict[tuple[str, str], list[dict]], tasks: list[str],
                    variants: list[str], path: Path) -> None:
    """Training loss vs step, mean over seeds, one panel per task."""
    styles = variant_styles(variants)
    fig, axes = task_panels(tasks)
    for ax, task in zip(axes, tasks):
        for variant in variants:
            seeds = [dict(c["loss"]) for c in curves[(task, variant)] if c["loss"]]
            if not seeds:
                continue
            steps = sorted(set.intersection(*(set(s) for s in seeds)))
            mean = [sum(s[step] for s in seeds) / len(seeds) for step in steps]
            ax.plot(steps, mean, linewidth=1.2, label=variant, **styles[variant])
        ax.set(title=task, xlabel="step", ylabel="training loss (mean over seeds)", yscale="log")
        ax.grid(alpha=0.3)
    save_with_legend(fig, axes, len(variants), path)
