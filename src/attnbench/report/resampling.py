"""Uncertainty from both sources of it: the seeds (which training runs we happened to get)
and the test sequences (which sequences of each length we happened to draw).

A two-stage percentile bootstrap (Davison & Hinkley 1997, §2.4 and §3.8): each of B
resamples draws the seeds with replacement and, independently, the test sequences of every
length with replacement. Every seed and every variant of a task is scored on the same test
sequences, so one draw of sequence indices serves all seeds (the design is crossed), and two
variants compared on the same draw give a paired difference. The draws depend only on the
shape (seeds, sequences per length) and a fixed seed, so every number repeats.

The statistic of one resample b, for lengths L with weights w (equal unless given):

    T_b = mean over drawn seeds s of  sum_l w_l * mean over drawn sequences i of correct[s, l, i]

The interval is the 2.5th and 97.5th percentile of T_b. Where every resample gives the same
value (all sequences right, or all wrong) the percentiles would read as exact; then the
Clopper-Pearson interval of the distinct test sequences is given instead, so a finite test
set is never read as exact (a length of 100 sequences, all right: [0.964, 1]).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import stats

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0

Outcomes = dict[int, dict[int, np.ndarray]]  # seed -> length -> exact match (0/1) per test sequence


def outcomes_from_string(correct: str) -> np.ndarray:
    """'1101' (evaluate.py's `correct`, test-file order) -> [1., 1., 0., 1.]."""
    if not correct or set(correct) - {"0", "1"}:
        raise ValueError(f"per-sequence outcomes must be a string of 0s and 1s, got {correct[:20]!r}")
    return np.frombuffer(correct.encode(), dtype=np.uint8).astype(np.float64) - ord("0")


@cache
def _draws(n_seeds: int, sizes: tuple[int, ...]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Seed indices (B, n_seeds) and, per length, how often each test sequence is drawn
    (n_l, B), from one fixed set of draws per shape: every variant scored on the same test
    set is resampled alike."""
    rng = np.random.default_rng(SEED)
    seeds = rng.integers(0, n_seeds, size=(RESAMPLES, n_seeds))
    counts = []
    for n in sizes:
        drawn = rng.integers(0, n, size=(RESAMPLES, n)) + n * np.arange(RESAMPLES)[:, None]
        times = np.bincount(drawn.ravel(), minlength=RESAMPLES * n).reshape(RESAMPLES, n)
        counts.append(np.ascontiguousarray(times.T, dtype=np.float64))  # (n_l, B)
    return seeds, tuple(counts)


def _stack(outcomes: Outcomes, seeds: list[int], length: int) -> np.ndarray:
    """(n_seeds, n_sequences) outcomes of one length; seeds must share the test set."""
    rows = [outcomes[s][length] for s in seeds]
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"length {length}: the seeds were scored on test sets of different sizes")
    return np.stack(rows)


def resampled(outcomes: Outcomes, lengths: list[int], weights: list[float] | None = None) -> np.ndarray:
    """T_b for b = 1..B (the module docstring's statistic), shape (B,). A resample's mean over
    sequences is (times each is drawn) . (its outcome) / n: integer sums, exact in float64."""
    seeds = sorted(outcomes)
    weights = weights or [1.0 / len(lengths)] * len(lengths)
    tables = [_stack(outcomes, seeds, n) for n in lengths]
    seed_draws, counts = _draws(len(seeds), tuple(t.shape[1] for t in tables))
    per_seed = np.zeros((len(seeds), RESAMPLES))  # (n_seeds, B): each seed's statistic per resample
    for weight, table, drawn in zip(weights, tables, counts):
        per_seed += weight * (table @ drawn) / table.shape[1]  # (n_seeds, n_l) @ (n_l, B)
    return np.take_along_axis(per_seed.T, seed_draws, axis=1).mean(axis=1)


def point(outcomes: Outcomes, lengths: list[int], weights: list[float] | None = None) -> float:
    """The statistic on the data as observed: mean over seeds of the weighted length means."""
    weights = weights or [1.0 / len(lengths)] * len(lengths)
    return float(np.mean([sum(w * outcomes[s][n].mean() for w, n in zip(weights, lengths))
                          for s in sorted(outcomes)]))


def exact_binomial(outcomes: Outcomes, lengths: list[int], value: float) -> tuple[float, float]:
    """Clopper-Pearson interval for `value` (0 or 1 here) over the distinct test sequences."""
    n = sum(len(outcomes[min(outcomes)][length]) for length in lengths)
    ci = stats.binomtest(round(value * n), n).proportion_ci(confidence_level=LEVEL, method="exact")
    return float(ci.low), float(ci.high)


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def interval_of(values: np.ndarray, outcomes: Outcomes, lengths: list[int]) -> tuple[float, float]:
    """95% interval from the resampled statistic `values` (module docstring)."""
    if values.min() == values.max():
        return exact_binomial(outcomes, lengths, float(values[0]))
    return percentile_interval(values)


def interval(outcomes: Outcomes, lengths: list[int], weights: list[float] | None = None) -> tuple[float, float]:
    """95% interval of the statistic, from both sources (module docstring)."""
    return interval_of(resampled(outcomes, lengths, weights), outcomes, lengths)


def difference_interval(a_values: np.ndarray, b_values: np.ndarray, a_interval: tuple[float, float],
                        b_interval: tuple[float, float]) -> tuple[float, float]:
    """95% interval of T(a) - T(b) from both resampled on the same draws (paired). Where every
    resample gives the same difference (both all right, say), the widest difference the two
    variants' own intervals allow."""
    values = a_values - b_values
    if values.min() == values.max():
        return a_interval[0] - b_interval[1], a_interval[1] - b_interval[0]
    return percentile_interval(values)
