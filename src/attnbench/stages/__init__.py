"""One module per DVC stage: a pure function that does the work, a main() for file I/O."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from attnbench.errors import AttnbenchError


def stage_entry(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser):
    """Wrap a stage's main: known errors print one readable message and exit 1."""

    def run(argv: list[str] | None = None) -> None:
        args = parser.parse_args(argv)
        try:
            main(args)
        except AttnbenchError as exc:
            for line in str(exc).splitlines():
                print(f"error: {line}", file=sys.stderr)
            sys.exit(1)

    return run


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="study parameters (params.yaml)")
    return parser
