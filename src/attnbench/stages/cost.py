"""Stage `benchmark` (pipelines/cost/dvc.yaml): training cost of every variant against length.

Measures one training step's time and peak memory at each length (cost.measure), fits the
log-log slope (cost ~ n^k) and sets it beside the complexity of the variant's mechanism.
The numbers depend on the machine: this stage has its own dvc.yaml and dvc.lock, outside
the byte-for-byte promise of the accuracy pipeline.
"""

from __future__ import annotations

import argparse

from attnbench import paths
from attnbench.config import load_params
from attnbench.cost import curves as cost
from attnbench.execution import runtime
from attnbench.report import cost as cost_page
from attnbench.stages import base_parser, stage_entry
from attnbench.tracking.artifacts import write_json


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    runtime.setup_process(params.runtime.threads, params.runtime.accelerator)
    c = params.cost
    measured = cost.measure(params, params.study.variants, c.lengths, c.batch_size, c.rounds,
                            device=runtime.device(params.runtime.accelerator),
                            max_length=c.max_length, encoder_only=c.encoder_only)
    for name, rows in measured.items():
        print(f"cost {name}: " + ", ".join(f"L={r['length']} {r['step_s'] * 1e3:.1f} ms" for r in rows))
    summary = cost.summarise(params, measured)
    write_json(paths.COST_JSON, {"measured": measured, "summary": summary})
    paths.COST_MD.write_text(cost_page.render(params, measured, summary))
    cost_page.figure(measured, paths.COST_FIGURE)


parser = base_parser(__doc__)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
