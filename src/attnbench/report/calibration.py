"""The calibration's decision and its page (pipelines/calibration, reports/calibration/).

Each run is one (family, candidate schedule, variant) trained under the study's protocol on
the calibration task; its score is the validation exact match of the weights it kept. Per
family, the chosen schedule maximises the mean score over the family's variants; ties go to
fewer mean steps, then to the candidate listed first.
"""

from __future__ import annotations

from statistics import mean


def summarise(runs: list[dict]) -> dict[str, list[dict]]:
    """{family: [{candidate, score (mean kept val exact match), steps (mean)}]}, in the order run."""
    families: dict[str, dict[str, list[dict]]] = {}
    for run in runs:
        families.setdefault(run["family"], {}).setdefault(run["candidate"], []).append(run)
    return {family: [{"candidate": name, "score": mean(r["kept_val_seq_acc"] for r in mine),
                      "steps": mean(r["steps"] for r in mine)} for name, mine in candidates.items()]
            for family, candidates in families.items()}


def choose(summary: dict[str, list[dict]]) -> dict[str, str]:
    """{family: chosen candidate}: highest score, then fewer steps, then first listed."""
    return {family: min(enumerate(rows), key=lambda ir: (-ir[1]["score"], ir[1]["steps"], ir[0]))[1]["candidate"]
            for family, rows in summary.items()}


def describe(schedule: dict, lr: float) -> str:
    """A schedule in words, e.g. 'warm-up 200, cosine, peak 0.003'."""
    parts = [f"warm-up {schedule['warmup_steps']}"] if schedule["warmup_steps"] else []
    parts.append(schedule["decay"])
    parts.append(f"peak {schedule['lr'] or lr:g}")
    return ", ".join(parts)


def render(calibration: dict) -> str:
    """The page: what was compared, every run, each family's mean and the choice."""
    task, seed, lr = calibration["task"], calibration["seed"], calibration["lr"]
    schedules, chosen = calibration["candidates"], calibration["chosen"]
    lines = [
        "# Learning-rate schedule per architecture family (calibration)",
        "",
        f"Each candidate trained each listed variant of its family on **{task}**, seed {seed} (not a "
        f"study seed), under the study's protocol (stopping rule, cap {calibration['max_steps']} steps, "
        "best validation kept). Score: the kept weights' validation exact match; the test set is "
        "never read. Chosen per family: the highest mean score (ties: fewer steps). `train.schedules` "
        "in params.yaml holds the choice (tests/test_calibration.py checks that it does).",
        "",
        "| family | candidate | schedule | variant | val exact match | steps | stopped |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for run in calibration["runs"]:
        lines.append(f"| {run['family']} | {run['candidate']} | {describe(schedules[run['candidate']], lr)} | "
                     f"{run['variant']} | {run['kept_val_seq_acc']:.3f} | {run['steps']} | {run['stopped']} |")
    lines += ["", "| family | candidate | mean val exact match | mean steps | |", "|---|---|---:|---:|---|"]
    for family, rows in calibration["summary"].items():
        for row in rows:
            mark = "**chosen**" if chosen[family] == row["candidate"] else ""
            lines.append(f"| {family} | {row['candidate']} | {row['score']:.3f} | {row['steps']:.0f} | {mark} |")
    lines += ["", "Chosen: " + "; ".join(f"{family}: {name} ({describe(schedules[name], lr)})"
                                      for family, name in chosen.items()) + ".", ""]
    return "\n".join(lines)
