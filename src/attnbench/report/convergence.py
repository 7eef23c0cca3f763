"""report.md's convergence section: did every model finish learning, or did it stop
improving, or run out of steps? Computed from reports/train/{variant}/{task}.json and the
accuracy curves.

Each seed's entry in a train JSON says how its run ended (stages/train.py, stopping.py):

    stopped   "target"     validation exact match exceeded train.stop.target: learned
              "plateau"    train.stop.patience validations without beating the best by
                           more than train.stop.min_delta: stopped improving
              "max_steps"  the cap, train.max_steps, came first: ran out of steps
    steps     optimizer steps taken;  kept_step  the step of the weights evaluated
    val       [[step, validation exact match], ...]

A run at the cap is *flat* there when its last patience − 1 validations beat the best before
them by no more than min_delta (the plateau rule one validation short of firing), else *still
rising*: only a rising run would have learned more from more steps of its schedule.

JSONs written before the stopping rule lack these keys: they read as "not recorded" (–).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from attnbench.config import Params
from attnbench.report.stats import Curve, fmt

Curves = dict[tuple[str, str], Curve]
Runs = dict[tuple[str, str], list[dict]]  # (task, variant) -> the train JSON's "curves", one per seed

CONVERGED = 0.95  # mean in-distribution exact match at or above which a variant has learned its task
AT_TARGET, ON_PLATEAU, AT_CAP = "target", "plateau", "max_steps"  # stopping.py's reasons
MISSING = "–"


def count(value: float | None) -> str:
    """A step count or a median of them (x.5 for an even number of seeds); – if unknown."""
    return MISSING if value is None else f"{value:g}"


@dataclass(frozen=True)
class Stops:
    """How the seeds of one (task, variant) ended training."""

    seeds: int  # seeds in the study
    target: int  # seeds that stopped by reaching the target
    plateau: int  # seeds that stopped improving
    capped: int  # seeds that ran out of steps (max_steps)
    median_steps: float | None  # median over seeds of the steps taken; None if not recorded
    median_kept_step: float | None  # median over seeds of the step whose weights were evaluated
    flat_at_cap: int = 0  # of the capped seeds, those whose validation had stopped rising (flat_at_cap)

    @property
    def by_rule(self) -> int:
        """Seeds the rule stopped before the cap (target or plateau)."""
        return self.target + self.plateau

    @property
    def recorded(self) -> int:
        return self.target + self.plateau + self.capped


def _median(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return float(statistics.median(values)) if values else None


def flat_at_cap(validations: list[list[float]], patience: int, min_delta: float) -> bool:
    """The last patience − 1 validations beat the best before them by at most min_delta."""
    recent = max(patience - 1, 1)
    if len(validations) <= recent:
        return False
    before = max(acc for _, acc in validations[:-recent])
    return max(acc for _, acc in validations[-recent:]) - before <= min_delta


def stops(runs: list[dict], seeds: list[int], patience: int = 3, min_delta: float = 0.01) -> Stops:
    """The train JSON's per-seed entries (`curves`) of the study's seeds, counted."""
    chosen = [run for run in runs if run.get("seed") in seeds]
    reasons = [run.get("stopped") for run in chosen]
    flat = sum(flat_at_cap(run.get("val") or [], patience, min_delta) for run in chosen
               if run.get("stopped") == AT_CAP)
    return Stops(seeds=len(seeds), target=reasons.count(AT_TARGET), plateau=reasons.count(ON_PLATEAU),
                 capped=reasons.count(AT_CAP), median_steps=_median(chosen, "steps"),
                 median_kept_step=_median(chosen, "kept_step"), flat_at_cap=flat)


def all_stops(runs: Runs, params: Params) -> dict[tuple[str, str], Stops]:
    """Stops of every (task, variant) of the study; none recorded where `runs` lacks it."""
    found = {}
    for task in params.study.tasks:
        rule = params.for_task(task).train.stop
        patience, min_delta = (rule.patience, rule.min_delta) if rule is not None else (3, 0.01)
        for variant in params.study.variants:
            found[(task, variant)] = stops(runs.get((task, variant), []), params.study.seeds, patience, min_delta)
    return found


def converged(curve: Curve) -> bool:
    """Mean in-distribution exact match (over lengths, then seeds) at or above CONVERGED."""
    return curve.split_interval("in_distribution").mean >= CONVERGED


def how_they_stopped(found: Stops, cap: int) -> str:
    """e.g. "stopped improving (plateau 3/5), ran out of steps (cap 3000, 2/5)"."""
    n = found.seeds
    parts = ([f"reached the target ({found.target}/{n})"] if found.target else []) + \
            ([f"stopped improving (plateau {found.plateau}/{n})"] if found.plateau else []) + \
            ([f"ran out of steps (cap {cap}, {found.capped}/{n}: {at_cap(found)})"] if found.capped else [])
    if found.recorded < n:
        parts.append(f"not recorded ({n - found.recorded}/{n})")
    return ", ".join(parts)


def at_cap(found: Stops) -> str:
    """e.g. "flat there 2, still rising 1": how the capped seeds' validation ended."""
    rising = found.capped - found.flat_at_cap
    return ", ".join(([f"flat there {found.flat_at_cap}"] if found.flat_at_cap else [])
                     + ([f"still rising {rising}"] if rising else []))


def unconverged_line(variant: str, curve: Curve, found: Stops, cap: int) -> str:
    """e.g. "lstm: in distribution 0.41 [0.38, 0.44], stopped improving (plateau 5/5)"."""
    return f"{variant}: in distribution {fmt(curve.split_interval('in_distribution'))}, {how_they_stopped(found, cap)}"


def _rule_clause(params: Params, task: str) -> str:
    """One task's rule: validation interval, stop rule and cap."""
    train = params.for_task(task).train
    if train.stop is None:
        return f"no stopping rule, every run trains {train.max_steps} steps"
    rule = train.stop
    return (f"validation every {train.val_every_n_steps} steps; a run stops once its validation exact match "
            f"exceeds {rule.target:g} (target), or after {rule.patience} validations in a row that do not beat "
            f"its best by more than {rule.min_delta:g} (plateau), or at the cap of {train.max_steps} steps")


def stop_rule_sentence(params: Params) -> str:
    """The stopping rule of every task, tasks with the same rule grouped, in one sentence."""
    groups: dict[str, list[str]] = {}
    for task in params.study.tasks:
        groups.setdefault(_rule_clause(params, task), []).append(task)
    keep = params.train.keep
    kept = ("the weights evaluated are those of each run's best validation" if keep == "best"
            else "the weights evaluated are each run's last")
    if all(params.for_task(task).train.stop is None for task in params.study.tasks):
        caps = sorted({params.for_task(task).train.max_steps for task in params.study.tasks})
        return f"No stopping rule: every run trains {' or '.join(map(str, caps))} steps; {kept}."
    if len(groups) == 1:
        return f"Training stops by one rule for every variant and task: {next(iter(groups))}; {kept}."
    clauses = "; ".join(f"{', '.join(tasks)}: {clause}" for clause, tasks in groups.items())
    return f"Training stops by one rule per task, the same for every variant — {clauses}; {kept}."


def convergence_table(curves: Curves, found: dict[tuple[str, str], Stops], task: str, params: Params) -> list[str]:
    """Per variant: in-distribution exact match, whether it converged, how its seeds stopped,
    median steps taken and median step kept."""
    cap = params.for_task(task).train.max_steps
    header = ["variant", "in distribution, mean [95% interval]", f"converged (≥ {CONVERGED:g})",
              "stopped by the rule", "how the seeds ended", "median steps", "median kept step"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in params.study.variants:
        curve, stop = curves[(task, variant)], found[(task, variant)]
        by_rule = f"{stop.by_rule}/{stop.seeds}" if stop.recorded else MISSING
        cells = [fmt(curve.split_interval("in_distribution")), "yes" if converged(curve) else "no",
                 by_rule, how_they_stopped(stop, cap) if stop.recorded else MISSING,
                 count(stop.median_steps), count(stop.median_kept_step)]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def speed_sentence(found: dict[tuple[str, str], Stops], task: str, params: Params) -> str:
    """Which variants reached the target on every seed in the fewest median steps, and which
    ran out of steps on any seed."""
    variants = params.study.variants
    if not any(found[(task, v)].recorded for v in variants):
        return "How the runs stopped is not recorded for this task."
    cap = params.for_task(task).train.max_steps
    learned = sorted((v for v in variants if found[(task, v)].target == found[(task, v)].seeds
                      and found[(task, v)].median_steps is not None),
                     key=lambda v: found[(task, v)].median_steps)
    if learned:
        fewest = found[(task, learned[0])].median_steps
        fastest = [v for v in learned if found[(task, v)].median_steps == fewest]
        speed = (f"{len(learned)} of {len(variants)} variants reached the target on every seed, the fastest "
                 f"{', '.join(fastest)} in a median {count(fewest)} steps")
    else:
        speed = "no variant reached the target on every seed"
    capped = [v for v in variants if found[(task, v)].capped]
    out_of_steps = ("ran out of steps (cap " + str(cap) + ") on some seed: "
                    + ", ".join(f"{v} ({found[(task, v)].capped}/{found[(task, v)].seeds}: {at_cap(found[(task, v)])})"
                                for v in capped)
                    if capped else f"none ran out of steps (cap {cap})")
    return f"{speed[0].upper()}{speed[1:]}; {out_of_steps}."


def convergence_section(curves: Curves, runs: Runs, params: Params) -> list[str]:
    """## Did every model finish learning: the rule, then per task a sentence and the table."""
    found = all_stops(runs, params)
    lines = ["## Did every model finish learning", "",
             stop_rule_sentence(params), "",
             f"A variant counts as converged on a task when its mean in-distribution exact match is at least "
             f"{CONVERGED:g}; only converged variants are ranked by extrapolation below. A run that stopped "
             "on a plateau had stopped improving; one that hit the cap ran out of steps and might have "
             f"learned more, unless its validation was flat there: its last patience − 1 validations beat the "
             "best before them by no more than min_delta (the plateau rule one validation short of firing). "
             "A flat run at the cap had stopped improving under its schedule, whose learning rate decays to "
             f"zero at the cap (train.schedules: cosine); a rising one ran out of steps. `{MISSING}` = not "
             "recorded.", ""]
    for task in params.study.tasks:
        lines += [f"### {task}", "", f"- {speed_sentence(found, task, params)}", "",
                  *convergence_table(curves, found, task, params), ""]
    return lines
