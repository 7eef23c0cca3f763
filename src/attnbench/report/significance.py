"""Every comparison the report states, tested, and decided together after Holm's correction.

A comparison is variant a against variant b on one task over a set of test lengths, on the
mean exact match over those lengths (weighted where the caller says so):

    difference  T(a) - T(b), the seed mean of each (resampling.point)
    interval    95%, paired two-stage bootstrap over seeds and test sequences (resampling.py)
    test        scipy's paired t-test over seeds (ttest_rel) when a and b share their seeds;
                both are then scored on the same test sequences too. Otherwise Welch's
                t-test (ttest_ind, equal_var=False). The seed is the unit: with 3 seeds a
                test has 2 degrees of freedom, so it detects only large or steady gaps.
    decision    at the level ALPHA after Holm's step-down correction over all of the report's
                comparisons (Holm 1979): "apart" when the corrected p is below ALPHA,
                "both at the ceiling" when both variants are at or above CEILING in
                distribution (no mechanism can show it is better there), otherwise
                "no difference detected". Never from overlapping intervals.

The report is rendered twice: the first pass asks for every comparison it states (Judge
collects and tests them), the correction is then made over that whole family, and the
second pass writes each sentence from its corrected decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scipy import stats

from attnbench.report import resampling
from attnbench.report.stats import Curve, mean_interval

ALPHA = 0.05
CEILING = 0.99  # mean exact match at or above which a variant is at the ceiling in distribution

TIE = 1e-9  # seed values closer than this are equal: means of 0/1 outcomes differ by 1/n or more
APART, NO_DIFFERENCE, AT_CEILING = "apart", "no difference detected", "both at the ceiling"


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: sorted ascending,
    p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)); NaNs (untested) stay NaN, not counted in m."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(tested)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Comparison:
    task: str
    a: str
    b: str
    where: str  # "in distribution", "at length 12", "beyond training" ...
    difference: float  # T(a) - T(b)
    low: float  # 95% interval of the difference, both sources
    high: float
    test: str  # "paired t-test" | "Welch's t-test" | "untested (one seed)"
    p: float  # raw two-sided p-value; NaN if untested
    ceiling: bool  # both at or above CEILING, in distribution
    p_holm: float | None = None  # after the correction; None in the first pass

    @property
    def decision(self) -> str:
        if self.ceiling:
            return AT_CEILING
        if self.p_holm is not None and not math.isnan(self.p_holm) and self.p_holm < ALPHA:
            return APART
        return NO_DIFFERENCE

    @property
    def apart(self) -> bool:
        return self.decision == APART

    def flipped(self) -> Comparison:
        """b against a: the same test, the difference and its interval negated."""
        return replace(self, a=self.b, b=self.a, difference=-self.difference, low=-self.high, high=-self.low)

    def text(self) -> str:
        """e.g. "+0.05 [+0.02, +0.08], paired t-test p = 0.004, Holm-corrected p = 0.031: apart"."""
        stated = f"{self.difference:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"
        if math.isnan(self.p):
            return f"{stated}, {self.test}: {self.decision}"
        corrected = "" if self.p_holm is None else f", Holm-corrected p {p_text(self.p_holm)}"
        return f"{stated}, {self.test} p {p_text(self.p)}{corrected}: {self.decision}"


def p_text(p: float) -> str:
    """'= 0.031' or '< 0.001', to follow a p."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def t_test(a: list[float], b: list[float], paired: bool) -> tuple[str, float]:
    """(name, two-sided p) by scipy. Identical differences on every seed give no variance to
    test against: p = 1 when they are all zero, 0 when they are all the same non-zero value."""
    if min(len(a), len(b)) < 2:
        return "untested (one seed)", math.nan
    if paired:
        differences = [x - y for x, y in zip(a, b)]
        if max(differences) - min(differences) <= TIE:
            return "paired t-test", 1.0 if abs(differences[0]) <= TIE else 0.0
        return "paired t-test", float(stats.ttest_rel(a, b).pvalue)
    if max(a) - min(a) <= TIE and max(b) - min(b) <= TIE:
        return "Welch's t-test", 1.0 if abs(a[0] - b[0]) <= TIE else 0.0
    return "Welch's t-test", float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def compare(task: str, a: Curve, b: Curve, lengths: list[int], where: str,
            in_distribution: bool, weights: list[float] | None = None) -> Comparison:
    """One comparison, uncorrected (module docstring)."""
    paired = sorted(a.outcomes) == sorted(b.outcomes)
    test, p = t_test(a.seed_values(lengths, weights), b.seed_values(lengths, weights), paired)
    (a_values, ia), (b_values, ib) = a.resamples(lengths, weights), b.resamples(lengths, weights)
    mean_a, mean_b = ia.mean, ib.mean
    if paired and len(a_values) == len(b_values):
        low, high = resampling.difference_interval(a_values, b_values, (ia.low, ia.high), (ib.low, ib.high))
    else:  # unpaired: the widest difference the two intervals allow
        low, high = ia.low - ib.high, ia.high - ib.low
    ceiling = in_distribution and min(mean_a, mean_b) >= CEILING - TIE  # 0.99 over 4 lengths: 0.98999...
    return Comparison(task, a.variant, b.variant, where, mean_a - mean_b, low, high, test, p, ceiling)


class Judge:
    """Collects the report's comparisons in a first pass, then decides them all at once."""

    def __init__(self, curves: dict[tuple[str, str], Curve]):
        self.curves = curves
        self.found: dict[tuple, Comparison] = {}
        self.corrected = False

    def __call__(self, task: str, a: str, b: str, lengths: list[int], where: str,
                 in_distribution: bool, weights: list[float] | None = None) -> Comparison:
        key = (task, a, b, tuple(lengths), None if weights is None else tuple(weights))
        flipped = (task, b, a, *key[3:])
        if flipped in self.found:  # asked the other way round: one comparison, not two
            return self.found[flipped].flipped()
        if key not in self.found:
            if self.corrected:
                raise RuntimeError(f"comparison {key} was not asked for in the first pass")
            self.found[key] = compare(task, self.curves[(task, a)], self.curves[(task, b)], lengths,
                                      where, in_distribution, weights)
        return self.found[key]

    def values(self, task: str, a: str, b: str, what: str, a_values: list[float],
               b_values: list[float]) -> Comparison:
        """A comparison of another per-seed statistic (`what`, e.g. the share of accuracy
        kept on longer words): the same tests, the interval the t-interval over seeds of the
        paired differences (the statistic is not a mean of test sequences to resample)."""
        key = (task, a, b, what)
        if key not in self.found:
            if self.corrected:
                raise RuntimeError(f"comparison {key} was not asked for in the first pass")
            paired = len(a_values) == len(b_values)
            test, p = t_test(a_values, b_values, paired)
            spread = mean_interval([x - y for x, y in zip(a_values, b_values)], lower=-math.inf, upper=math.inf)
            mean = sum(a_values) / len(a_values) - sum(b_values) / len(b_values)
            self.found[key] = Comparison(task, a, b, what, mean, spread.low, spread.high, test, p, False)
        return self.found[key]

    def correct(self) -> None:
        """Holm over every comparison collected; the second pass reads the decisions."""
        keys = list(self.found)
        adjusted = holm([self.found[k].p for k in keys])
        self.found = {k: replace(self.found[k], p_holm=p) for k, p in zip(keys, adjusted)}
        self.corrected = True

    def summary(self) -> str:
        """One sentence: how many comparisons, and how they were decided."""
        decisions = [c.decision for c in self.found.values()]
        return (f"{len(decisions)} comparisons in this report, corrected together by Holm's method at "
                f"{ALPHA:g}: {decisions.count(APART)} apart, {decisions.count(NO_DIFFERENCE)} with no "
                f"difference detected, {decisions.count(AT_CEILING)} with both at the ceiling "
                f"(≥ {CEILING:g} in distribution).")


def decided(curves: dict[tuple[str, str], Curve], render):
    """render(judge) for a part of the report rendered on its own: a first pass collects its
    comparisons, Holm's correction is made over them alone, the second pass is returned."""
    judge = Judge(curves)
    render(judge)
    judge.correct()
    return render(judge)
