"""Section 6: the study's own stages, serial against parallel, and what start-up costs.

Runs the real train stage (`python -m attnbench.stages train --variant V`: every task and
seed of params.yaml), in a throwaway copy of the repository, once with runtime.workers 1
and once with workers = the cores available, alternately. Each call is a whole stage
process, start-up included, as `dvc repro` runs it. Then it times each stage module's
imports alone, in fresh processes, and sets them beside the stage's wall time and beside
the last whole study `make repro` ran here (its log names the stages that ran and the wall
time: import share = sum over those stages of their module's import time / wall time).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

from attnbench.bench.table import Report, times, verdict
from attnbench.cost.timing import compare, ratio
from attnbench.execution import parallel
from attnbench.execution.workspace import make_workspace, pipeline_env

STAGE_MODULES = ("prepare", "train", "evaluate", "report")
REPRO_LOG = Path(".dvc/tmp/attnbench-repro.log")  # the Makefile's REPRO_LOG
IMPORT_SHARE_TARGET = 0.10


def recorded_study(log: Path) -> tuple[Counter, int] | None:
    """(stages run per stage module, wall seconds) of the `make repro` that wrote `log`;
    None when there is no complete record."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    wall = re.search(r"^study wall seconds (\d+)$", text, re.MULTILINE)
    ran = Counter(re.findall(r"Running stage '(\w+)[@']", text))
    return (ran, int(wall.group(1))) if wall and ran else None


def _stage(workspace: Path, module: str, *args: str) -> None:
    command = [sys.executable, "-m", "attnbench.stages", module, *args]
    subprocess.run(command, cwd=workspace, env=pipeline_env(workspace), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _import_only(workspace: Path, module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import attnbench.stages.{module}"], cwd=workspace,
                   env=pipeline_env(workspace), check=True, stderr=subprocess.DEVNULL)


def study_section(params_path: str, variant: str, max_steps: int, rounds: int,
                  study_log: Path = REPRO_LOG) -> Report:
    """Wall time of the train stage with 1 worker vs every core, and imports per stage."""
    repo = Path.cwd()
    raw = yaml.safe_load(Path(params_path).read_text())
    raw["train"]["max_steps"] = max_steps
    tasks, seeds = raw["study"]["tasks"], raw["study"]["seeds"]
    jobs = len(tasks) * len(seeds)
    cores = parallel.worker_count(None, jobs)
    with tempfile.TemporaryDirectory(prefix="attnbench-bench-") as tmp:
        workspace = make_workspace(repo, Path(tmp) / "repo", None)
        for workers in (1, cores):
            raw["runtime"]["workers"] = workers
            (workspace / f"params-{workers}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        for task in tasks:
            _stage(workspace, "prepare", "--task", task, "--params", "params-1.yaml")
        train = {f"{w} worker{'s' * (w > 1)}": (lambda w=w: _stage(
            workspace, "train", "--variant", variant, "--params", f"params-{w}.yaml"))
            for w in (1, cores)}
        walls = compare(train, rounds=rounds, warmup=1)
        imports = compare({m: (lambda m=m: _import_only(workspace, m)) for m in STAGE_MODULES},
                          rounds=rounds, warmup=1)
    serial, side_by_side = walls.values()
    speedup = ratio(serial, side_by_side)[0]
    rows = [[name, f"{t.median:.1f}", f"{t.min:.1f}", "-" if t is serial else times(speedup),
             f"{imports['train'].median / t.median:.0%}"] for name, t in walls.items()]
    rows += [[]] + [[f"import attnbench.stages.{m}", f"{t.median:.1f}", f"{t.min:.1f}", "-", "-"]
                    for m, t in imports.items()]
    study = recorded_study(study_log)
    if study is None:
        share_line = f"import share of a whole study: no record (run `make repro`; it writes {study_log})"
    else:
        ran, wall = study
        import_s = sum(imports[m].median * n for m, n in ran.items() if m in imports)
        share = import_s / wall
        share_line = (f"import share of the last `make repro` here: {share:.1%} ({sum(ran.values())} "
                      f"stages, {import_s / 60:.1f} of {wall / 60:.1f} min; target <= "
                      f"{IMPORT_SHARE_TARGET:.0%} {verdict(share, IMPORT_SHARE_TARGET, at_least=False)})")
        rows += [[]] + [[f"study: {n} x {m}", "-", "-", "-",
                         f"{imports[m].median * n / wall:.1%}" if m in imports else "?"]
                        for m, n in sorted(ran.items())]
    return Report(
        title=f"6. Study stages: train@{variant}, {len(tasks)} tasks x {len(seeds)} seeds x "
              f"{max_steps} steps, serial vs {cores} workers",
        headline=(f"Serial / parallel wall time of the whole stage process: {times(speedup)} on "
                  f"{cores} cores (target >= 1.8x on 2 cores; {jobs} equal jobs on {cores} workers "
                  f"allow at most {jobs / -(-jobs // cores):.2f}x). {share_line}"),
        headers=["stage process", "s med", "s min", "speedup", "import share"],
        rows=rows,
        notes=["Each call runs the real stage command in a fresh process (start-up included), as "
               "dvc repro does; candidates alternate after a warm-up.",
               "import share = seconds to import the stage module alone / the stage's wall time; "
               "forked workers share the stage process's imports, so they are paid once a stage.",
               "Import rows: a fresh `python -c 'import attnbench.stages.<m>'`, median and minimum.",
               f"study rows: stages of that module in the last `make repro` ({study_log}) x the "
               "module's median import time / that study's wall time."],
    )
