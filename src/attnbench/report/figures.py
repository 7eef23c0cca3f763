"""Matplotlib figures of a study, written as PNG with fixed metadata (byte-stable)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from attnbench.report.stats import Curve  # noqa: E402

PNG_METADATA = {"Software": None}  # no version string: same bytes across patch releases
DPI = 100


def save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)


def accuracy_by_length(curves: dict[tuple[str, str], Curve], tasks: list[str],
                       variants: list[str], longest_trained: int, path: Path) -> None:
    """Exact-match accuracy vs length, one panel per task: mean over seeds, 95% band."""
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for variant in variants:
            curve = curves[(task, variant)]
            means = [iv.mean for iv in curve.seq_acc]
            line, = ax.plot(curve.lengths, means, marker="o", markersize=3, label=variant)
            ax.fill_between(curve.lengths, [iv.low for iv in curve.seq_acc],
                            [iv.high for iv in curve.seq_acc], color=line.get_color(), alpha=0.2)
        ax.axvline(longest_trained + 0.5, color="grey", linestyle="--", linewidth=1)
        ax.text(longest_trained + 0.7, 0.98, "extrapolation", color="grey", va="top", fontsize=8)
        ax.set(title=task, xlabel="sequence length", ylabel="exact-match accuracy",
               ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    save(fig, path)


def attention_heatmaps(examples: dict[str, dict], task: str, path: Path) -> None:
    """Attention weights (target step x source position) of one fixed test example."""
    fig, axes = plt.subplots(1, len(examples), figsize=(4.2 * len(examples), 4), squeeze=False)
    for ax, (variant, example) in zip(axes[0], examples.items()):
        weights = example["weights"]  # (T, S)
        image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        correct = example["prediction"] == example["target"]
        ax.set_xticks(range(len(example["source"])), [str(t) for t in example["source"]], fontsize=7)
        ax.set_yticks(range(len(weights)), [str(t) for t in example["prediction"]], fontsize=7)
        ax.set(title=f"{task}: {variant} (seed {example['seed']}, {'correct' if correct else 'wrong'})",
               xlabel="source token", ylabel="predicted token (2 = EOS)")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    save(fig, path)


def training_curves(curves: dict[tuple[str, str], list[dict]], tasks: list[str],
                    variants: list[str], path: Path) -> None:
    """Training loss vs step, one panel per task, one line per (variant, seed)."""
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for index, variant in enumerate(variants):
            for seed_curve in curves[(task, variant)]:
                steps, losses = zip(*seed_curve["loss"]) if seed_curve["loss"] else ((), ())
                ax.plot(steps, losses, color=f"C{index}", alpha=0.7, linewidth=1,
                        label=variant if seed_curve is curves[(task, variant)][0] else None)
        ax.set(title=task, xlabel="step", ylabel="training loss", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path)
