"""`python -m attnbench.bench`: run the benchmark's sections and print their tables."""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from attnbench.bench import LONG
from attnbench.bench.cluster import cluster_section
from attnbench.bench.decoders import decoder_section
from attnbench.bench.ensemble import ensemble_section
from attnbench.bench.fit_loop import lightning_section
from attnbench.bench.kv_cache import kv_cache_section
from attnbench.bench.luong import luong_section
from attnbench.bench.pinning import pinning_section
from attnbench.bench.sdpa import attention_section
from attnbench.bench.study import REPRO_LOG, study_section
from attnbench.bench.table import Report, render
from attnbench.bench.throughput import throughput_section
from attnbench.bench.windowed import windowed_section
from attnbench.config import load_params


def header(params_path: str, batch_size: int) -> str:
    import pytorch_lightning as pl

    return "\n".join([
        "attnbench speed benchmarks",
        f"torch {torch.__version__}, pytorch_lightning {pl.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})",
        f"torch.set_num_threads(1): the study trains single-threaded, and 2 threads spin-wait on a "
        f"2-core machine (threads now: {torch.get_num_threads()})",
        f"params: {params_path}; sections 1-2 batch {batch_size}; candidates alternate A, B, A, B after "
        f"a warm-up; med = median, min = minimum per call over the rounds",
    ])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml", help="study parameters (default params.yaml)")
    parser.add_argument("--quick", action="store_true", help="fewer lengths and rounds: a smoke check")
    parser.add_argument("--lengths", type=int, nargs="+",
                        help="source lengths of sections 1-2 (default 16 64 256; quick 16 64)")
    parser.add_argument("--attn-lengths", type=int, nargs="+",
                        help="sequence lengths of section 3 (default 64 256 512 1024; quick 64 256)")
    parser.add_argument("--sections", type=int, nargs="+", choices=range(1, 12),
                        default=list(range(1, 12)))
    parser.add_argument("--batch", type=int, default=32, help="batch size of sections 1-2 (default 32)")
    parser.add_argument("--rounds", type=int, help="timed rounds per comparison in sections 1-3 (default 7; quick 3)")
    parser.add_argument("--long-rounds", type=int,
                        help=f"timed rounds at sections 1-2 lengths >= {LONG} (default 3; quick 2)")
    parser.add_argument("--study-log", type=Path, default=REPRO_LOG,
                        help=f"section 6: log of a whole `make repro` (default {REPRO_LOG})")
    parser.add_argument("--fit-steps", type=int, help="optimiser steps per fit in section 4 (default 150)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    torch.set_num_threads(1)
    args = parse_args(argv)
    quick = args.quick
    lengths = args.lengths or ([16, 64] if quick else [16, 64, 256])
    attn_lengths = args.attn_lengths or ([64, 256] if quick else [64, 256, 512, 1024])
    rounds = args.rounds or (3 if quick else 7)
    long_rounds = args.long_rounds or (2 if quick else 3)
    fit_steps = args.fit_steps or (30 if quick else 150)
    fit_rounds = 2 if quick else 3
    min_round_s = 0.02  # fast calls repeat within a round so each sample spans >= 20 ms

    params = load_params(args.params)
    started = time.perf_counter()
    print(header(args.params, args.batch), flush=True)
    sections: dict[int, Callable[[], Report]] = {
        1: lambda: throughput_section(params, lengths, args.batch, rounds, long_rounds, min_round_s),
        2: lambda: luong_section(params, lengths, args.batch, rounds, long_rounds, min_round_s),
        3: lambda: attention_section(attn_lengths, rounds, min_round_s),
        4: lambda: lightning_section(params, ["bahdanau", "lstm"], fit_steps, fit_rounds),
        5: lambda: pinning_section(args.params, params.study.variants, params.data.train_lengths.max,
                                   params.train.batch_size, rounds, steps=10),
        6: lambda: study_section(args.params, "lstm",
                                 max_steps=60 if quick else 300, rounds=2 if quick else 3,
                                 study_log=args.study_log),
        7: lambda: decoder_section(params, ["bahdanau", "hard"], params.data.train_lengths.max,
                                   params.train.batch_size, rounds, min_round_s=0.0),
        8: lambda: ensemble_section(params, ["transformer", "lstm"], len(params.study.seeds),
                                    params.data.train_lengths.max, params.train.batch_size, rounds),
        9: lambda: kv_cache_section(params, ["transformer"],
                                    [params.data.test_max_length] if quick else [params.data.test_max_length, 256],
                                    params.data.n_test_per_length, rounds),
        10: lambda: windowed_section(params, ["local_m", "local_p", "transformer_local"],
                                     [16, 128] if quick else [16, 64, 128, 256],
                                     [params.cost.batch_size, params.train.batch_size],
                                     3 if quick else long_rounds, min_round_s),
        11: lambda: cluster_section(rounds=1 if quick else 2),
    }
    for number in sorted(set(args.sections)):
        section_start, load_before = time.perf_counter(), os.getloadavg()[0]
        report = sections[number]()
        print(f"\n{render(report)}\n  ({time.perf_counter() - section_start:.0f} s; 1-min load average "
              f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after)", flush=True)
    print(f"\nTotal wall time {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
