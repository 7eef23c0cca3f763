"""Attention heatmaps as PNG with fixed metadata (byte-stable): for evaluation (one run's,
logged to MLflow) and the report (one panel per variant). Apart from figures.py so that
evaluation does not depend on the report's statistics.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from attnbench.tracking.artifacts import replacing  # noqa: E402

PNG_METADATA = {"Software": None}  # no version string: same bytes across patch releases
DPI = 100


def save(fig: plt.Figure, path: Path) -> None:
    with replacing(path) as temporary:
        fig.savefig(temporary, format=path.suffix.lstrip("."), dpi=DPI, metadata=PNG_METADATA, bbox_inches="tight")
    plt.close(fig)


def heatmap(ax: plt.Axes, example: dict, title: str) -> matplotlib.image.AxesImage:
    """Attention weights (predicted token x source token) of one decoded example."""
    weights = example["weights"]  # (T, S)
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    correct = example["prediction"] == example["target"]
    ax.set_xticks(range(len(example["source"])), example["source_symbols"], fontsize=6)
    ax.set_yticks(range(len(weights)), example["prediction_symbols"], fontsize=6)
    ax.set_title(f"{title} ({'correct' if correct else 'wrong'})", fontsize=9)
    return image


def attention_heatmaps(examples: dict[str, dict], task: str, path: Path) -> None:
    """One panel per attention variant, the same test example in each."""
    cols = min(5, len(examples))
    rows = math.ceil(len(examples) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(examples):]:
        ax.axis("off")
    for ax, (variant, example) in zip(axes.flat, examples.items()):
        image = heatmap(ax, example, f"{task}: {variant}")
    reference = next(iter(examples.values()))
    fig.suptitle(f"{task}: {' '.join(reference['source_symbols'])} → "
                 f"{' '.join(reference['target_symbols'])} (reference)", fontsize=10)
    fig.supxlabel("source token")
    fig.supylabel("predicted token (</s> = EOS)")
    fig.colorbar(image, ax=axes, fraction=0.02)
    save(fig, path)


def single_heatmap(example: dict, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4, 3.6))
    fig.colorbar(heatmap(ax, example, title), ax=ax, fraction=0.046)
    ax.set(xlabel="source token", ylabel="predicted token (</s> = EOS)")
    save(fig, path)
