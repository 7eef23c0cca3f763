"""One module per DVC stage: a pure function that does the work, a main() for file I/O."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from attnbench.errors import AttnbenchError, ConfigError


@contextlib.contextmanager
def report_errors() -> Iterator[None]:
    """Known errors print one readable message (`error: ...`) and exit 1. Under `dvc exp
    run` (DVC_EXP_NAME set), a params error also says how to undo the value that `-S` wrote
    into params.yaml, since DVC leaves it there when the run fails."""
    try:
        yield
    except AttnbenchError as exc:
        message = str(exc)
        if isinstance(exc, ConfigError) and os.environ.get("DVC_EXP_NAME"):
            message += ("; `dvc exp run` left this value in params.yaml: `git checkout params.yaml` "
                        "restores the committed one")
        for line in message.splitlines():
            print(f"error: {line}", file=sys.stderr)
        sys.exit(1)


def stage_entry(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser):
    """Wrap a stage's main in report_errors."""

    def run(argv: list[str] | None = None) -> None:
        args = parser.parse_args(argv)
        with report_errors():
            main(args)

    return run


def base_parser(description: str, per_variant: bool = False) -> argparse.ArgumentParser:
    """--params; with per_variant, also the --variant of a per-variant stage and an optional
    --task that narrows it to one task (default: every task of the study)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="study parameters (params.yaml)")
    if per_variant:
        parser.add_argument("--variant", required=True)
        parser.add_argument("--task", help="one task only (default: every task in study.tasks)")
    return parser


def check_in_study(params, args: argparse.Namespace) -> None:
    """A --task or --variant (where given) outside study.tasks / study.variants is a config error."""
    task, variant = getattr(args, "task", None), getattr(args, "variant", None)
    if task is not None and task not in params.study.tasks:
        raise ConfigError(f"task {task!r} is not in study.tasks {params.study.tasks} ({args.params})")
    if variant is not None and variant not in params.study.variants:
        raise ConfigError(f"variant {variant!r} is not in study.variants ({args.params})")
