"""report.md's convergence section and the extrapolation ranking of converged variants:
counts and medians of how runs stopped, who is ranked, the longest length held, and
Kazemnejad et al.'s pairs counted only with intervals apart."""

from __future__ import annotations

import pytest

from conftest import curves_of
from attnbench.config import parse_params
from attnbench.report.convergence import (
    all_stops,
    convergence_section,
    convergence_table,
    speed_sentence,
    stop_rule_sentence,
    stops,
)
from attnbench.report.extrapolation import (
    kazemnejad_pairs,
    longest_held,
    ranked_variants,
    ranking_table,
    task_block,
)
from attnbench.report.markdown import render
from attnbench.report.significance import decided

VARIANTS = ("lstm", "bahdanau", "hard")
SEEDS = (0, 1, 2)


@pytest.fixture
def study(raw_params):
    """copy only, three variants, three seeds, a stopping rule; g2p gets its own cap."""
    raw_params["study"].update(tasks=["copy"], variants=list(VARIANTS), seeds=list(SEEDS))
    raw_params["train"].update(max_steps=300, val_every_n_steps=25,
                               stop={"target": 0.99, "patience": 4, "min_delta": 0.01})
    return parse_params(raw_params)


def run(seed, stopped, steps, kept_step):
    """One seed's entry of a train JSON, as stages/train.py writes it."""
    return {"seed": seed, "loss": [[25, 2.0]], "val": [[25, 0.5]], "steps": steps, "stopped": stopped,
            "kept_step": kept_step, "kept_val_seq_acc": 0.5}


RUNS = {  # bahdanau learns; lstm stops improving on 2 seeds and runs out of steps on 1; hard runs out
    ("copy", "bahdanau"): [run(0, "target", 100, 100), run(1, "target", 150, 150), run(2, "target", 100, 100)],
    ("copy", "lstm"): [run(0, "plateau", 200, 100), run(1, "max_steps", 300, 300), run(2, "plateau", 250, 150)],
    ("copy", "hard"): [run(0, "max_steps", 300, 275), run(1, "max_steps", 300, 300), run(2, "max_steps", 300, 250)],
}
IN_DIST = {"bahdanau": 1.0, "lstm": 0.4, "hard": 0.8}  # in-distribution exact match
BEYOND = {"bahdanau": 0.3, "lstm": 0.1, "hard": 0.5}


def rows(in_dist=IN_DIST, beyond=BEYOND, task="copy"):
    """Lengths 3-6 trained, 7-8 beyond; seeds 0.01 apart."""
    return [{"task": task, "variant": v, "seed": s, "length": n,
             "split": "in_distribution" if n <= 6 else "extrapolation", "n": 100,
             "seq_acc": (in_dist[v] if n <= 6 else beyond[v]) - 0.01 * s, "tok_acc": 1.0, "per": 0.0}
            for v in in_dist for s in SEEDS for n in range(3, 9)]


def cells(lines, variant):
    """A markdown table row's cells, by its variant (second cell for the ranking)."""
    row = next(line for line in lines if f"| {variant} |" in line)
    return [c.strip() for c in row.strip("|").split("|")]


def test_stops_count_the_seeds_and_take_medians():
    found = stops(RUNS[("copy", "lstm")], list(SEEDS))
    assert (found.target, found.plateau, found.capped, found.by_rule) == (0, 2, 1, 2)
    assert found.median_steps == 250 and found.median_kept_step == 150
    assert stops(RUNS[("copy", "lstm")], [0, 1]).median_steps == 250  # seeds outside the study are left out


def test_convergence_table_tells_stopped_improving_from_ran_out_of_steps(study):
    curves = curves_of(rows())
    table = convergence_table(curves, all_stops(RUNS, study), "copy", study)
    assert cells(table, "lstm")[1].startswith("0.39 [")  # its interval: tests/test_report_significance.py
    assert cells(table, "lstm")[2:] == ["no", "2/3",
                                        "stopped improving (plateau 2/3), ran out of steps (cap 300, 1/3: still rising 1)",
                                        "250", "150"]
    assert cells(table, "bahdanau")[2:] == ["yes", "3/3", "reached the target (3/3)", "100", "100"]
    assert cells(table, "hard")[3:] == ["0/3", "ran out of steps (cap 300, 3/3: still rising 3)", "300", "275"]
    sentence = speed_sentence(all_stops(RUNS, study), "copy", study)
    assert sentence == ("1 of 3 variants reached the target on every seed, the fastest bahdanau in a median "
                        "100 steps; ran out of steps (cap 300) on some seed: lstm (1/3: still rising 1), hard (3/3: still rising 3).")


def test_old_train_jsons_without_stops_render_as_not_recorded(study):
    old = {key: [{"seed": r["seed"], "loss": r["loss"]} for r in runs] for key, runs in RUNS.items()}
    curves = curves_of(rows())
    text = "\n".join(convergence_section(curves, old, study))
    assert cells(text.splitlines(), "lstm")[3:] == ["–", "–", "–", "–"]
    assert "How the runs stopped is not recorded for this task." in text


def test_the_rule_is_stated_from_params_per_task(study, raw_params):
    assert stop_rule_sentence(study) == (
        "Training stops by one rule for every variant and task: validation every 25 steps; a run stops once "
        "its validation exact match exceeds 0.99 (target), or after 4 validations in a row that do not beat "
        "its best by more than 0.01 (plateau), or at the cap of 300 steps; the weights evaluated are those "
        "of each run's best validation.")
    raw_params["study"].update(tasks=["copy", "reverse", "g2p"], variants=list(VARIANTS))
    raw_params["train"].update(stop={"target": 0.99, "patience": 4, "min_delta": 0.01})
    raw_params["per_task"]["g2p"]["train"] = {"max_steps": 900, "val_every_n_steps": 100}
    sentence = stop_rule_sentence(parse_params(raw_params))
    assert "one rule per task" in sentence and "copy, reverse: validation every 25 steps" in sentence
    assert "g2p: validation every 100 steps" in sentence and "cap of 900 steps" in sentence
    raw_params["train"].pop("stop")
    assert stop_rule_sentence(parse_params(raw_params)).startswith("No stopping rule: every run trains 300 or 900 steps;")


def test_ranking_leaves_out_unconverged_variants_and_says_why(study):
    curves = curves_of(rows())
    assert ranked_variants(curves, "copy", study) == ["bahdanau"]  # hard extrapolates best, but is unconverged
    block = decided(curves, lambda judge: task_block(curves, all_stops(RUNS, study), "copy", study, judge))
    table = [line for line in block if line.startswith("| ") and line[2].isdigit()]
    assert [cells([line], line.split(" | ")[1])[1] for line in table] == ["bahdanau"]
    text = "\n".join(block)
    assert "- lstm: in distribution 0.39 [" in text
    assert "], stopped improving (plateau 2/3), ran out of steps (cap 300, 1/3: still rising 1)" in text
    assert "- hard: in distribution 0.79 [" in text and "], ran out of steps (cap 300, 3/3: still rising 3)" in text


def test_when_none_converged_every_variant_is_ranked_labelled_unconverged(study):
    curves = curves_of(rows(in_dist={"bahdanau": 0.5, "lstm": 0.4, "hard": 0.8}))
    block = "\n".join(decided(curves, lambda judge: task_block(curves, all_stops(RUNS, study), "copy", study, judge)))
    assert "No variant converged in distribution by the 0.95 threshold (the highest in-distribution " \
           "mean is hard's, 0.79 [" in block
    assert "Unconverged ranking:" in block
    assert ranked_variants(curves, "copy", study) == ["hard", "bahdanau", "lstm"]


def test_longest_length_held_ends_at_the_first_drop_below_one_half(study):
    shape = {4: 1.0, 5: 0.9, 6: 0.6, 7: 0.4, 8: 0.7}  # recovers at 8: does not count
    curve = curves_of([{"task": "copy", "variant": "lstm", "seed": 0, "length": n, "split": "x", "n": 100,
                               "seq_acc": acc, "tok_acc": acc, "per": 0.0} for n, acc in shape.items()])
    assert longest_held(curve[("copy", "lstm")]) == 6
    low = curves_of([{"task": "copy", "variant": "lstm", "seed": 0, "length": n, "split": "x", "n": 100,
                             "seq_acc": 0.4, "tok_acc": 0.4, "per": 0.0} for n in shape])
    assert longest_held(low[("copy", "lstm")]) is None
    curves = curves_of(rows())
    table = decided(curves, lambda judge: ranking_table(curves, "copy", study, judge))
    assert "longest length held (≥ 0.5; trained to 6)" in table[0]
    assert cells(table, "bahdanau")[4] == "6"  # 1.0 to length 6, 0.3 beyond


def test_pairs_not_decided_apart_are_undecided_not_agreement(study):
    """none (bahdanau) and rotary (hard) are steady and far apart; alibi (lstm) sits just below
    none but swings across seeds, so the test cannot tell it from none."""
    beyond = {"bahdanau": [0.80, 0.81, 0.79], "lstm": [0.70, 0.90, 0.75], "hard": [0.20, 0.21, 0.19]}
    table = [{"task": "copy", "variant": v, "seed": s, "length": n,
              "split": "in_distribution" if n <= 6 else "extrapolation", "n": 100,
              "seq_acc": 1.0 if n <= 6 else beyond[v][s], "tok_acc": 1.0, "per": 0.0}
             for v in beyond for s in SEEDS for n in range(3, 9)]
    curves = curves_of(table)
    schemes = {"none": "bahdanau", "alibi": "lstm", "rotary": "hard"}
    found = decided(curves, lambda judge: kazemnejad_pairs(curves, "copy", schemes, judge))
    assert found == {"agree": [("none", "rotary"), ("alibi", "rotary")], "reversed": [],
                     "undecided": [("none", "alibi")]}
    schemes = {"none": "hard", "alibi": "bahdanau", "sinusoidal": "lstm"}
    found = decided(curves, lambda judge: kazemnejad_pairs(curves, "copy", schemes, judge))
    assert found == {"agree": [], "reversed": [("none", "alibi"), ("none", "sinusoidal")],
                     "undecided": [("alibi", "sinusoidal")]}


def test_the_report_has_the_convergence_section(study):
    curves = curves_of(rows())
    text = render(curves, study, [], {}, [], runs=RUNS)
    assert "## Did every model finish learning" in text
    assert text.index("## Did every model finish learning") < text.index("## Which attention extrapolates")
    assert "Not ranked (not converged in distribution, below 0.95):" in text
    assert "at most 300 steps" in text


def test_a_capped_run_is_flat_only_when_its_last_validations_gained_at_most_min_delta():
    from attnbench.report.convergence import flat_at_cap, stops

    flat = [[250, 0.50], [500, 0.875], [750, 0.879], [1000, 0.883]]  # +0.008 over the last two
    rising = [[250, 0.50], [500, 0.875], [750, 0.879], [1000, 0.886]]  # +0.011
    assert flat_at_cap(flat, patience=3, min_delta=0.01)
    assert not flat_at_cap(rising, patience=3, min_delta=0.01)
    assert not flat_at_cap(flat[:2], patience=3, min_delta=0.01)  # too few validations to say
    assert flat_at_cap(flat, patience=2, min_delta=0.005)  # the last one alone: +0.004
    runs = [{"seed": s, "val": v, "steps": 1000, "stopped": "max_steps", "kept_step": 1000}
            for s, v in enumerate((flat, rising, flat))]
    assert stops(runs, [0, 1, 2]).flat_at_cap == 2
