"""report.md's extrapolation section: every variant ranked by exact match beyond the
training lengths, per task, with intervals; the Transformer's position schemes set against
the ranking of Kazemnejad et al. 2023 (NeurIPS), computed from the numbers.

Kazemnejad et al. trained decoder-only Transformers on copy, reverse, sort, SCAN and more,
up to length 20, tested to 40; their Figure 1 ranks the schemes by mean reciprocal rank over
10 tasks (NoPE 0.69, T5's bias 0.55, ALiBi 0.50, rotary 0.33, absolute 0.22), Figure 3 shows
accuracy against length per task, and the text reads NoPE ≈ T5 > ALiBi > rotary ≈ absolute.
Ours are encoder-decoders, so the comparison is of direction, not of numbers.
"""

from __future__ import annotations

from attnbench.config import Params, TransformerVariant
from attnbench.report.stats import Curve, Interval

Curves = dict[tuple[str, str], Curve]

# best first; pairs inside one set the paper reports as about equal
KAZEMNEJAD_ORDER = ("none", "t5_bias", "alibi", "rotary", "sinusoidal")
KAZEMNEJAD_TIES = ({"none", "t5_bias"}, {"rotary", "sinusoidal"})


def fmt(iv: Interval) -> str:
    return f"{iv.mean:.2f} [{iv.low:.2f}, {iv.high:.2f}]" if iv.n_seeds > 1 else f"{iv.mean:.2f}"


def extrapolating(params: Params) -> list[str]:
    """The study's tasks that test beyond their training lengths."""
    return [t for t in params.study.tasks
            if params.for_task(t).data.test_max_length > params.for_task(t).data.train_lengths.max]


def ranking_table(curves: Curves, task: str, params: Params) -> list[str]:
    """Every variant by mean exact match over the extrapolation lengths, best first."""
    scores = {v: curves[(task, v)].split_interval("extrapolation") for v in params.study.variants}
    ranked = sorted(scores, key=lambda v: -scores[v].mean)
    best = scores[ranked[0]]
    lines = ["| rank | variant | exact match beyond training, mean [95% interval] | tied with the best |",
             "|---|---|---|---|"]
    for rank, variant in enumerate(ranked, start=1):
        tied = "best" if rank == 1 else ("yes" if scores[variant].overlaps(best) else "")
        lines.append(f"| {rank} | {variant} | {fmt(scores[variant])} | {tied} |")
    return lines


def position_schemes(params: Params) -> dict[str, str]:
    """positions -> the study's full-attention Transformer variant using it."""
    found = {}
    for name in params.study.variants:
        cfg = params.variants[name]
        if isinstance(cfg, TransformerVariant) and cfg.window is None:
            found.setdefault(cfg.positions, name)
    return found


def scheme_findings(curves: Curves, task: str, params: Params) -> list[str]:
    schemes = position_schemes(params)
    if len(schemes) < 2:
        return []
    scores = {s: curves[(task, v)].split_interval("extrapolation") for s, v in schemes.items()}
    best = max(scores, key=lambda s: scores[s].mean)
    tied = [schemes[s] for s in scores if s != best and scores[s].overlaps(scores[best])]
    out = [f"Best position scheme beyond the training lengths: {schemes[best]} ({best}), "
           f"{fmt(scores[best])}" + (f"; within its interval: {', '.join(tied)}." if tied else
                                     "; no other scheme's interval overlaps it.")]
    ordered = [s for s in KAZEMNEJAD_ORDER if s in scores]
    pairs = [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]
             if not any({a, b} <= tie for tie in KAZEMNEJAD_TIES)]
    if pairs:
        agree = [(a, b) for a, b in pairs if scores[a].mean > scores[b].mean]
        separated = [(a, b) for a, b in agree if not scores[a].overlaps(scores[b])]
        against = [(a, b) for a, b in pairs if scores[b].mean > scores[a].mean and not scores[a].overlaps(scores[b])]
        out.append(
            f"Against Kazemnejad et al. 2023 (Figure 1, mean reciprocal rank over 10 tasks: NoPE ≈ T5 > "
            f"ALiBi > rotary ≈ absolute): our order agrees on "
            f"{len(agree)} of {len(pairs)} pairs they rank, {len(separated)} of them with intervals apart"
            + ("; it is reversed, intervals apart, for " + ", ".join(f"{b} over {a}" for a, b in against)
               if against else "") + ".")
    return out


def extrapolation_section(curves: Curves, params: Params, heatmap_tasks: list[str]) -> list[str]:
    tasks = extrapolating(params)
    if not tasks:
        return []
    lines = ["## Which attention extrapolates", "",
             "Mean exact match over the lengths beyond each task's training lengths, per seed, "
             "then the 95% interval over seeds; `tied` = the interval overlaps the best's.", ""]
    schemes = position_schemes(params)
    if len(schemes) > 1:
        described = [f"{name} ({scheme}" + (", causal encoder after a BOS" if params.variants[name].encoder == "causal"
                                            else "") + ")" for scheme, name in schemes.items()]
        lines += ["Position schemes of the Transformer, one variant each: " + ", ".join(described) + ". "
                  "Without positions a bidirectional encoder reads a bag of tokens, so NoPE reads its "
                  "source as the decoder-only models of Kazemnejad et al. read a prompt.", ""]
    for task in tasks:
        data = params.for_task(task).data
        lines += [f"### {task} (lengths {data.train_lengths.max + 1}–{data.test_max_length})", ""]
        lines += [f"- {sentence}" for sentence in scheme_findings(curves, task, params)]
        lines += ["", *ranking_table(curves, task, params), ""]
        if task in heatmap_tasks:
            lines += [f"![extrapolation attention {task}](figures/extrapolation_{task}.png)", ""]
    return lines
