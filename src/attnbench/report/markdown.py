"""reports/report.md: every number and every sentence of findings computed from results."""

from __future__ import annotations

from attnbench.config import Params
from attnbench.report.comparisons import pairs
from attnbench.report.convergence import Runs, all_stops, convergence_section
from attnbench.report.extrapolation import extrapolation_section
from attnbench.report.calibration import describe as describe_schedule
from attnbench.report.g2p import g2p_section
from attnbench.report.stats import Curve, Interval, mean_interval
from attnbench.tasks import G2P

Curves = dict[tuple[str, str], Curve]


def fmt(iv: Interval) -> str:
    return f"{iv.mean:.2f} ± {iv.half_width:.2f}" if iv.n_seeds > 1 else f"{iv.mean:.2f}"


def key_lengths(params: Params) -> list[int]:
    low, high = params.data.train_lengths.min, params.data.train_lengths.max
    return sorted({low, (low + high) // 2, high, (high + params.data.test_max_length) // 2,
                   params.data.test_max_length})


def split_mean(curve: Curve, split: str) -> Interval:
    """Mean over the split's lengths, with the interval over seeds of that per-seed mean."""
    return curve.split_interval(split)


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
                 fmt(split_mean(curve, "in_distribution")), fmt(split_mean(curve, "extrapolation"))]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def _versus(a: Interval, b: Interval) -> str:
    """How a compares with b: difference and whether their 95% intervals overlap."""
    if a.n_seeds < 2 or b.n_seeds < 2:
        return f"{a.mean - b.mean:+.2f} (one seed, no interval)"
    overlap = "intervals overlap" if a.overlaps(b) else "intervals do not overlap"
    return f"{a.mean - b.mean:+.2f}, {overlap}"


def task_findings(curves: Curves, task: str, params: Params) -> list[str]:
    data = params.for_task(task).data
    low, high = data.train_lengths.min, data.train_lengths.max
    variants = params.study.variants
    at_high = {v: curves[(task, v)].at(high) for v in variants}
    out = []
    ranked = sorted(variants, key=lambda v: -at_high[v].mean)
    best = ranked[0]
    tied = [v for v in ranked[1:] if at_high[v].overlaps(at_high[best])]
    tie_text = f"; within its interval: {', '.join(tied)}" if tied else "; no other variant's interval overlaps it"
    out.append(f"At the longest training length ({high}) the best is {best} with {fmt(at_high[best])}{tie_text}.")

    fixed = [v for v in variants if params.variants[v].fixed_context]
    attentive = [v for v in variants if not params.variants[v].fixed_context]
    if fixed and attentive:
        drops = {v: curves[(task, v)].at(low).mean - at_high[v].mean for v in variants}
        fixed_text = "; ".join(f"{v} {curves[(task, v)].at(low).mean:.2f} → {at_high[v].mean:.2f}" for v in fixed)
        worst_attention = max(attentive, key=lambda v: drops[v])
        best_attention = max(attentive, key=lambda v: at_high[v].mean)
        best_fixed = max(fixed, key=lambda v: at_high[v].mean)
        verdict = ("the best attention variant is ahead of every fixed-context variant, intervals not overlapping"
                   if at_high[best_attention].mean > at_high[best_fixed].mean
                   and not at_high[best_attention].overlaps(at_high[best_fixed])
                   else "the intervals of the best attention and best fixed-context variants overlap"
                   if at_high[best_attention].overlaps(at_high[best_fixed])
                   else "a fixed-context variant is ahead")
        out.append(
            f"Fixed context vs attention, lengths {low} → {high}: {fixed_text}. Among attention variants "
            f"the largest drop is {worst_attention}'s ({drops[worst_attention]:.2f}); at length {high} "
            f"{best_attention} vs {best_fixed}: {_versus(at_high[best_attention], at_high[best_fixed])} — {verdict}."
        )
    for pair in pairs(params):
        a, b = curves[(task, pair.variant)], curves[(task, pair.reference)]
        ia, ib = split_mean(a, "in_distribution"), split_mean(b, "in_distribution")
        out.append(
            f"{pair.kind.capitalize()} ({pair.variant} vs {pair.reference}): mean in-distribution "
            f"accuracy {fmt(ia)} vs {fmt(ib)} ({_versus(ia, ib)}); at length {high} "
            f"{at_high[pair.variant].mean:.2f} vs {at_high[pair.reference].mean:.2f}."
        )
    if data.test_max_length > high:
        extrap = {v: split_mean(curves[(task, v)], "extrapolation") for v in variants}
        top = max(variants, key=lambda v: extrap[v].mean)
        zero = [v for v in variants if extrap[v].mean == 0.0]
        zero_text = f"; {len(zero)} of {len(variants)} variants get none right" if zero else ""
        out.append(
            f"Beyond the training lengths ({high + 1}–{data.test_max_length}) the best is {top} "
            f"with a mean of {fmt(extrap[top])}{zero_text}."
        )
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
           runs: Runs | None = None) -> str:
    """The whole report; `runs` = each (task, variant)'s per-seed training records (the train
    JSONs' `curves`: how each run stopped), none recorded if omitted."""
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
        f"- tasks: {', '.join(params.study.tasks)}; {len(params.study.variants)} variants; "
        f"seeds: {', '.join(map(str, params.study.seeds))}",
        *[task_setup(params, task) for task in params.study.tasks],
        f"- every variant of a task gets the same budget: {train.optimizer} (batch {train.batch_size}, "
        f"gradient clip {train.grad_clip:g}), {schedules_clause(params)}",
        "- intervals: mean ± half-width of the 95% t-interval over seeds (clipped to [0, 1])",
        "",
        "## Findings",
        "",
    ]
    for task in params.study.tasks:
        lines += [f"**{task}**", ""]
        lines += [f"- {sentence}" for sentence in task_findings(curves, task, params)]
        lines.append("")
    lines += [
        "## Accuracy vs sequence length",
        "",
        "Mean over seeds with the 95% interval as a band; right of the dashed line the "
        "lengths were never seen in training.",
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
        lines += g2p_section(curves, params)
    lines += extrapolation_section(curves, params, list(extrapolation_tasks), all_stops(runs, params))
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
