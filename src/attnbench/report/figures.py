"""Matplotlib figures of a study, written as PNG with fixed metadata (byte-stable); the
attention heatmaps, which evaluation draws too, are in heatmaps.py."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

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


PANEL_LINES = 5  # at most this many variants share a panel, each in its own colour
PALETTE = [plt.get_cmap("tab10")(i) for i in range(PANEL_LINES)]
GROUP_LINES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1))]  # a line style per group, cycled


def group_name(config) -> str:
    """The family panel a variant is drawn in, from its mechanism (config's `mechanism`)."""
    if getattr(config, "arch", None) == "transformer":
        return ("Transformers, causal encoder" if config.encoder == "causal"
                else "Transformers, bidirectional encoder")
    family = config.mechanism.family
    return {"recurrent": "fixed context vector", "global attention": "RNN, global attention"}.get(
        family, "RNN, local and hard attention")


def variant_groups(configs: dict[str, object]) -> dict[str, list[str]]:
    """Variants (in study order) by family panel, none with more than PANEL_LINES (a larger
    family continues in a second panel)."""
    groups: dict[str, list[str]] = {}
    for variant, config in configs.items():
        groups.setdefault(group_name(config), []).append(variant)
    split = {}
    for name, members in groups.items():
        chunks = [members[i:i + PANEL_LINES] for i in range(0, len(members), PANEL_LINES)]
        for index, chunk in enumerate(chunks):
            split[name if len(chunks) == 1 else f"{name} ({index + 1})"] = chunk
    return split


def group_styles(groups: dict[str, list[str]]) -> dict[str, dict]:
    """Each variant's colour (its place in its panel: distinct within a panel) and line style
    (its panel's), the same in every figure drawn from these groups."""
    return {variant: {"color": PALETTE[place], "linestyle": GROUP_LINES[row % len(GROUP_LINES)]}
            for row, members in enumerate(groups.values()) for place, variant in enumerate(members)}


def family_grid(groups: dict[str, list[str]], tasks: list[str], draw, ylabel: str, xlabel: str,
                path: Path, panel=None, **axes_settings) -> None:
    """Small multiples: a row per family (`groups`), a column per task, each row's legend at
    its right; draw(ax, task, variant, style) draws one variant's line in one panel, and
    panel(ax, task), if given, what every panel of a task shows once (a reference line)."""
    styles = group_styles(groups)
    fig, axes = plt.subplots(len(groups), len(tasks), figsize=(4.2 * len(tasks), 2.9 * len(groups)),
                             squeeze=False)
    for row, (name, members) in zip(axes, groups.items()):
        for ax, task in zip(row, tasks):
            for variant in members:
                draw(ax, task, variant, styles[variant])
            if panel is not None:
                panel(ax, task)
            ax.set(title=f"{task}: {name}", **axes_settings)
            ax.title.set_fontsize(9)
            ax.grid(alpha=0.3)
        row[0].set_ylabel(ylabel)
        row[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    save(fig, path)


def accuracy_by_length(curves: dict[tuple[str, str], Curve], tasks: list[str],
                       groups: dict[str, list[str]], longest_trained: dict[str, int], path: Path) -> None:
    """Exact-match accuracy vs length as family small multiples (`groups`, at most
    PANEL_LINES variants a panel): mean over seeds with the 95% band, a dotted line after
    each task's longest training length."""

    def draw(ax, task: str, variant: str, style: dict) -> None:
        curve = curves[(task, variant)]
        ax.plot(curve.lengths, [iv.mean for iv in curve.seq_acc], marker="o", markersize=2.5,
                linewidth=1.3, label=variant, **style)
        ax.fill_between(curve.lengths, [iv.low for iv in curve.seq_acc], [iv.high for iv in curve.seq_acc],
                        color=style["color"], alpha=0.12)

    def training_edge(ax, task: str) -> None:
        ax.axvline(longest_trained[task] + 0.5, color="grey", linestyle=":", linewidth=1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    family_grid(groups, tasks, draw, "exact match", "sequence length (dotted: longest trained)", path,
                panel=training_edge, ylim=(-0.02, 1.02))


def training_curves(curves: dict[tuple[str, str], list[dict]], tasks: list[str],
                    groups: dict[str, list[str]], path: Path) -> None:
    """Training loss vs step, mean over seeds, as the same small multiples."""

    def draw(ax, task: str, variant: str, style: dict) -> None:
        seeds = [dict(c["loss"]) for c in curves[(task, variant)] if c["loss"]]
        if seeds:
            steps = sorted(set.intersection(*(set(s) for s in seeds)))
            ax.plot(steps, [sum(s[step] for s in seeds) / len(seeds) for step in steps], linewidth=1.2,
                    label=variant, **style)

    family_grid(groups, tasks, draw, "training loss", "step", path, yscale="log")
