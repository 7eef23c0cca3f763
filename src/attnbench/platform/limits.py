"""Can this machine hold and finish the study params.yaml asks for? Checked before any work.

Each check is a lower bound computed from the parameters, never a guess that could refuse
a study that fits:
- memory: every worker process holds its model's weights, gradients and Adam's two moments
  (16 bytes per parameter), and each stage holds its examples (8 bytes per token at least);
- disk: every example is written as text, two characters per token at least;
- time: a training step costs at least 6 floating-point operations per parameter and target
  token (forward 2, backward 4), and no core here computes more than PEAK_FLOPS_PER_CORE.
The counts use the largest variant of the study. Nothing here imports torch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from attnbench.config import Params, TransformerVariant
from attnbench.data.tasks import vocab_total
from attnbench.errors import ConfigError

BYTES_PER_TRAINED_PARAMETER = 16  # float32 weight, gradient, Adam's exp_avg and exp_avg_sq
PEAK_FLOPS_PER_CORE = 1e11  # above any x86-64 core's float32 peak at one thread (AVX2 FMA)
LONGEST_RUN_S = 30 * 24 * 3600  # a study that cannot finish within 30 days is refused


def parameter_count(params: Params, name: str) -> int:
    """A lower bound on the variant's trainable parameters, from the layers' formulas."""
    variant, e, h = params.variants[name], params.model.embed_dim, params.model.hidden_dim
    v = vocab_total(params.data.vocab_size)  # a lower bound: g2p's larger tables are not counted
    if isinstance(variant, TransformerVariant):
        attention = 4 * h * h + 4 * h  # W_q, W_k, W_v, W_o with biases
        feed_forward = 2 * h * variant.ff_dim + variant.ff_dim + h
        norms = 2 * h
        encoder = variant.layers * (attention + feed_forward + 2 * norms)
        decoder = variant.layers * (2 * attention + feed_forward + 3 * norms)
        return v * h + encoder + decoder + h * v + v
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[variant.cell]
    recurrent = 2 * gates * h * (e + h + 2)  # encoder + decoder, without the context fed in
    return v * e + recurrent + h * v + v  # embedding, RNNs, output layer (attention not counted)


def test_tokens(params: Params) -> int:
    d = params.data
    lengths = range(d.train_lengths.min, d.test_max_length + 1)
    per_length = sum(2 * n for n in lengths) * d.n_test_per_length  # source + target
    mean_train = (d.train_lengths.min + d.train_lengths.max) / 2
    return int(per_length + (d.n_train + d.n_val) * 2 * mean_train)


def physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(params: Params, root: Path = Path(".")) -> None:
    """ConfigError, with the estimate, if the study cannot fit or finish on this machine.
    Each task counts with its own settings (per_task)."""
    tasks = [params.for_task(task) for task in params.study.tasks]
    largest, n_params = max(((name, parameter_count(p, name)) for p in tasks for name in params.study.variants),
                            key=lambda pair: pair[1])
    workers = params.runtime.workers or len(os.sched_getaffinity(0))
    workers = min(workers, len(params.study.tasks) * len(params.study.seeds))  # jobs per stage
    memory, tokens = physical_memory(), max(test_tokens(p) for p in tasks)
    need = workers * n_params * BYTES_PER_TRAINED_PARAMETER + 8 * tokens
    if need > memory:
        raise ConfigError(
            f"params.yaml: the study needs at least {need / 2**30:,.1f} GiB of memory "
            f"({workers} workers x {n_params:,} parameters of {largest} x "
            f"{BYTES_PER_TRAINED_PARAMETER} B, plus {tokens:,} tokens of data); "
            f"this machine has {memory / 2**30:.1f} GiB (model, data or runtime.workers too large)")
    disk = shutil.disk_usage(root).free
    if 2 * tokens * len(params.study.tasks) > disk:
        raise ConfigError(
            f"params.yaml: data needs at least {2 * tokens * len(params.study.tasks) / 2**30:,.1f} GiB "
            f"of disk ({tokens:,} tokens per task); {disk / 2**30:.1f} GiB free (data sizes too large)")
    flops = sum(6 * parameter_count(p, name) * p.train.batch_size * (p.data.train_lengths.min + 1)
                * p.train.max_steps for p in tasks for name in params.study.variants) * len(params.study.seeds)
    seconds = flops / (PEAK_FLOPS_PER_CORE * len(os.sched_getaffinity(0)))
    if seconds > LONGEST_RUN_S:
        raise ConfigError(
            f"params.yaml: training would take at least {seconds / 86400:,.0f} days on this machine "
            f"({flops:.1e} floating-point operations at most "
            f"{PEAK_FLOPS_PER_CORE:.0e}/s per core); train.max_steps or the model too large")
