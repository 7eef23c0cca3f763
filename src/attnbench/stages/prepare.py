"""Stage `prepare@{task}`: seeded generation of the train/val/test files of one task."""

from __future__ import annotations

import argparse
from attnbench.config import DataConfig, load_params
from attnbench import paths
from attnbench.data import write_examples
from attnbench.errors import ConfigError
from attnbench.stages import base_parser, check_in_study, stage_entry
from attnbench.tasks import Example, generate_splits


def prepare(task: str, data: DataConfig) -> dict[str, list[Example]]:
    try:
        return generate_splits(
            task,
            vocab_size=data.vocab_size,
            train_lengths=(data.train_lengths.min, data.train_lengths.max),
            test_max_length=data.test_max_length,
            n_train=data.n_train,
            n_val=data.n_val,
            n_test_per_length=data.n_test_per_length,
            seed=data.seed,
        )
    except ValueError as exc:
        raise ConfigError(f"data: {exc}") from None


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    check_in_study(params, args)
    splits = prepare(args.task, params.data)
    out_dir = paths.data_dir(args.task)
    for split in paths.SPLITS:
        write_examples(paths.split_file(out_dir, split), splits[split])
    sizes = ", ".join(f"{split} {len(splits[split])}" for split in paths.SPLITS)
    print(f"prepare {args.task}: {sizes} -> {out_dir}")


parser = base_parser(__doc__)
parser.add_argument("--task", required=True)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
