"""Section 6: the study's own stages, serial against parallel, and what start-up costs.

Runs the real train stage (`python -m attnbench.stages.train`) of one variant with every
seed of params.yaml, in a throwaway copy of the repository, once with runtime.workers 1
and once with workers = the cores available, alternately. Each call is a whole stage
process, start-up included, as `dvc repro` runs it. Then it times each stage module's
imports alone, in fresh processes, and sets them beside the stage's wall time.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from attnbench import parallel
from attnbench.bench.table import Report, times
from attnbench.timing import compare, ratio
from attnbench.workspace import make_workspace, pipeline_env

STAGE_MODULES = ("prepare", "train", "evaluate", "report")


def _stage(workspace: Path, module: str, *args: str) -> None:
    command = [sys.executable, "-m", f"attnbench.stages.{module}", *args]
    subprocess.run(command, cwd=workspace, env=pipeline_env(workspace), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _import_only(workspace: Path, module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import attnbench.stages.{module}"], cwd=workspace,
                   env=pipeline_env(workspace), check=True, stderr=subprocess.DEVNULL)


def study_section(params_path: str, task: str, variant: str, max_steps: int, rounds: int) -> Report:
    """Wall time of the train stage with 1 worker vs every core, and imports per stage."""
    repo = Path.cwd()
    raw = yaml.safe_load(Path(params_path).read_text())
    raw["train"]["max_steps"] = max_steps
    seeds = raw["study"]["seeds"]
    cores = parallel.worker_count(None, len(seeds))
    with tempfile.TemporaryDirectory(prefix="attnbench-bench-") as tmp:
        workspace = make_workspace(repo, Path(tmp) / "repo", None)
        for workers in (1, cores):
            raw["runtime"]["workers"] = workers
            (workspace / f"params-{workers}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        _stage(workspace, "prepare", "--task", task, "--params", "params-1.yaml")
        train = {f"{w} worker{'s' * (w > 1)}": (lambda w=w: _stage(
            workspace, "train", "--task", task, "--variant", variant, "--params", f"params-{w}.yaml"))
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
    return Report(
        title=f"6. Study stages: train@{task}-{variant}, {len(seeds)} seeds x {max_steps} steps, "
              f"serial vs {cores} workers",
        headline=(f"Serial / parallel wall time of the whole stage process: {times(speedup)} on "
                  f"{cores} cores (target >= 1.8x on 2 cores; {len(seeds)} seeds on {cores} workers "
                  f"allow at most {len(seeds) / -(-len(seeds) // cores):.2f}x)"),
        headers=["stage process", "s med", "s min", "speedup", "import share"],
        rows=rows,
        notes=["Each call runs the real stage command in a fresh process (start-up included), as "
               "dvc repro does; candidates alternate after a warm-up.",
               "import share = seconds to import the stage module alone / the stage's wall time; "
               "forked workers share the stage process's imports, so they are paid once a stage.",
               "Import rows: a fresh `python -c 'import attnbench.stages.<m>'`, median and minimum."],
    )
