"""report.md's extrapolation section: the variants that converged in distribution ranked by
exact match beyond the training lengths, per task, with intervals and the longest length each
still holds; the controlled set of position schemes (one causal encoder after a BOS, the
scheme the only difference) set against the ranking of Kazemnejad et al. 2023 (NeurIPS),
computed from the numbers.

Kazemnejad et al. trained decoder-only Transformers on copy, reverse, sort, SCAN and more,
up to length 20, tested to 40; their Figure 1 ranks the schemes by mean reciprocal rank over
10 tasks (NoPE 0.69, T5's bias 0.55, ALiBi 0.50, rotary 0.33, absolute 0.22), Figure 3 shows
accuracy against length per task, and the text reads NoPE ≈ T5 > ALiBi > rotary ≈ absolute.
Ours are encoder-decoders, so the comparison is of direction, not of numbers.
"""

from __future__ import annotations

from attnbench.config import Params, TransformerVariant
from attnbench.report.convergence import CONVERGED, Stops, converged, unconverged_line
from attnbench.report.significance import Judge
from attnbench.report.stats import Curve, fmt

Curves = dict[tuple[str, str], Curve]

# best first; pairs inside one set the paper reports as about equal
KAZEMNEJAD_ORDER = ("none", "t5_bias", "alibi", "rotary", "sinusoidal")
KAZEMNEJAD_TIES = ({"none", "t5_bias"}, {"rotary", "sinusoidal"})
HOLDS = 0.5  # mean exact match a variant must keep at a length (and every shorter one) to hold it


def extrapolating(params: Params) -> list[str]:
    """The study's tasks that test beyond their training lengths."""
    return [t for t in params.study.tasks
            if params.for_task(t).data.test_max_length > params.for_task(t).data.train_lengths.max]


def longest_held(curve: Curve, floor: float = HOLDS) -> int | None:
    """The longest test length L with mean exact match >= floor at L and at every shorter
    length: the last length before the curve first drops below `floor`; None if the
    shortest is already below."""
    held = None
    for length, iv in zip(curve.lengths, curve.seq_acc):
        if iv.mean < floor:
            break
        held = length
    return held


def ranked_variants(curves: Curves, task: str, params: Params) -> list[str]:
    """The variants converged in distribution (all of them if none is), by mean exact
    match beyond the training lengths, best first."""
    variants = params.study.variants
    chosen = [v for v in variants if converged(curves[(task, v)])] or list(variants)
    return sorted(chosen, key=lambda v: -curves[(task, v)].split_interval("extrapolation").mean)


def beyond(curves: Curves, task: str, judge: Judge, a: str, b: str):
    """a against b on the mean exact match beyond the training lengths, decided by `judge`."""
    return judge(task, a, b, curves[(task, a)].split_lengths("extrapolation"), "beyond training", False)


def ranking_table(curves: Curves, task: str, params: Params, judge: Judge) -> list[str]:
    """ranked_variants as a table: beyond-training mean with interval, the decision against
    the best, longest length held, in-distribution mean."""
    ranked = ranked_variants(curves, task, params)
    scores = {v: curves[(task, v)].split_interval("extrapolation") for v in ranked}
    trained = params.for_task(task).data.train_lengths.max
    lines = ["| rank | variant | exact match beyond training, mean [95% interval] | against the best "
             f"| longest length held (≥ {HOLDS:g}; trained to {trained}) | in distribution |",
             "|---|---|---|---|---|---|"]
    for rank, variant in enumerate(ranked, start=1):
        tied = "best" if rank == 1 else beyond(curves, task, judge, variant, ranked[0]).decision
        held = longest_held(curves[(task, variant)])
        in_dist = fmt(curves[(task, variant)].split_interval("in_distribution"))
        lines.append(f"| {rank} | {variant} | {fmt(scores[variant])} | {tied} | "
                     f"{'–' if held is None else held} | {in_dist} |")
    return lines


def unranked_lines(curves: Curves, found: dict[tuple[str, str], Stops], task: str, params: Params) -> list[str]:
    """One line per variant not converged in distribution: its mean and how its seeds stopped."""
    cap = params.for_task(task).train.max_steps
    return [unconverged_line(v, curves[(task, v)], found[(task, v)], cap)
            for v in params.study.variants if not converged(curves[(task, v)])]


def controlled_schemes(params: Params) -> dict[str, str]:
    """positions -> the study's Transformer variant with the causal encoder (after a BOS) and
    full attention using it: the controlled set, where the scheme is the only difference."""
    found = {}
    for name in params.study.variants:
        cfg = params.variants[name]
        if isinstance(cfg, TransformerVariant) and cfg.encoder == "causal" and cfg.window is None:
            found.setdefault(cfg.positions, name)
    return found


def kazemnejad_pairs(curves: Curves, task: str, schemes: dict[str, str],
                     judge: Judge) -> dict[str, list[tuple[str, str]]]:
    """The pairs (a, b) of schemes Kazemnejad et al. rank a over b, among `schemes` (scheme ->
    variant), sorted by the corrected decision of our comparison beyond the training lengths:
    "agree" (a ahead, apart), "reversed" (b ahead, apart), "undecided" (no difference detected)."""
    ordered = [s for s in KAZEMNEJAD_ORDER if s in schemes]
    pairs = [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]
             if not any({a, b} <= tie for tie in KAZEMNEJAD_TIES)]
    sorted_pairs = {"agree": [], "reversed": [], "undecided": []}
    for a, b in pairs:
        decided = beyond(curves, task, judge, schemes[a], schemes[b])
        kind = "undecided" if not decided.apart else "agree" if decided.difference > 0 else "reversed"
        sorted_pairs[kind].append((a, b))
    return sorted_pairs


def _unconverged_note(curves: Curves, task: str, schemes: dict[str, str]) -> str:
    """"; not converged in distribution: v (0.19 [..]), so its number says little", or ""."""
    weak = [v for v in schemes.values() if not converged(curves[(task, v)])]
    if not weak:
        return ""
    listed = ", ".join(f"{v} ({fmt(curves[(task, v)].split_interval('in_distribution'))})" for v in weak)
    return (f"; not converged in distribution (below {CONVERGED:g}): {listed}, so "
            + ("its" if len(weak) == 1 else "their") + " extrapolation number says little")


def _fmt3(iv) -> str:
    return f"{iv.mean:.3f} [{iv.low:.3f}, {iv.high:.3f}]"


def alibi_in_distribution(curves: Curves, task: str, schemes: dict[str, str], judge: Judge) -> str | None:
    """ALiBi's in-distribution exact match against the controlled set's best there, tested, and
    whether its mean lies within the best's interval (issue 20: can ALiBi, which once could not
    see order, learn the task as well as the best scheme?). None without an ALiBi variant."""
    if "alibi" not in schemes:
        return None
    inside = {s: curves[(task, v)].split_interval("in_distribution") for s, v in schemes.items()}
    best, alibi = max(inside, key=lambda s: inside[s].mean), inside["alibi"]
    if best == "alibi":
        return f"In distribution ALiBi ({schemes['alibi']}) is the controlled set's best, {_fmt3(alibi)}."
    lengths = curves[(task, schemes["alibi"])].split_lengths("in_distribution")
    decided = judge(task, schemes["alibi"], schemes[best], lengths, "in distribution", True)
    top = inside[best]
    where = ("within that interval" if top.low <= alibi.mean <= top.high
             else f"{top.low - alibi.mean:.3f} below that interval")
    return (f"In distribution, ALiBi ({schemes['alibi']}) {_fmt3(alibi)} against the controlled set's best "
            f"there, {schemes[best]} ({best}) {_fmt3(top)}: {decided.text()}; ALiBi's mean lies {where}.")


def scheme_findings(curves: Curves, task: str, params: Params, judge: Judge) -> list[str]:
    """The best scheme of the controlled set beyond the training lengths, each other scheme
    decided against it, ALiBi against the best in distribution, and how many of Kazemnejad et al.'s pairs our order agrees with."""
    schemes = controlled_schemes(params)
    if len(schemes) < 2:
        return []
    scores = {s: curves[(task, v)].split_interval("extrapolation") for s, v in schemes.items()}
    best = max(scores, key=lambda s: scores[s].mean)
    against = [f"{schemes[s]} {beyond(curves, task, judge, schemes[best], schemes[s]).text()}"
               for s in scores if s != best]
    note = _unconverged_note(curves, task, schemes)
    out = [f"Best position scheme of the controlled set beyond the training lengths: {schemes[best]} ({best}), "
           f"{fmt(scores[best])}; its lead over each other scheme: " + "; ".join(against) + note + "."]
    alibi = alibi_in_distribution(curves, task, schemes, judge)
    if alibi:
        out.append(alibi)
    found = kazemnejad_pairs(curves, task, schemes, judge)
    total = sum(len(p) for p in found.values())
    if total:
        def listed(kind: str, word: str) -> str:
            return ", ".join(f"{b} {word} {a}" if kind == "reversed" else f"{a} {word} {b}" for a, b in found[kind])
        out.append(
            f"Against Kazemnejad et al. 2023 (Figure 1, mean reciprocal rank over 10 tasks: NoPE ≈ T5 > "
            f"ALiBi > rotary ≈ absolute), counting only pairs decided apart: of the {total} pairs "
            f"they rank, our order agrees on {len(found['agree'])}"
            + (f" ({listed('agree', 'over')})" if found["agree"] else "")
            + f", is reversed on {len(found['reversed'])}"
            + (f" ({listed('reversed', 'over')})" if found["reversed"] else "")
            + f" and is undecided, no difference detected, on {len(found['undecided'])}"
            + (f" ({listed('undecided', 'vs')})" if found["undecided"] else "") + ".")
    return out


def _is_vaswani(cfg: TransformerVariant) -> bool:
    """Sinusoidal positions, a bidirectional encoder, full attention: Vaswani et al. 2017."""
    return cfg.positions == "sinusoidal" and cfg.encoder == "bidirectional" and cfg.window is None


def _describe(params: Params, name: str) -> str:
    """e.g. "transformer (sinusoidal, bidirectional encoder: the Vaswani et al. baseline)",
    "transformer_local (sinusoidal, bidirectional encoder, window 3)"."""
    cfg = params.variants[name]
    return (f"{name} ({cfg.positions}, {cfg.encoder} encoder" + (f", window {cfg.window}" if cfg.window else "")
            + (": the Vaswani et al. baseline" if _is_vaswani(cfg) else "") + ")")


def intro(params: Params) -> list[str]:
    """How the section reads: what is ranked, the controlled set, the Transformers apart from it."""
    lines = [f"Mean exact match over the lengths beyond each task's training lengths, per seed, then the "
             f"95% interval over seeds; only variants converged in distribution (mean in-distribution exact "
             f"match ≥ {CONVERGED:g}) are ranked, the others listed below each table with how their seeds "
             f"stopped; `against the best` = the corrected decision of its comparison with the best; `longest length held` = the longest test "
             f"length up to which the mean exact match stays ≥ {HOLDS:g} at every length (– if not even the "
             f"shortest).", ""]
    schemes = controlled_schemes(params)
    if len(schemes) < 2:
        return lines
    others = [v for v in params.study.variants
              if isinstance(params.variants[v], TransformerVariant) and v not in schemes.values()]
    text = ("Position schemes are compared on the controlled set only: the same causal encoder after a BOS "
            "(query i sees the source up to i, as the decoder-only models of Kazemnejad et al. read a "
            "prompt), one variant per scheme, differing only in positions: "
            + ", ".join(f"{name} ({scheme})" for scheme, name in schemes.items()) + ".")
    if others:
        text += (" Apart from it, ranked with the rest but left out of the scheme comparison: "
                 + ", ".join(_describe(params, v) for v in others) + ".")
    return [*lines, text, ""]


def task_block(curves: Curves, found: dict[tuple[str, str], Stops], task: str, params: Params,
               judge: Judge) -> list[str]:
    """One task's heading, scheme findings, ranking and the variants left out of it."""
    data = params.for_task(task).data
    lines = [f"### {task} (lengths {data.train_lengths.max + 1}–{data.test_max_length})", ""]
    lines += [f"- {sentence}" for sentence in scheme_findings(curves, task, params, judge)]
    unranked = unranked_lines(curves, found, task, params)
    if len(unranked) == len(params.study.variants):
        top = max(params.study.variants, key=lambda v: curves[(task, v)].split_interval("in_distribution").mean)
        lines += [f"- No variant converged in distribution by the {CONVERGED:g} threshold (the highest "
                  f"in-distribution mean is {top}'s, {fmt(curves[(task, top)].split_interval('in_distribution'))}): "
                  "the ranking below is of every variant, all unconverged, so it says how far each got "
                  "beyond the training lengths, not which mechanism extrapolates."]
        lines += ["", "Unconverged ranking:"]
    lines += ["", *ranking_table(curves, task, params, judge), ""]
    if unranked:
        heading = ("How their seeds stopped:" if len(unranked) == len(params.study.variants) else
                   f"Not ranked (not converged in distribution, below {CONVERGED:g}):")
        lines += [heading, "", *[f"- {line}" for line in unranked], ""]
    return lines


def extrapolation_section(curves: Curves, params: Params, heatmap_tasks: list[str],
                          found: dict[tuple[str, str], Stops], judge: Judge) -> list[str]:
    """## Which attention extrapolates; `found` = how each (task, variant)'s seeds stopped
    (convergence.all_stops); `judge` decides the comparisons."""
    tasks = extrapolating(params)
    if not tasks:
        return []
    lines = ["## Which attention extrapolates", "", *intro(params)]
    for task in tasks:
        lines += task_block(curves, found, task, params, judge)
        if task in heatmap_tasks:
            lines += [f"![extrapolation attention {task}](figures/extrapolation_{task}.png)", ""]
    return lines
