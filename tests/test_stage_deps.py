"""dvc.yaml's per-stage `deps` cover every source file the stage can import, and no more
than the stage's own part of the package: a change to shared code must rerun what uses it,
and a report-only change must not retrain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from conftest import REPO, stage_body

SRC = REPO / "src"
# (dvc.yaml, stage) -> the stage module it runs
STAGES = {
    ("dvc.yaml", "validate"): "attnbench.stages.validate",
    ("dvc.yaml", "prepare"): "attnbench.stages.prepare",
    ("dvc.yaml", "train"): "attnbench.stages.train",
    ("dvc.yaml", "evaluate"): "attnbench.stages.evaluate",
    ("dvc.yaml", "report"): "attnbench.stages.report",
    ("pipelines/cost/dvc.yaml", "benchmark"): "attnbench.stages.cost",
    ("pipelines/calibration/dvc.yaml", "calibrate"): "attnbench.stages.calibrate",
}


def module_file(name: str) -> Path:
    path = SRC / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imported_modules(path: Path) -> set[str]:
    """attnbench modules named by any import in the file, function-level imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("attnbench"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if module_file(f"{node.module}.{alias.name}").exists()}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("attnbench")}
    return found


def source_closure(module: str) -> set[str]:
    """Repo-relative paths of every attnbench file `module` can import, parents' __init__ too."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        if module_file(name).exists():
            todo += imported_modules(module_file(name))
    return {module_file(n).relative_to(REPO).as_posix() for n in seen if module_file(n).exists()}


def declared_source_deps(dvc_file: str, stage: str) -> list[str]:
    """The stage's source deps, relative to the repository root (the stages' wdir)."""
    deps = stage_body(dvc_file, stage)["deps"]
    return [d for d in deps if d.startswith("src/")]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep + "/") for dep in deps)


def stage_closure(module: str) -> set[str]:
    """What a stage's command imports: the dispatcher (`python -m attnbench.stages <stage>`)
    and the stage module it runs."""
    return source_closure("attnbench.stages.__main__") | source_closure(module)


def test_every_stage_runs_through_the_dispatcher():
    for dvc_file, stage in STAGES:
        command = stage_body(dvc_file, stage)["cmd"]
        assert command.startswith(f"python -m attnbench.stages {STAGES[dvc_file, stage].rsplit('.', 1)[1]}")


@pytest.mark.parametrize(("dvc_file", "stage"), STAGES)
def test_deps_cover_every_imported_source_file(dvc_file, stage):
    deps = declared_source_deps(dvc_file, stage)
    missing = sorted(p for p in stage_closure(STAGES[dvc_file, stage]) if not covered(p, deps))
    assert missing == [], f"{stage} imports files its dvc.yaml deps omit"


@pytest.mark.parametrize(("dvc_file", "stage"), STAGES)
def test_deps_name_no_file_the_stage_does_not_import(dvc_file, stage):
    closure = stage_closure(STAGES[dvc_file, stage])
    deps = declared_source_deps(dvc_file, stage)
    assert "src/attnbench" not in deps
    unused = [dep for dep in deps if not any(covered(p, [dep]) for p in closure)]
    assert unused == []


def test_the_closure_follows_function_level_imports():
    """Planted-bug guard for the helper itself: config.py imports the attention registry
    inside a validator, and train imports the models package."""
    assert "src/attnbench/attention/registry.py" in source_closure("attnbench.config")
    assert "src/attnbench/models/transformer.py" in source_closure("attnbench.stages.train")
    assert "src/attnbench/report/markdown.py" not in source_closure("attnbench.stages.train")


@pytest.mark.parametrize("module", sorted(set(STAGES.values())))
def test_no_stage_imports_a_command_line_module(module):
    """Stages import libraries only: the benchmark, the canary's and GPU check's command
    lines, the throwaway workspaces, the local Dask cluster and `make ui` are entry points."""
    closure = source_closure(module)
    entry_points = ("src/attnbench/bench/", "src/attnbench/platform/canary.py",
                    "src/attnbench/platform/device_check.py", "src/attnbench/execution/workspace.py",
                    "src/attnbench/execution/local_cluster.py", "src/attnbench/tracking/browse.py")
    assert not [p for p in closure if p.startswith(entry_points)]
    assert [p for p in closure if p.startswith("src/attnbench/stages/") and not
            p.endswith("__init__.py")] == [module_file(module).relative_to(REPO).as_posix()]
