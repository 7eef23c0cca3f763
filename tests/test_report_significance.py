"""The report's statistics: Holm's correction and the t-tests checked by hand, the decision
logic both ways (a planted difference is detected, equal inputs are not, ceilings are named),
and intervals that carry the test set's sampling error as well as the seeds'."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from attnbench.report import resampling
from attnbench.report.g2p import length_shares, weighted_error
from attnbench.report.significance import APART, AT_CEILING, NO_DIFFERENCE, Judge, compare, holm, t_test
from conftest import curves_of

SEEDS = (0, 1, 2)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; 1 x 0.04 = 0.04, raised to 0.06
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    adjusted = holm([0.02, math.nan])  # an untested comparison is not counted in m
    assert adjusted[0] == 0.02 and math.isnan(adjusted[1])


def test_paired_t_test_by_hand():
    a, b = [0.9, 0.8, 0.85], [0.7, 0.75, 0.6]
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    t = mean / (sd / math.sqrt(3))
    p_by_hand = 2 * stats.t.sf(abs(t), df=2)
    name, p = t_test(a, b, paired=True)
    assert name == "paired t-test" and p == pytest.approx(p_by_hand)
    name, p = t_test(a, b, paired=False)
    assert name == "Welch's t-test" and p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert t_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], paired=True)[1] == 1.0  # equal: nothing to detect
    assert t_test([0.9, 0.8, 0.7], [0.5, 0.4, 0.3], paired=True)[1] == 0.0  # the same gap on every seed
    assert math.isnan(t_test([0.9], [0.5], paired=True)[1])


def rows(accuracy, n=100, lengths=range(3, 9), variants=("lstm", "bahdanau")):
    """accuracy(variant, seed, length) -> report rows; lengths above 6 are beyond training."""
    return [{"task": "copy", "variant": v, "seed": s, "length": length,
             "split": "in_distribution" if length <= 6 else "extrapolation", "n": n,
             "seq_acc": accuracy(v, s, length), "tok_acc": 1.0, "per": 0.0}
            for v in variants for s in SEEDS for length in lengths]


def decide(curves, lengths=(3, 4, 5, 6), in_distribution=True):
    judge = Judge(curves)
    judge("copy", "bahdanau", "lstm", list(lengths), "in distribution", in_distribution)
    judge.correct()
    return judge("copy", "bahdanau", "lstm", list(lengths), "in distribution", in_distribution)


def test_a_planted_difference_is_detected_and_equal_inputs_are_not():
    planted = curves_of(rows(lambda v, s, n: (0.8 if v == "bahdanau" else 0.6) + 0.03 * s))
    found = decide(planted)
    assert found.decision == APART and found.difference == pytest.approx(0.2)
    assert found.low > 0.1 and found.high < 0.3 and found.test == "paired t-test"
    equal = curves_of(rows(lambda v, s, n: 0.6 + 0.03 * s))
    found = decide(equal)
    assert found.decision == NO_DIFFERENCE and found.difference == 0.0
    assert found.low < 0 < found.high  # the same outcomes, yet an interval: the test set is finite
    noisy = curves_of(rows(lambda v, s, n: 0.6 + (0.3 if v == "bahdanau" else 0.0) * (s == 1)))
    assert decide(noisy).decision == NO_DIFFERENCE  # one seed of three ahead: not a difference


def test_both_at_the_ceiling_is_named_and_only_in_distribution():
    top = curves_of(rows(lambda v, s, n: 1.0 if v == "bahdanau" else 0.99))
    assert decide(top).decision == AT_CEILING
    assert decide(top, lengths=(7, 8), in_distribution=False).decision != AT_CEILING
    near = curves_of(rows(lambda v, s, n: 1.0 if v == "bahdanau" else 0.97))
    assert decide(near).decision != AT_CEILING


def test_holm_corrects_over_every_comparison_of_a_judge():
    by_seed = {"lstm": [0.50, 0.55, 0.48], "bahdanau": [0.60, 0.70, 0.62], "hard": [0.75, 0.66, 0.71]}
    curves = curves_of(rows(lambda v, s, n: by_seed[v][s], variants=("lstm", "bahdanau", "hard")))
    judge = Judge(curves)
    asked = [("bahdanau", "lstm"), ("hard", "lstm"), ("hard", "bahdanau")]
    raw = [judge("copy", a, b, [3, 4, 5, 6], "in distribution", True).p for a, b in asked]
    flipped = judge("copy", "lstm", "hard", [3, 4, 5, 6], "", True)
    assert flipped.difference == pytest.approx(-(0.71 - 0.51), abs=0.01) and flipped.p == raw[1]
    assert len(set(raw)) == 3 and all(0 < p < 1 for p in raw)
    judge.correct()
    assert [judge("copy", a, b, [3, 4, 5, 6], "", True).p_holm for a, b in asked] == pytest.approx(holm(raw))
    with pytest.raises(RuntimeError, match="not asked for in the first pass"):
        judge("copy", "hard", "lstm", [7, 8], "beyond training", False)


def test_all_right_still_has_an_interval_from_the_finite_test_set():
    curve = curves_of(rows(lambda v, s, n: 1.0))[("copy", "lstm")]
    at_three = curve.at(3)
    expected = stats.binomtest(100, 100).proportion_ci(0.95, method="exact").low  # 0.964
    assert at_three.mean == 1.0 and at_three.low == pytest.approx(expected) and at_three.high == 1.0


def test_the_bootstrap_width_matches_the_binomial_error_of_one_seed():
    """One seed, one length: the only source is the test set, whose standard error is
    sqrt(p (1 - p) / n); the percentile interval must be about +-1.96 of it."""
    correct = "1" * 70 + "0" * 30
    outcomes = {0: {5: resampling.outcomes_from_string(correct)}}
    low, high = resampling.interval(outcomes, [5])
    half = 1.96 * math.sqrt(0.7 * 0.3 / 100)
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert resampling.interval(outcomes, [5]) == (low, high)  # fixed draws: the bytes repeat


def test_the_seeds_widen_the_interval_beyond_the_test_sets_alone():
    steady = curves_of(rows(lambda v, s, n: 0.7))[("copy", "lstm")].exact_match([5])
    spread = curves_of(rows(lambda v, s, n: 0.6 + 0.1 * s))[("copy", "lstm")].exact_match([5])
    assert spread.mean == pytest.approx(steady.mean)
    assert spread.high - spread.low > 1.25 * (steady.high - steady.low)


def test_g2p_wer_weighted_by_the_dictionarys_lengths():
    lexicon = {"cat": (), "dog": (), "cow": (), "horse": (), "zebra": (), "elephant": ()}
    shares = length_shares(lexicon, [3, 5, 8])
    assert shares == pytest.approx({3: 0.5, 5: 2 / 6, 8: 1 / 6})
    by_length = {3: 0.9, 5: 0.6, 8: 0.0}
    curve = curves_of(rows(lambda v, s, n: by_length[n], lengths=(3, 5, 8)))[("copy", "lstm")]
    wer = weighted_error(curve, shares)
    assert wer.mean == pytest.approx(1 - (0.5 * 0.9 + 2 / 6 * 0.6))
    assert wer.low < wer.mean < wer.high


def test_outcome_strings_are_checked():
    assert list(resampling.outcomes_from_string("1011")) == [1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="0s and 1s"):
        resampling.outcomes_from_string("10x1")
    mixed = {0: {3: np.ones(10)}, 1: {3: np.ones(12)}}
    with pytest.raises(ValueError, match="different sizes"):
        resampling.resampled(mixed, [3])


def test_unpaired_variants_take_welchs_test():
    a = curves_of(rows(lambda v, s, n: 0.8 + 0.02 * s, variants=("bahdanau",)))[("copy", "bahdanau")]
    b_rows = [r for r in rows(lambda v, s, n: 0.5 + 0.02 * s, variants=("lstm",)) if r["seed"] != 2]
    b = curves_of(b_rows)[("copy", "lstm")]
    found = compare("copy", a, b, [3, 4], "in distribution", True)
    assert found.test == "Welch's t-test" and found.low < found.difference < found.high
