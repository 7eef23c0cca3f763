import pytest
from scipy import stats

from attnbench.config import load_params, parse_params
from attnbench.report.comparisons import pairs
from attnbench.report.markdown import task_findings
from attnbench.report.significance import decided
from attnbench.report.stats import mean_interval
from conftest import REPO, curves_of


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
         "split": "in_distribution" if n <= 6 else "extrapolation", "n": 100,
         "seq_acc": accuracy(v, s, n), "tok_acc": accuracy(v, s, n), "per": 1 - accuracy(v, s, n)}
        for v in ("lstm", "bahdanau") for s in (0, 1, 2) for n in range(3, 9)
    ]


def two_variant_study(raw_params):
    raw_params["study"]["variants"] = ["lstm", "bahdanau"]
    return parse_params(raw_params)


def findings(curves, params, task="copy"):
    return " ".join(decided(curves, lambda judge: task_findings(curves, task, params, judge)))


def test_findings_say_what_the_numbers_show(raw_params):
    params = two_variant_study(raw_params)
    collapsing = rows_for(lambda v, s, n: (1.0 if v == "bahdanau" else 1.0 - 0.15 * (n - 3)) - 0.01 * s)
    text = findings(curves_of(collapsing), params)
    assert "At the longest training length (6) the best is bahdanau with 0.99 [" in text
    assert "behind it, apart, lstm." in text
    assert "lstm 0.99 → 0.54" in text
    assert "bahdanau vs lstm: +0.45 [" in text and "— the best attention variant is ahead" in text

    reversed_ = rows_for(lambda v, s, n: (1.0 if v == "lstm" else 1.0 - 0.15 * (n - 3)) - 0.01 * s)
    text = findings(curves_of(reversed_), params)
    assert "the best is lstm" in text and "a fixed-context variant is ahead" in text


def test_pairs_are_found_from_the_configs(params):
    found = {(p.kind, p.variant, p.reference) for p in pairs(params)}
    assert found == {("hard vs soft", "hard", "bahdanau")}  # smoke: no global general, no full transformer
    default = load_params(REPO / "params.yaml")
    found = {(p.kind, p.variant, p.reference) for p in pairs(default)}
    assert found == {("local vs global", "local_m", "luong_general"),
                     ("local vs global", "local_p", "luong_general"),
                     ("hard vs soft", "hard", "bahdanau"),
                     ("restricted vs full", "transformer_local", "transformer")}


def test_extrapolation_section_ranks_variants_and_checks_kazemnejad(raw_params):
    from attnbench.report.convergence import all_stops
    from attnbench.report.extrapolation import extrapolation_section, scheme_findings

    layer = {"arch": "transformer", "layers": 1, "heads": 2, "ff_dim": 32}
    raw_params["variants"].update({
        "transformer": layer,  # the bidirectional baseline: ranked, not a scheme of the controlled set
        "transformer_nope": {**layer, "positions": "none", "encoder": "causal"},
        "transformer_alibi": {**layer, "positions": "alibi", "encoder": "causal"},
        "transformer_causal": {**layer, "encoder": "causal"},
    })
    raw_params["study"]["variants"] = ["lstm", "transformer", "transformer_nope", "transformer_alibi",
                                       "transformer_causal"]
    raw_params["study"]["tasks"] = ["copy"]
    params = parse_params(raw_params)
    beyond = {"lstm": 0.1, "transformer": 0.95, "transformer_nope": 0.6, "transformer_alibi": 0.3,
              "transformer_causal": 0.0}
    rows = [{"task": "copy", "variant": v, "seed": s, "length": n,
             "split": "in_distribution" if n <= 6 else "extrapolation", "n": 100,
             "seq_acc": 1.0 if n <= 6 else beyond[v] + 0.01 * s, "tok_acc": 1.0, "per": 0.0}
            for v in beyond for s in (0, 1, 2) for n in range(3, 9)]
    curves = curves_of(rows)
    text = "\n".join(decided(curves, lambda judge: extrapolation_section(curves, params, [], all_stops({}, params),
                                                                         judge)))
    ranked = [line.split(" | ")[1] for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert ranked == ["transformer", "transformer_nope", "transformer_alibi", "lstm", "transformer_causal"]
    assert ("differing only in positions: transformer_nope (none), transformer_alibi (alibi), "
            "transformer_causal (sinusoidal). Apart from it, ranked with the rest but left out of the scheme "
            "comparison: transformer (sinusoidal, bidirectional encoder: the Vaswani et al. baseline).") in text
    found = " ".join(decided(curves, lambda judge: scheme_findings(curves, "copy", params, judge)))
    # the bidirectional transformer (0.96) is best overall, but not a scheme of the controlled set
    assert "controlled set beyond the training lengths: transformer_nope (none), 0.61 [" in found
    assert "of the 3 pairs they rank, our order agrees on 3" in found
    assert "reversed on 0 and is undecided, no difference detected, on 0." in found
    assert "ALiBi's mean lies within that interval." in found  # every scheme at 1.00 in distribution
    beyond.update(transformer_causal=0.9)  # absolute positions now best: two pairs reversed
    rows = [{**r, "seq_acc": 1.0 if r["length"] <= 6 else beyond[r["variant"]] + 0.01 * r["seed"]} for r in rows]
    curves = curves_of(rows)
    found = " ".join(decided(curves, lambda judge: scheme_findings(curves, "copy", params, judge)))
    assert "agrees on 1 (alibi over sinusoidal)" not in found  # K. rank alibi over sinusoidal: reversed here
    assert "agrees on 1 (none over alibi), is reversed on 2 (sinusoidal over none, sinusoidal over alibi)" in found


def test_the_report_says_whether_alibi_learns_the_task_as_well_as_the_best_scheme(raw_params):
    """ALiBi 0.90 in distribution against sinusoidal's 1.00 on every seed: the sentence tests the
    gap and says ALiBi's mean lies below the best's interval, by how much; level with it, within."""
    from attnbench.report.extrapolation import scheme_findings

    layer = {"arch": "transformer", "layers": 1, "heads": 2, "ff_dim": 32, "encoder": "causal"}
    raw_params["variants"].update({"transformer_alibi": {**layer, "positions": "alibi"},
                                   "transformer_causal": layer})
    raw_params["study"].update(variants=["transformer_alibi", "transformer_causal"], tasks=["copy"])
    params = parse_params(raw_params)

    def found(alibi_inside: float, causal_inside=lambda seed: 1.0) -> str:
        rows = [{"task": "copy", "variant": v, "seed": s, "length": n,
                 "split": "in_distribution" if n <= 6 else "extrapolation", "n": 100,
                 "seq_acc": (alibi_inside if v == "transformer_alibi" else causal_inside(s)) if n <= 6 else 0.1 * s,
                 "tok_acc": 1.0, "per": 0.0}
                for v in ("transformer_alibi", "transformer_causal") for s in (0, 1, 2) for n in range(3, 9)]
        curves = curves_of(rows)
        return " ".join(decided(curves, lambda judge: scheme_findings(curves, "copy", params, judge)))

    below = found(0.9)
    assert ("In distribution, ALiBi (transformer_alibi) 0.900 [" in below
            and "against the controlled set's best there, transformer_causal (sinusoidal) 1.000 [" in below)
    assert "-0.10 [" in below and "ALiBi's mean lies 0.0" in below and "below that interval." in below
    level = found(0.97, lambda seed: (0.95, 0.98, 1.0)[seed])  # sinusoidal's seeds spread 0.95-1.00
    assert "transformer_causal (sinusoidal) 0.977 [" in level and "ALiBi's mean lies within that interval." in level


def test_g2p_findings_compare_the_share_of_accuracy_kept_on_longer_words(raw_params):
    """Fixed context keeps 1/3 of its short-word accuracy, attention 7/8: the sentence says so,
    computed; a model near zero on short words does not pass for stable."""
    from attnbench.report.g2p import length_findings

    raw_params["study"]["tasks"] = ["g2p"]
    raw_params["study"]["variants"] = ["lstm", "bahdanau"]
    raw_params["per_task"] = {"g2p": {"data": {"train_lengths": {"min": 3, "max": 6}, "test_max_length": 8}}}
    params = parse_params(raw_params)

    def accuracy(v, s, n):  # short words 3-4, long words 5-6, extrapolation 7-8
        short, long = (0.6, 0.2) if v == "lstm" else (0.8, 0.7)
        return (short if n <= 4 else long if n <= 6 else 0.1) + 0.01 * s

    rows = [{"task": "g2p", "variant": v, "seed": s, "length": n,
             "split": "in_distribution" if n <= 6 else "extrapolation", "n": 100,
             "seq_acc": accuracy(v, s, n), "tok_acc": 1.0, "per": 0.5 if v == "lstm" else 0.25}
            for v in ("lstm", "bahdanau") for s in (0, 1, 2) for n in range(3, 9)]
    curves = curves_of(rows)
    text = " ".join(decided(curves, lambda judge: length_findings(curves, params, judge)))
    kept_lstm = sum((0.2 + 0.01 * s) / (0.6 + 0.01 * s) for s in range(3)) / 3
    assert f"lstm {kept_lstm:.2f} [" in text and "bahdanau 0.88 [" in text
    assert "every attention model keeps more than every fixed-context model (best: lstm), each decided apart" in text
    assert "lowest PER bahdanau's, 25.0%" in text and "lstm 50.0%" in text
    assert "none holds fully (the highest share kept is bahdanau's, 0.88)" in text
    steady = [{**r, "seq_acc": 0.8 + 0.01 * r["seed"]} if r["variant"] == "bahdanau" and r["length"] <= 6 else r
              for r in rows]  # attention loses nothing on longer words
    curves = curves_of(steady)
    text = " ".join(decided(curves, lambda judge: length_findings(curves, params, judge)))
    assert "bahdanau 1.00 [" in text and "within their intervals bahdanau lose nothing" in text


def test_a_smoke_sized_report_says_its_numbers_mean_nothing(params):
    from attnbench.report.markdown import smoke_note

    note = smoke_note(params)  # the smoke profile: 30 steps, 40 for g2p
    assert note and note[0].startswith("**A smoke-sized run**: every model trains for at most 40 steps")
    assert smoke_note(load_params(REPO / "params.yaml")) == []  # the study: up to 2000 steps


def test_the_largest_drop_names_the_attention_variant_that_loses_most(raw_params):
    """lengths 3 -> 6: local_p falls 0.30, bahdanau 0.06; the sentence names local_p and +0.30's size."""
    raw_params["study"]["variants"] = ["lstm", "bahdanau", "local_p"]
    params = parse_params(raw_params)
    slope = {"lstm": 0.15, "bahdanau": 0.02, "local_p": 0.10}
    rows = [{"task": "copy", "variant": v, "seed": s, "length": n,
             "split": "in_distribution" if n <= 6 else "extrapolation", "n": 100,
             "seq_acc": 1.0 - slope[v] * (n - 3) - 0.01 * s, "tok_acc": 1.0, "per": 0.0}
            for v in slope for s in (0, 1, 2) for n in range(3, 9)]
    text = findings(curves_of(rows), params)
    assert "Among attention variants the largest drop is local_p's (0.30);" in text
