"""The g2p task's section of report.md: word and phoneme error rates, whether the
fixed-context models lose accuracy with word length while attention holds (computed from
the numbers, with intervals over seeds), and published CMUdict figures beside ours.

WER (word error rate) = 1 - seq_acc; PER = edit distance / reference phonemes (decode.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attnbench.config import Params
from attnbench.report.stats import Curve, Interval, mean_interval
from attnbench.tasks import G2P

Curves = dict[tuple[str, str], Curve]


@dataclass(frozen=True)
class Published:
    """One CMUdict result as its paper reports it (percent), and where we read it."""

    source: str  # paper and venue
    model: str
    per: float | None
    wer: float | None
    read_in: str  # where the figure was read: only the abstracts and quotes could be reached


# All on the standard CMUdict split (about 107k training, 12k test words), stress removed.
# The papers' results tables could not be opened from this project's sources; each figure
# says where it was read, and the README asks for a check against the tables.
PUBLISHED = [
    Published("Rao et al. 2015, ICASSP", "deep bidirectional LSTM, CTC", None, 25.8, "abstract"),
    Published("Rao et al. 2015, ICASSP", "the same combined with a joint n-gram model", None, 21.3, "abstract"),
    Published("Yao & Zweig 2015, Interspeech", "bidirectional LSTM with alignment", 5.45, 23.55,
              "quoted in a public G2P README"),
    Published("Toshniwal & Livescu 2016, SLT", "encoder-decoder with global attention, ensemble", 4.69, 20.24,
              "quoted in a public G2P README"),
]


def percent(iv: Interval) -> str:
    return f"{100 * iv.mean:.1f} ± {100 * iv.half_width:.1f}" if iv.n_seeds > 1 else f"{100 * iv.mean:.1f}"


def word_error(iv: Interval) -> Interval:
    """WER from an exact-match interval: 1 - seq_acc, its bounds swapped."""
    return Interval(1 - iv.mean, 1 - iv.high, 1 - iv.low, iv.n_seeds)


def error_table(curves: Curves, params: Params) -> list[str]:
    header = ["variant", "WER in-dist. %", "PER in-dist. %", "WER extrap. %", "PER extrap. %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in params.study.variants:
        curve = curves[(G2P, variant)]
        cells = []
        for split in ("in_distribution", "extrapolation"):
            cells += [percent(word_error(curve.split_interval(split))),
                      percent(curve.split_interval(split, "per"))]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def letters(first: int, last: int) -> str:
    return f"{first} letters" if first == last else f"{first}–{last} letters"


def retention(curve: Curve, short: list[int], long: list[int]) -> Interval:
    """Per seed: mean exact match over the `long` lengths divided by that over the `short`
    ones, the share of short-word accuracy a model keeps on longer words; the interval over
    seeds. A ratio, not a difference, so a model near 0 on short words cannot look stable."""
    index = {n: i for i, n in enumerate(curve.lengths)}
    kept = []
    for _, acc in sorted(curve.per_seed.items()):
        on_short = sum(acc[index[n]] for n in short) / len(short)
        on_long = sum(acc[index[n]] for n in long) / len(long)
        kept.append(on_long / on_short if on_short > 0 else 0.0)
    return mean_interval(kept, lower=0.0, upper=math.inf)


def length_findings(curves: Curves, params: Params) -> list[str]:
    """Do the fixed-context models lose accuracy with word length while attention holds?"""
    data = params.for_task(G2P).data
    low, high = data.train_lengths.min, data.train_lengths.max
    middle = (low + high) // 2
    short, long = list(range(low, middle + 1)), list(range(middle + 1, high + 1))
    variants = params.study.variants
    kept = {v: retention(curves[(G2P, v)], short, long) for v in variants}
    fixed = [v for v in variants if params.variants[v].fixed_context]
    attentive = [v for v in variants if not params.variants[v].fixed_context]
    out = [f"Share of exact match kept from words of {letters(low, middle)} to words of "
           f"{letters(middle + 1, high)} (all trained lengths; 1 = no loss), per variant: "
           + "; ".join(f"{v} {kept[v].mean:.2f} [{kept[v].low:.2f}, {kept[v].high:.2f}]" for v in variants) + "."]
    if fixed and attentive:
        best_fixed = max(fixed, key=lambda v: kept[v].mean)
        holds = [v for v in attentive if kept[v].low > kept[best_fixed].high]
        if len(holds) == len(attentive):
            verdict = (f"every attention model keeps more than every fixed-context model (best: "
                       f"{best_fixed}), intervals not overlapping")
        elif holds:
            verdict = (f"{len(holds)} of {len(attentive)} attention models keep more than the best "
                       f"fixed-context model ({best_fixed}), intervals not overlapping: {', '.join(holds)}")
        else:
            verdict = ("no attention model keeps more than the best fixed-context model "
                       f"({best_fixed}) with the intervals apart")
        unharmed = [v for v in variants if kept[v].high >= 1.0]  # no loss within the interval
        top = max(variants, key=lambda v: kept[v].mean)
        fully = (f"within their intervals {', '.join(unharmed)} lose nothing" if unharmed else
                 f"none holds fully (the highest share kept is {top}'s, {kept[top].mean:.2f})")
        out.append(f"Fixed context vs attention on real words: {verdict}; {fully}.")
    per = {v: curves[(G2P, v)].split_interval("extrapolation", "per") for v in variants}
    extrapolation = {v: curves[(G2P, v)].split_interval("extrapolation") for v in variants}
    best, lowest_per = (max(variants, key=lambda v: extrapolation[v].mean),
                        min(variants, key=lambda v: per[v].mean))
    out.append(f"On words longer than any trained ({letters(high + 1, data.test_max_length)}) the best "
               f"exact match is {best}'s, {extrapolation[best].mean:.2f} "
               f"[{extrapolation[best].low:.2f}, {extrapolation[best].high:.2f}], and the lowest PER "
               f"{lowest_per}'s, {100 * per[lowest_per].mean:.1f}% [{100 * per[lowest_per].low:.1f}, "
               f"{100 * per[lowest_per].high:.1f}]"
               + ("; the fixed-context models' PER there: " + ", ".join(f"{v} {100 * per[v].mean:.1f}%" for v in fixed)
                  if fixed else "") + ".")
    return out


def published_table() -> list[str]:
    lines = ["| source | model | PER % | WER % | read in |", "|---|---|---|---|---|"]
    for entry in PUBLISHED:
        cells = [f"{value:g}" if value is not None else "–" for value in (entry.per, entry.wer)]
        lines.append(f"| {entry.source} | {entry.model} | " + " | ".join(cells) + f" | {entry.read_in} |")
    return lines


def g2p_section(curves: Curves, params: Params) -> list[str]:
    p = params.for_task(G2P)
    return [
        "## Grapheme-to-phoneme conversion (CMUdict)",
        "",
        "Spelling in, ARPAbet pronunciation out, on words the models never saw. WER is the share "
        "of words not converted exactly (1 − exact match); PER is the edit distance to the "
        "reference over its number of phonemes, averaged over lengths like the accuracies.",
        "",
        *[f"- {sentence}" for sentence in length_findings(curves, params)],
        "",
        *error_table(curves, params),
        "",
        "Published CMUdict results, for scale:",
        "",
        *published_table(),
        "",
        f"Ours differ in ways that all cost accuracy: one-layer models of width {p.model.hidden_dim} "
        f"(embedding {p.model.embed_dim}), {p.train.max_steps} steps of batch {p.train.batch_size} "
        f"on {p.data.n_train:,} words of {p.data.train_lengths.min}–{p.data.train_lengths.max} letters, "
        "greedy decoding without beam search, a test set of single words per length rather than "
        "the standard 12k-word test split, and one reference pronunciation per word.",
        "",
    ]
