"""The aggregated table the report uses: per (task, variant), accuracy against length with
95% intervals. Exact match (and so WER) takes its interval from both the seeds and the test
sequences (resampling.py); token accuracy and PER, recorded per length only, from a
t-interval over seeds."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from scipy import stats

from attnbench.report import resampling
from attnbench.report.resampling import Outcomes

CSV_COLUMNS = ("task", "variant", "seed", "length", "split", "n", "seq_acc", "tok_acc", "per")
# reports/outcomes_by_sequence.csv: what a reader needs to redo every exact-match interval and test
OUTCOME_COLUMNS = ("task", "variant", "seed", "length", "split", "correct")


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # 95% interval: see Curve for which; the mean for one seed of a t-interval
    high: float
    n_seeds: int

    @property
    def half_width(self) -> float:
        """The larger side of the (possibly clipped or skewed) interval."""
        return max(self.mean - self.low, self.high - self.mean)


def fmt(iv: Interval) -> str:
    """mean [low, high]; the mean alone where there is no interval (one seed, t-interval)."""
    if iv.low == iv.high == iv.mean:
        return f"{iv.mean:.2f}"
    return f"{iv.mean:.2f} [{iv.low:.2f}, {iv.high:.2f}]"


def mean_interval(values: list[float], level: float = 0.95, lower: float = 0.0,
                  upper: float = 1.0) -> Interval:
    """Mean and 95% t-interval over seeds, clipped to [lower, upper]: an accuracy's [0, 1]
    by default; a PER, which insertions can take above 1, [0, inf); a difference, unclipped."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, mean, mean, n)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * sd / math.sqrt(n)
    return Interval(mean, max(lower, mean - half), min(upper, mean + half), n)


@dataclass
class Curve:
    """Accuracy of one (task, variant) against length, aggregated over seeds."""

    task: str
    variant: str
    lengths: list[int]
    splits: list[str]
    seq_acc: list[Interval]  # bootstrap over seeds and test sequences (resampling.py)
    tok_acc: list[Interval]  # t-interval over seeds
    per: list[Interval]  # phoneme (symbol) error rate: edit distance / reference length; t over seeds
    per_seed: dict[int, list[float]]  # seed -> seq_acc at each of `lengths`
    per_seed_per: dict[int, list[float]]  # seed -> PER at each of `lengths`
    outcomes: Outcomes = field(repr=False)  # seed -> length -> exact match of each test sequence
    _intervals: dict = field(default_factory=dict, repr=False, compare=False)

    def split_lengths(self, split: str) -> list[int]:
        return [n for n, s in zip(self.lengths, self.splits) if s == split]

    def resamples(self, lengths: list[int], weights: list[float] | None = None):
        """The bootstrap statistic over `lengths` (resampling.resampled) and its Interval; cached."""
        key = (tuple(lengths), None if weights is None else tuple(weights))
        if key not in self._intervals:
            values = resampling.resampled(self.outcomes, lengths, weights)
            low, high = resampling.interval_of(values, self.outcomes, lengths)
            mean = resampling.point(self.outcomes, lengths, weights)
            self._intervals[key] = (values, Interval(mean, low, high, len(self.outcomes)))
        return self._intervals[key]

    def exact_match(self, lengths: list[int], weights: list[float] | None = None) -> Interval:
        """Mean exact match over `lengths` (weighted; equal weights by default), with its
        interval from both sources (resampling.py)."""
        return self.resamples(lengths, weights)[1]

    def seed_values(self, lengths: list[int], weights: list[float] | None = None) -> list[float]:
        """Each seed's mean exact match over `lengths` (seeds in order): the unit of the tests."""
        weights = weights or [1.0 / len(lengths)] * len(lengths)
        return [sum(w * self.outcomes[s][n].mean() for w, n in zip(weights, lengths))
                for s in sorted(self.outcomes)]

    def seed_means(self, split: str, metric: str = "seq_acc") -> list[float]:
        """Each seed's mean seq_acc (or per) over the lengths of one split (seeds in order)."""
        chosen = [i for i, s in enumerate(self.splits) if s == split]
        by_seed = self.per_seed if metric == "seq_acc" else self.per_seed_per
        return [sum(values[i] for i in chosen) / len(chosen) for _, values in sorted(by_seed.items())]

    def split_interval(self, split: str, metric: str = "seq_acc") -> Interval:
        """Mean over the split's lengths: exact match with the interval from both sources,
        PER with the t-interval over seeds of each seed's mean."""
        if split not in self.splits:
            return Interval(float("nan"), float("nan"), float("nan"), 0)
        if metric == "seq_acc":
            return self.exact_match(self.split_lengths(split))
        return mean_interval(self.seed_means(split, metric), upper=math.inf)

    def at(self, length: int) -> Interval:
        return self.seq_acc[self.lengths.index(length)]

    def mean_over(self, split: str) -> float:
        chosen = [iv.mean for iv, s in zip(self.seq_acc, self.splits) if s == split]
        return sum(chosen) / len(chosen) if chosen else float("nan")


def _by_seed(by_length: dict[int, list[dict]], lengths: list[int], metric: str) -> dict[int, list[float]]:
    """seed -> the metric at each length."""
    seeds = sorted({r["seed"] for n in lengths for r in by_length[n]})
    return {seed: [next(r[metric] for r in by_length[n] if r["seed"] == seed) for n in lengths]
            for seed in seeds}


def _outcomes(by_length: dict[int, list[dict]], lengths: list[int]) -> Outcomes:
    found: Outcomes = defaultdict(dict)
    for n in lengths:
        for r in by_length[n]:
            if "correct" not in r:
                raise ValueError(f"{r['task']}/{r['variant']} seed {r['seed']} length {n}: no per-sequence "
                                 "outcomes (`correct`); its evaluation predates them: rerun `dvc repro`")
            found[r["seed"]][n] = resampling.outcomes_from_string(r["correct"])
    return dict(found)


def curves_from_rows(rows: list[dict]) -> dict[tuple[str, str], Curve]:
    """rows: CSV_COLUMNS dicts (one per task, variant, seed, length) with `correct`, each test
    sequence's exact match as a string of 0s and 1s in test-file order."""
    grouped: dict[tuple[str, str], dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[(row["task"], row["variant"])][row["length"]].append(row)
    curves = {}
    for (task, variant), by_length in grouped.items():
        lengths = sorted(by_length)
        outcomes = _outcomes(by_length, lengths)
        curves[(task, variant)] = Curve(
            task=task,
            variant=variant,
            lengths=lengths,
            splits=[by_length[n][0]["split"] for n in lengths],
            seq_acc=[Interval(resampling.point(outcomes, [n]), *resampling.interval(outcomes, [n]), len(outcomes))
                     for n in lengths],  # Curve.at(n); also in the cache of exact_match([n]) below
            tok_acc=[mean_interval([r["tok_acc"] for r in by_length[n]]) for n in lengths],
            per=[mean_interval([r["per"] for r in by_length[n]], upper=math.inf) for n in lengths],
            per_seed=_by_seed(by_length, lengths, "seq_acc"),
            per_seed_per=_by_seed(by_length, lengths, "per"),
            outcomes=outcomes,
        )
    return curves
