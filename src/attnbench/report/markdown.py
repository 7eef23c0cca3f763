"""reports/report.md: every number and every sentence of findings computed from results."""

from __future__ import annotations

from attnbench.config import Params
from attnbench.report.comparisons import pairs
from attnbench.report.convergence import Runs, all_stops, convergence_section
from attnbench.report.extrapolation import extrapolation_section
from attnbench.report.calibration import describe as describe_schedule
from attnbench.report.g2p import g2p_section
from attnbench.report import resampling
from attnbench.report.significance import ALPHA, APART, AT_CEILING, CEILING, NO_DIFFERENCE, Judge
from attnbench.report.stats import Curve, fmt, mean_interval
from attnbench.data.tasks import G2P

Curves = dict[tuple[str, str], Curve]

TESTS = (f"scipy's paired t-test over seeds when two variants share their seeds (they then share the test "
         f"sequences too), Welch's t-test otherwise; the seed is the unit, so with few seeds only large or "
         f"steady gaps are detected. Every comparison of the report is corrected together by Holm's method "
         f"and decided at {ALPHA:g}: apart, no difference detected, or both at the ceiling (both at or above "
         f"{CEILING:g} in distribution, where no mechanism can show it is better)")


def key_lengths(params: Params) -> list[int]:
    low, high = params.data.train_lengths.min, params.data.train_lengths.max
    return sorted({low, (low + high) // 2, high, (high + params.data.test_max_length) // 2,
                   params.data.test_max_length})


def accuracy_table(curves: Curves, task: str, params: Params,
                   parameters: dict[tuple[str, str], int]) -> list[str]:
    lengths = key_lengths(params.for_task(task))
    high = params.for_task(task).data.train_lengths.max
    header = ["variant", "params", *[f"L={n}" + ("*" if n > high else "") for n in lengths],
              "in-dist. mean", "extrap. mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in params.study.variants:
        curve = curves[(task, variant)]
        cells = [f"{parameters.get((task, variant), 0):,}", *[fmt(curve.at(n)) for n in lengths],
                 fmt(curve.split_interval("in_distribution")), fmt(curve.split_interval("extrapolation"))]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def _listed(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def best_at_longest_trained(curves: Curves, task: str, params: Params, judge: Judge) -> str:
    """The best variant at the longest training length, and every other one decided against it."""
    high = params.for_task(task).data.train_lengths.max
    variants = params.study.variants
    at_high = {v: curves[(task, v)].at(high) for v in variants}
    ranked = sorted(variants, key=lambda v: -at_high[v].mean)
    best = ranked[0]
    decided = {v: judge(task, best, v, [high], f"at length {high}", True) for v in ranked[1:]}
    by = {kind: [v for v in ranked[1:] if decided[v].decision == kind]
          for kind in (AT_CEILING, NO_DIFFERENCE, APART)}
    return (f"At the longest training length ({high}) the best is {best} with {fmt(at_high[best])}. Against it: "
            f"both at the ceiling (≥ {CEILING:g}) {_listed(by[AT_CEILING])}; no difference detected "
            f"{_listed(by[NO_DIFFERENCE])}; behind it, apart, {_listed(by[APART])}.")


def fixed_vs_attention(curves: Curves, task: str, params: Params, judge: Judge) -> str | None:
    """Bahdanau et al.'s Fig. 2 question: what the fixed-context models lose with length, and the
    best attention variant against the best fixed-context one at the longest training length."""
    data = params.for_task(task).data
    low, high = data.train_lengths.min, data.train_lengths.max
    variants = params.study.variants
    fixed = [v for v in variants if params.variants[v].fixed_context]
    attentive = [v for v in variants if not params.variants[v].fixed_context]
    if not (fixed and attentive):
        return None
    at = {v: (curves[(task, v)].at(low).mean, curves[(task, v)].at(high).mean) for v in variants}
    drops = {v: at[v][0] - at[v][1] for v in variants}
    fixed_text = "; ".join(f"{v} {at[v][0]:.2f} → {at[v][1]:.2f}" for v in fixed)
    worst_attention = max(attentive, key=lambda v: drops[v])
    best_attention = max(attentive, key=lambda v: at[v][1])
    best_fixed = max(fixed, key=lambda v: at[v][1])
    decided = judge(task, best_attention, best_fixed, [high], f"at length {high}", True)
    verdict = ({AT_CEILING: "both at the ceiling: at this length fixed context has lost nothing yet",
                NO_DIFFERENCE: "no difference detected between the best attention and best fixed-context variants"}
               .get(decided.decision) or ("the best attention variant is ahead of every fixed-context variant"
                                          if decided.difference > 0 else "a fixed-context variant is ahead"))
    return (f"Fixed context vs attention, lengths {low} → {high}: {fixed_text}. Among attention variants "
            f"the largest drop is {worst_attention}'s ({drops[worst_attention]:.2f}); at length {high} "
            f"{best_attention} vs {best_fixed}: {decided.text()} — {verdict}.")


def pair_finding(curves: Curves, task: str, params: Params, judge: Judge, pair) -> str:
    """A paper's pair in distribution; where both are at the ceiling there, the same pair
    beyond the training lengths, where they can still separate."""
    a, b = curves[(task, pair.variant)], curves[(task, pair.reference)]
    inside = a.split_lengths("in_distribution")
    decided = judge(task, pair.variant, pair.reference, inside, "in distribution", True)
    text = (f"{pair.kind.capitalize()} ({pair.variant} vs {pair.reference}): mean in-distribution exact match "
            f"{fmt(a.exact_match(inside))} vs {fmt(b.exact_match(inside))}, difference {decided.text()}")
    beyond = a.split_lengths("extrapolation")
    if decided.decision == AT_CEILING and beyond:
        outside = judge(task, pair.variant, pair.reference, beyond, "beyond training", False)
        text += (f"; beyond the training lengths, where a ceiling does not hide them, "
                 f"{fmt(a.exact_match(beyond))} vs {fmt(b.exact_match(beyond))}, difference {outside.text()}")
    return text + "."


def beyond_training(curves: Curves, task: str, params: Params, judge: Judge) -> str | None:
    """The best variant beyond the training lengths against the next."""
    data = params.for_task(task).data
    high, variants = data.train_lengths.max, params.study.variants
    if data.test_max_length <= high:
        return None
    extrap = {v: curves[(task, v)].split_interval("extrapolation") for v in variants}
    top, second = sorted(variants, key=lambda v: -extrap[v].mean)[:2] if len(variants) > 1 else (variants[0], None)
    zero = [v for v in variants if extrap[v].mean == 0.0]
    zero_text = f"; {len(zero)} of {len(variants)} variants get none right" if zero else ""
    against = ""
    if second is not None:
        beyond = curves[(task, top)].split_lengths("extrapolation")
        against = f", against the next, {second}: {judge(task, top, second, beyond, 'beyond training', False).text()}"
    return (f"Beyond the training lengths ({high + 1}–{data.test_max_length}) the best is {top} "
            f"with a mean of {fmt(extrap[top])}{against}{zero_text}.")


def task_findings(curves: Curves, task: str, params: Params, judge: Judge) -> list[str]:
    """The task's findings, each comparison decided by `judge`."""
    out = [best_at_longest_trained(curves, task, params, judge)]
    out += [s for s in [fixed_vs_attention(curves, task, params, judge)] if s]
    out += [pair_finding(curves, task, params, judge, pair) for pair in pairs(params)]
    out += [s for s in [beyond_training(curves, task, params, judge)] if s]
    return out


def hard_vs_soft_table(curves: Curves, params: Params) -> list[str]:
    """Per-seed in-distribution accuracy of each hard/soft pair: mean and spread across seeds."""
    found = [p for p in pairs(params) if p.kind == "hard vs soft"]
    if not found:
        return []
    seeds = params.study.seeds
    header = ["task", "variant", *[f"seed {s}" for s in seeds], "mean ± 95%", "sd"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task in params.study.tasks:
        for pair in found:
            for variant in (pair.variant, pair.reference):
                per_seed = curves[(task, variant)].seed_means("in_distribution")
                iv = mean_interval(per_seed)
                sd = (sum((x - iv.mean) ** 2 for x in per_seed) / max(1, len(per_seed) - 1)) ** 0.5
                lines.append(f"| {task} | {variant} | " + " | ".join(f"{x:.2f}" for x in per_seed)
                             + f" | {fmt(iv)} | {sd:.3f} |")
    return lines


def task_setup(params: Params, task: str) -> str:
    """One line: the task's data and budget (its per_task settings in place)."""
    p = params.for_task(task)
    data, train = p.data, p.train
    symbols = (f"{data.vocab_size} symbols" if task != G2P
               else "letters in, ARPAbet phonemes out (CMUdict: first pronunciation, stress removed)")
    return (f"- {task}: training lengths {data.train_lengths.min}–{data.train_lengths.max}, test "
            f"lengths {data.train_lengths.min}–{data.test_max_length} ({data.n_test_per_length} per "
            f"length where there are as many), {data.n_train} training examples, {symbols}; "
            f"{'at most ' if train.stop else ''}{train.max_steps} steps, embedding {p.model.embed_dim}, "
            f"hidden/model width {p.model.hidden_dim}")


FAMILY_NAMES = {"rnn": "recurrent encoder-decoders", "transformer": "Transformers"}


def schedules_clause(params: Params) -> str:
    """The learning rate of each architecture family the study trains, in words."""
    train = params.train
    families = dict.fromkeys(params.variants[v].arch for v in params.study.variants)
    if all(train.schedule(f).is_constant and train.schedule(f).lr is None for f in families):
        return f"learning rate {train.lr:g}"
    said = "; ".join(f"{FAMILY_NAMES[f]} {describe_schedule(train.schedule(f).model_dump(), train.lr)}"
                     for f in families)
    return (f"learning rate per architecture family, chosen on validation data by the calibration "
            f"(`calibration/calibration.md`): {said}")


def render(curves: Curves, params: Params, heatmap_tasks: list[str],
           parameters: dict[tuple[str, str], int], extrapolation_tasks: list[str] = (),
           runs: Runs | None = None, length_weights: dict[int, float] | None = None) -> str:
    """The whole report; `runs` = each (task, variant)'s per-seed training records (the train
    JSONs' `curves`: how each run stopped), none recorded if omitted; `length_weights` = g2p's
    test-dictionary share of each word length (report/g2p.py). Rendered twice: the first pass
    collects every comparison, Holm's correction decides them together, the second writes them."""
    judge = Judge(curves)
    arguments = (curves, params, heatmap_tasks, parameters, list(extrapolation_tasks), runs, length_weights)
    _render(*arguments, judge)
    judge.correct()
    return _render(*arguments, judge)


INTERVALS = ("- intervals (95%): exact match (and WER) by a two-stage bootstrap that resamples the seeds and, "
             f"within each length, the test sequences ({resampling.RESAMPLES} resamples, fixed seed; where every "
             "resample agrees, the Clopper–Pearson interval of the test sequences); token accuracy and PER by a "
             "t-interval over seeds")


SMOKE_STEPS = 100  # a study whose every model trains at most this many steps is a smoke run


def smoke_note(params: Params) -> list[str]:
    """A header paragraph for a smoke-sized study (`make demo`, `make smoke`): its numbers
    show that the pipeline runs, not how the mechanisms compare."""
    steps = max(params.for_task(task).train.max_steps for task in params.study.tasks)
    if steps > SMOKE_STEPS:
        return []
    return [f"**A smoke-sized run**: every model trains for at most {steps} steps (seconds), "
            "far too few to learn these tasks, so the accuracies below are near 0 and mean "
            "nothing; they show that preparing, training, evaluation, tracking and this report "
            "run end to end. The study itself: `make repro`.", ""]


def _render(curves: Curves, params: Params, heatmap_tasks: list[str], parameters: dict[tuple[str, str], int],
            extrapolation_tasks: list[str], runs: Runs | None, length_weights: dict[int, float] | None,
            judge: Judge) -> str:
    train = params.train
    runs = runs or {}
    lines = [
        "# attnbench report",
        "",
        "Generated by `dvc repro` from `params.yaml`; every number and sentence below is "
        "computed from `reports/accuracy_by_length.csv`. Accuracy is measured by greedy, "
        "free-running decoding (no teacher forcing) on held-out test sequences never seen in "
        "training. `seq_acc` is exact match of the whole output sequence including EOS.",
        "",
        *smoke_note(params),
        f"- tasks: {', '.join(params.study.tasks)}; {len(params.study.variants)} variants; "
        f"seeds: {', '.join(map(str, params.study.seeds))}",
        *[task_setup(params, task) for task in params.study.tasks],
        f"- every variant of a task gets the same budget: {train.optimizer} (batch {train.batch_size}, "
        f"gradient clip {train.grad_clip:g}), {schedules_clause(params)}",
        INTERVALS,
        f"- comparisons: {TESTS}",
        f"- {judge.summary()}" if judge.corrected else "",
        "",
        "## Findings",
        "",
        "Each comparison gives the difference in mean exact match with its 95% interval, the test, its "
        "p-value and the decision at the corrected level.",
        "",
    ]
    for task in params.study.tasks:
        lines += [f"**{task}**", ""]
        lines += [f"- {sentence}" for sentence in task_findings(curves, task, params, judge)]
        lines.append("")
    lines += [
        "## Accuracy vs sequence length",
        "",
        "A row per family of mechanisms (at most five variants a panel; a variant keeps its "
        "colour and line style in every panel), a column per task: mean over seeds with the 95% "
        "interval as a band; right of the dotted line the lengths were never seen in training.",
        "",
        "![accuracy by length](figures/accuracy_by_length.png)",
        "",
        "Exact-match accuracy at key lengths (`*` = beyond the training lengths); `params` is "
        "the number of trained parameters.",
        "",
    ]
    for task in params.study.tasks:
        lines += [f"### {task}", "", *accuracy_table(curves, task, params, parameters), ""]
    lines += convergence_section(curves, runs, params)
    if G2P in params.study.tasks:
        lines += g2p_section(curves, params, judge, length_weights)
    lines += extrapolation_section(curves, params, list(extrapolation_tasks), all_stops(runs, params), judge)
    hard_soft = hard_vs_soft_table(curves, params)
    if hard_soft:
        lines += ["## Hard vs soft attention", "",
                  "Mean in-distribution exact-match accuracy of each seed; hard attention samples "
                  "one position and learns it by REINFORCE, soft attention averages.", "",
                  *hard_soft, ""]
    lines += ["## Attention heatmaps", ""]
    if heatmap_tasks:
        lines += [
            "Per task, the first test sequence of the longest training length ("
            + ", ".join(f"{task} {params.for_task(task).data.train_lengths.max}" for task in heatmap_tasks)
            + "), decoded greedily by the first seed of every attention variant (self-attention: "
            "last decoder layer's cross-attention, averaged over heads).",
            "",
            *[f"![attention {task}](figures/attention_{task}.png)" for task in heatmap_tasks],
        ]
    else:
        lines.append("No variant of this study uses attention.")
    lines += [
        "",
        "## Training curves",
        "",
        "Training loss (mean over seeds) against step.",
        "",
        "![training curves](figures/training_curves.png)",
        "",
        "## Cost against length",
        "",
        "Training-step time and activation memory per variant against sequence length, with "
        "log-log slopes beside the complexities of Vaswani et al. 2017 (Table 1), are in "
        "[`reports/cost/cost.md`](cost/cost.md). They depend on the machine, so they are "
        "produced by their own pipeline (`pipelines/cost/dvc.yaml`) and are not part of the "
        "byte-for-byte promise.",
        "",
    ]
    return "\n".join(lines)
