"""Mean and 95% confidence interval over seeds, and the aggregated table the report uses."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from scipy import stats

CSV_COLUMNS = ("task", "variant", "seed", "length", "split", "n", "seq_acc", "tok_acc", "per")


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # 95% t-interval over seeds, clipped to [0, 1]; the mean for one seed
    high: float
    n_seeds: int

    @property
    def half_width(self) -> float:
        """The larger side of the (possibly clipped) interval."""
        return max(self.mean - self.low, self.high - self.mean)

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


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


@dataclass(frozen=True)
class Curve:
    """Accuracy of one (task, variant) against length, aggregated over seeds."""

    task: str
    variant: str
    lengths: list[int]
    splits: list[str]
    seq_acc: list[Interval]
    tok_acc: list[Interval]
    per: list[Interval]  # phoneme (symbol) error rate: edit distance / reference length
    per_seed: dict[int, list[float]]  # seed -> seq_acc at each of `lengths`
    per_seed_per: dict[int, list[float]]  # seed -> PER at each of `lengths`

    def seed_means(self, split: str, metric: str = "seq_acc") -> list[float]:
        """Each seed's mean seq_acc (or per) over the lengths of one split (seeds in order)."""
        chosen = [i for i, s in enumerate(self.splits) if s == split]
        by_seed = self.per_seed if metric == "seq_acc" else self.per_seed_per
        return [sum(values[i] for i in chosen) / len(chosen) for _, values in sorted(by_seed.items())]

    def split_interval(self, split: str, metric: str = "seq_acc") -> Interval:
        if split not in self.splits:
            return Interval(float("nan"), float("nan"), float("nan"), 0)
        upper = 1.0 if metric == "seq_acc" else math.inf
        return mean_interval(self.seed_means(split, metric), upper=upper)

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


def curves_from_rows(rows: list[dict]) -> dict[tuple[str, str], Curve]:
    """rows: CSV_COLUMNS dicts (one per task, variant, seed, length)."""
    grouped: dict[tuple[str, str], dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[(row["task"], row["variant"])][row["length"]].append(row)
    curves = {}
    for (task, variant), by_length in grouped.items():
        lengths = sorted(by_length)
        curves[(task, variant)] = Curve(
            task=task,
            variant=variant,
            lengths=lengths,
            splits=[by_length[n][0]["split"] for n in lengths],
            seq_acc=[mean_interval([r["seq_acc"] for r in by_length[n]]) for n in lengths],
            tok_acc=[mean_interval([r["tok_acc"] for r in by_length[n]]) for n in lengths],
            per=[mean_interval([r["per"] for r in by_length[n]], upper=math.inf) for n in lengths],
            per_seed=_by_seed(by_length, lengths, "seq_acc"),
            per_seed_per=_by_seed(by_length, lengths, "per"),
        )
    return curves
