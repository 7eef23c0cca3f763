"""Stage `validate`: check params.yaml whole before any stage that could lose outputs runs.

DVC deletes a stage's outputs before it runs the stage's command, so a typo that the stage
itself rejects has already cost them (and `reports/` JSON is not in DVC's cache). Every
stage of the study depends on this stage's marker file, so DVC runs this one first and
stops at its error with every output in place. The marker's content never changes and DVC
keeps it (persist), so passing reruns nothing downstream.
"""

from __future__ import annotations

import argparse

from attnbench import paths
from attnbench.config import load_params
from attnbench.stages import base_parser, stage_entry

MARKER_TEXT = "params.yaml passed `python -m attnbench.stages validate`\n"


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    marker = paths.PARAMS_CHECKED
    if not marker.is_file() or marker.read_text() != MARKER_TEXT:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(MARKER_TEXT)
    print(f"validate {args.params}: {len(params.study.tasks)} tasks x {len(params.study.variants)} "
          f"variants x {len(params.study.seeds)} seeds")


parser = base_parser(__doc__)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
