import pytest
from scipy import stats

from attnbench.report.markdown import task_findings
from attnbench.report.stats import curves_from_rows, mean_interval


@pytest.mark.parametrize("values", [[0.2, 0.4, 0.9], [0.5, 0.55, 0.52, 0.61]])
def test_interval_matches_scipy(values):
    iv = mean_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=sum(values) / len(values),
                                 scale=stats.sem(values))
    assert iv.low == pytest.approx(max(0, low)) and iv.high == pytest.approx(min(1, high))


def test_interval_is_clipped_to_valid_accuracies():
    iv = mean_interval([0.0, 0.0, 1.0])
    assert iv.low == 0.0 and iv.high == 1.0 and iv.mean == pytest.approx(1 / 3)


def rows_for(accuracy):
    """accuracy(variant, seed, length) -> rows of a fake study over lengths 3..8."""
    return [
        {"task": "copy", "variant": v, "seed": s, "length": n,
         "split": "in_distribution" if n <= 6 else "extrapolation", "n": 8,
         "seq_acc": accuracy(v, s, n), "tok_acc": accuracy(v, s, n)}
        for v in ("lstm", "bahdanau") for s in (0, 1, 2) for n in range(3, 9)
    ]


def test_findings_say_what_the_numbers_show(params):
    collapsing = rows_for(lambda v, s, n: (1.0 if v == "bahdanau" else 1.0 - 0.15 * (n - 3)) - 0.01 * s)
    text = " ".join(task_findings(curves_from_rows(collapsing), "copy", params))
    assert "lstm 0.99 → 0.54; bahdanau 0.99 → 0.99" in text
    assert "the fixed-context model loses more accuracy with length than attention" in text
    assert "95% intervals do not overlap" in text

    reversed_ = rows_for(lambda v, s, n: (1.0 if v == "lstm" else 1.0 - 0.15 * (n - 3)) - 0.01 * s)
    text = " ".join(task_findings(curves_from_rows(reversed_), "copy", params))
    assert "does not lose more accuracy with length than attention" in text
    assert "At length 6 lstm leads" in text
