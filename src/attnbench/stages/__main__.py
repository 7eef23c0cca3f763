"""`python -m attnbench.stages <stage> [--params P] [--task T] [--variant V]`: the command
every dvc.yaml stage runs.

It checks params.yaml and the stage's --task/--variant before it imports the stage module,
which loads torch, Lightning or MLflow (seconds): bad input fails in a fraction of a
second, in one line naming the cause. Then the stage module runs with the same arguments.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from attnbench.config import load_params
from attnbench.platform.limits import check_fits
from attnbench.stages import check_in_study, report_errors

STAGES = ("validate", "prepare", "train", "evaluate", "report", "cost", "calibrate")


def preflight(argv: Sequence[str]) -> None:
    """Validate params.yaml, the machine's room for it (limits.py) and any --task/--variant
    against the study, importing nothing heavy."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--task")
    parser.add_argument("--variant")
    known, _ = parser.parse_known_args(argv)  # the stage's own parser checks the rest
    params = load_params(known.params)
    check_fits(params)
    check_in_study(params, known)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STAGES:
        print(f"usage: python -m attnbench.stages {{{','.join(STAGES)}}} [options]", file=sys.stderr)
        sys.exit(2)
    stage, options = argv[0], argv[1:]
    if "-h" not in options and "--help" not in options:
        with report_errors():
            preflight(options)
    importlib.import_module(f"attnbench.stages.{stage}").run(options)


if __name__ == "__main__":
    main()
