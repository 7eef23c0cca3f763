"""Speed benchmarks, measured side by side in one run: `python -m attnbench.bench`.

Sections (each prints one table and a headline with the measured ratio against its target):
  1. training throughput of every variant of params.yaml at several source lengths
  2. batched Luong decoder vs a step-by-step loop of the same model   (target >= 3x / >= 8x)
  3. fused scaled_dot_product_attention vs naive attention, fwd+bwd  (target >= 2x, L >= 256)
  4. Lightning `fit` vs a hand-written PyTorch loop, same arithmetic (target <= 1.10x)
  5. pinned numerics vs the host's own kernels, every variant (bench_pinning.py)

Rules: one intra-op thread; compared candidates run alternately (A, B, A, B, ...) after a
warm-up; each is reported as the median and the minimum time per call over the rounds.
Every number printed is measured in this run.

`compare`, `Timing`, `train_step` and `train_step_fn` print nothing and are meant for reuse.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import itertools
import logging
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from attnbench.bench_pinning import pinning_section
from attnbench.config import Params, load_params
from attnbench.data import Batch, collate
from attnbench.lit import make_optimizer, token_nll
from attnbench.models import build_model
from attnbench.tasks import FIRST_SYMBOL, PAD, Example, generate_splits, make_example, vocab_total

LONG = 256  # source lengths from here on get the fewer `long_rounds`


# ---- measurement -----------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Seconds per call of one candidate: median and minimum over the rounds."""

    median: float
    min: float
    samples: tuple[float, ...]  # one per round, in order
    calls_per_round: int = 1  # calls averaged into each sample

    @classmethod
    def from_samples(cls, samples: Sequence[float], calls_per_round: int = 1) -> Timing:
        return cls(statistics.median(samples), min(samples), tuple(samples), calls_per_round)


def ratio(slow: Timing, fast: Timing) -> tuple[float, float]:
    """(ratio of medians, ratio of mins): how many times longer `slow` takes."""
    return slow.median / fast.median, slow.min / fast.min


def _timed(fn: Callable[[], None], calls: int) -> float:
    """Mean seconds per call over `calls` back-to-back calls, with the garbage collector off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls
    finally:
        if was_enabled:
            gc.enable()


def compare(
    candidates: dict[str, Callable[[], None]],
    rounds: int = 5,
    warmup: int = 1,
    min_round_s: float = 0.0,
) -> dict[str, Timing]:
    """Time the candidates alternately: warm-up rounds, then `rounds` rounds of A, B, A, B, ...

    With min_round_s > 0 (and warmup >= 1) a candidate faster than that runs several calls
    per round, as many as the last warm-up call says fit into min_round_s; its sample is
    then the mean over those calls.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    calls = dict.fromkeys(candidates, 1)
    for _ in range(warmup):
        for name, fn in candidates.items():
            seconds = _timed(fn, 1)
            if min_round_s > 0:
                calls[name] = max(1, math.ceil(min_round_s / max(seconds, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            gc.collect()
            samples[name].append(_timed(fn, calls[name]))
    return {name: Timing.from_samples(samples[name], calls[name]) for name in candidates}


def peak_memory_bytes(fn: Callable[[], None]) -> int | None:
    """Peak bytes the torch CPU allocator held beyond its level at the start of one call.

    From the allocation events of torch.profiler (profile_memory=True), summed in time
    order. None if this torch build does not expose them.
    """
    from torch.profiler import ProfilerActivity, profile

    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    try:
        events = prof.profiler.kineto_results.events()
        allocations = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    except AttributeError:
        return None
    if not allocations:
        return None
    held = peak = 0
    for _, nbytes in allocations:
        held += nbytes
        peak = max(peak, held)
    return peak


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (kineto prints start/stop lines there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# ---- workloads -------------------------------------------------------------------------
def exact_length_batch(length: int, batch_size: int, vocab_size: int, seed: int = 0,
                       task: str = "copy") -> Batch:
    """A batch whose every source has exactly `length` symbols (so no padding anywhere):
    src (B, L), tgt_in and tgt_out (B, L + 1)."""
    rng = random.Random(f"bench:{task}:{length}:{seed}")
    examples = [
        make_example(task, "bench", tuple(rng.randrange(FIRST_SYMBOL, FIRST_SYMBOL + vocab_size)
                                          for _ in range(length)))
        for _ in range(batch_size)
    ]
    return collate(examples)


def sequence_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy over real target tokens, as Seq2SeqModule.training_step computes it.
    logits (B, T, V), target (B, T)."""
    return token_nll(logits, target).sum() / (target != PAD).sum()


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer,
               grad_clip: float = 0.0) -> Tensor:
    """One optimisation step under teacher forcing; returns the loss (detached)."""
    optimizer.zero_grad(set_to_none=True)
    out = model(batch.src, batch.tgt_in)  # logits (B, T, V)
    loss = sequence_loss(out.logits, batch.tgt_out)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def train_step_fn(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer,
                  grad_clip: float = 0.0) -> Callable[[], None]:
    """A no-argument callable doing one `train_step` on this batch, for `compare`."""

    def step() -> None:
        train_step(model, batch, optimizer, grad_clip)

    return step


def decoder_path(model: nn.Module) -> str:
    """'parallel' if teacher forcing runs every decoder position in one call, else 'loop'."""
    if not hasattr(model, "luong"):  # the Transformer: one causal pass
        return "parallel"
    parallel = model.attention is None or (model.luong and not model.input_feeding)
    return "parallel" if parallel else "loop"


def build_variant(params: Params, name: str, seed: int = 0) -> nn.Module:
    """The variant's network as the study builds it, with seeded initial weights."""
    torch.manual_seed(seed)
    return build_model(params.variant(name), params.model, vocab_total(params.data.vocab_size))


# ---- report ----------------------------------------------------------------------------
@dataclass
class Report:
    title: str
    headline: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


def ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def times(x: float) -> str:
    return f"{x:.2f}x"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width plain text: first column left-aligned, the others right-aligned."""
    filled = [headers, *(r for r in rows if r)]  # an empty row prints as a blank line
    widths = [max(len(str(r[i])) for r in filled) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) if r else "" for r in rows)])


def render(report: Report) -> str:
    lines = [report.title, "=" * len(report.title), report.headline, "",
             format_table(report.headers, report.rows)]
    lines += [""] + [f"  {note}" for note in report.notes] if report.notes else []
    return "\n".join(lines)


def verdict(value: float, target: float, at_least: bool) -> str:
    met = value >= target if at_least else value <= target
    return "MET" if met else "NOT MET"


# ---- section 1: training throughput ----------------------------------------------------
def throughput_section(params: Params, lengths: Sequence[int], batch_size: int, rounds: int,
                       long_rounds: int, min_round_s: float) -> Report:
    """ms per optimisation step of every variant, all variants alternated at each length."""
    names = list(params.variants)
    rows: list[list[str]] = []
    spans: list[str] = []
    for length in lengths:
        batch = exact_length_batch(length, batch_size, params.data.vocab_size)
        models = {name: build_variant(params, name).train() for name in names}
        steps = {
            name: train_step_fn(model, batch, make_optimizer(model.parameters(), params.train))
            for name, model in models.items()
        }
        result = compare(steps, rounds=long_rounds if length >= LONG else rounds, warmup=1,
                         min_round_s=min_round_s)
        tokens = batch.tgt_out.numel()  # B * (L + 1): every target token, EOS included
        base = result["lstm"] if "lstm" in result else None
        for name in names:
            t = result[name]
            rel = times(ratio(t, base)[0]) if base else "-"
            rows.append([name, str(length), decoder_path(models[name]), ms(t.median), ms(t.min),
                         f"{tokens / t.median:,.0f}", rel, str(len(t.samples))])
        rows.append([])
        slow = max(names, key=lambda n: result[n].median)
        fast = min(names, key=lambda n: result[n].median)
        spans.append(f"L={length}: {slow} {times(ratio(result[slow], result[fast])[0])} {fast}")
    return Report(
        title=f"1. Training throughput, batch {batch_size} (fwd + cross-entropy + bwd + Adam step)",
        headline="No target. Slowest vs fastest variant (ratio of medians): " + "; ".join(spans),
        headers=["variant", "L", "decoder", "ms/step med", "ms/step min", "target tok/s",
                 "vs lstm", "rounds"],
        rows=rows[:-1],
        notes=["L = source length; the decoder runs L + 1 steps (target + EOS); tok/s from the median.",
               "Models in train() mode; `hard` samples its attention, and its step here has the "
               "cross-entropy only (no REINFORCE term).",
               "'vs lstm' = this variant's median / lstm's median at the same length."],
    )


# ---- section 2: batched vs step-by-step Luong decoder ---------------------------------
LUONG_TARGETS = {16: 3.0, 64: 8.0}  # source length -> required speedup of the batched path


def luong_section(params: Params, lengths: Sequence[int], batch_size: int, rounds: int,
                  long_rounds: int, min_round_s: float, variant: str = "luong_general") -> Report:
    """Forward + backward of model(src, tgt_in) vs forward_stepwise on the same model and batch."""
    model = build_variant(params, variant).train()
    if decoder_path(model) != "parallel":
        raise ValueError(f"{variant}: forward already loops over steps; nothing to compare")
    rows, headline = [], []
    for length in lengths:
        batch = exact_length_batch(length, batch_size, params.data.vocab_size)
        with torch.no_grad():
            batched = model(batch.src, batch.tgt_in).logits  # (B, T, V)
            looped = model.forward_stepwise(model.encode(batch.src), batch.tgt_in).logits  # (B, T, V)
        torch.testing.assert_close(batched, looped, rtol=1e-4, atol=1e-5)
        max_diff = (batched - looped).abs().max().item()

        def run_batched(batch=batch) -> None:
            model.zero_grad(set_to_none=True)
            sequence_loss(model(batch.src, batch.tgt_in).logits, batch.tgt_out).backward()

        def run_loop(batch=batch) -> None:
            model.zero_grad(set_to_none=True)
            out = model.forward_stepwise(model.encode(batch.src), batch.tgt_in)
            sequence_loss(out.logits, batch.tgt_out).backward()

        result = compare({"batched": run_batched, "loop": run_loop},
                         rounds=long_rounds if length >= LONG else rounds, warmup=1,
                         min_round_s=min_round_s)
        med, low = ratio(result["loop"], result["batched"])
        target = LUONG_TARGETS.get(length)
        check = f">= {target:.0f}x {verdict(med, target, at_least=True)}" if target else "-"
        if target:
            headline.append(f"{times(med)} at L={length} (target {check})")
        rows.append([str(length), str(length + 1), ms(result["batched"].median), ms(result["batched"].min),
                     ms(result["loop"].median), ms(result["loop"].min), times(med), times(low),
                     f"{max_diff:.1e}", check])
    return Report(
        title=f"2. Batched Luong decoder vs step-by-step loop ({variant}, batch {batch_size}, fwd + bwd)",
        headline="Loop / batched (ratio of medians): " + ("; ".join(headline) or "no target length run"),
        headers=["L", "T", "batched med", "batched min", "loop med", "loop min", "speedup med",
                 "speedup min", "max |dlogit|", "target"],
        rows=rows,
        notes=["Times in ms per call. batched = model(src, tgt_in); "
               "loop = model.forward_stepwise(model.encode(src), tgt_in); same weights, same batch.",
               "Both logits were checked allclose (rtol 1e-4, atol 1e-5) before timing; "
               "the encoder runs in both candidates.",
               "Targets are stated for T = 16 and 64; here L = 16, 64 source tokens, T = L + 1 decoder steps."],
    )


# ---- section 3: SDPA vs naive attention -----------------------------------------------
def attention_section(lengths: Sequence[int], rounds: int, min_round_s: float, batch: int = 4,
                      heads: int = 4, head_dim: int = 16, target: float = 2.0) -> Report:
    """Causal self-attention forward + backward, fused kernel vs written-out softmax."""
    from attnbench.models.transformer import causal_allow_mask, naive_attention, sdpa_attention

    rows, judged, misses = [], [], 0
    for length in lengths:
        gen = torch.Generator().manual_seed(length)
        q, k, v = (torch.randn(batch, heads, length, head_dim, generator=gen, requires_grad=True)
                   for _ in range(3))  # (B, H, L, dh) each
        grad_out = torch.randn(batch, heads, length, head_dim, generator=gen)  # (B, H, L, dh)
        allow = causal_allow_mask(length)[:, None]  # (1, 1, L, L)

        def fwd_bwd(attend: Callable[[], Tensor]) -> Callable[[], None]:
            def call() -> None:
                for x in (q, k, v):
                    x.grad = None
                attend().backward(grad_out)

            return call

        candidates = {
            "sdpa": fwd_bwd(lambda: sdpa_attention(q, k, v, allow)),  # (B, H, L, dh)
            "naive": fwd_bwd(lambda: naive_attention(q, k, v, allow)[0]),  # (B, H, L, dh)
        }
        grads = {}
        for name, call in candidates.items():
            call()
            grads[name] = [x.grad.clone() for x in (q, k, v)]
        with torch.no_grad():
            fused, written = sdpa_attention(q, k, v, allow), naive_attention(q, k, v, allow)[0]
        torch.testing.assert_close(fused, written, rtol=1e-4, atol=1e-5)
        for g_fused, g_written in zip(grads["sdpa"], grads["naive"], strict=True):
            torch.testing.assert_close(g_fused, g_written, rtol=1e-4, atol=1e-4)
        max_diff = (fused - written).abs().max().item()

        memory = {name: peak_memory_bytes(call) for name, call in candidates.items()}
        result = compare(candidates, rounds=rounds, warmup=1, min_round_s=min_round_s)
        med, low = ratio(result["naive"], result["sdpa"])
        check = f">= {target:.0f}x {verdict(med, target, at_least=True)}" if length >= LONG else "-"
        if length >= LONG:
            judged.append(f"L={length} {times(med)}")
            misses += med < target
        mem = [f"{memory[n] / 2**20:.1f}" if memory[n] is not None else "n/a" for n in ("sdpa", "naive")]
        rows.append([str(length), ms(result["sdpa"].median), ms(result["sdpa"].min),
                     ms(result["naive"].median), ms(result["naive"].min), times(med), times(low),
                     *mem, f"{max_diff:.1e}", check])
    state = "MET" if not misses else "NOT MET"
    detail = "; ".join(judged) or "no length >= 256 run"
    return Report(
        title=f"3. SDPA vs naive attention, causal self-attention fwd + bwd "
              f"(B={batch}, heads={heads}, dh={head_dim})",
        headline=f"Naive / SDPA (ratio of medians), target >= {target:.0f}x at L >= {LONG}: {state} ({detail})",
        headers=["L", "sdpa med", "sdpa min", "naive med", "naive min", "speedup med", "speedup min",
                 "sdpa peak MiB", "naive peak MiB", "max |dout|", "target"],
        rows=rows,
        notes=["Times in ms per call. Outputs and input gradients checked allclose before timing.",
               "Peak MiB: most memory the torch CPU allocator held above its starting level during one "
               "fwd + bwd call (torch.profiler allocation events, summed in time order); includes the "
               "three input gradients (3 x B*H*L*dh*4 bytes).",
               "The mask is a boolean (1, 1, L, L) tensor, as the model passes it (not is_causal=True)."],
    )


# ---- section 4: Lightning vs a hand-written loop --------------------------------------
@contextlib.contextmanager
def _lightning_quiet() -> Iterator[None]:
    """Lightning's info lines and its warnings about workers off, restored afterwards."""
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch",
                                                "lightning_fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")  # limit_val_batches=0 on purpose
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """torch.use_deterministic_algorithms(True) for both sides, as Trainer(deterministic=True)
    sets it process-wide; the previous setting is restored on exit."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def _loader(examples: list[Example], batch_size: int, seed: int):
    """The study's training DataLoader (data.SeqDataModule.train_dataloader) over `examples`."""
    from torch.utils.data import DataLoader

    return DataLoader(examples, batch_size=batch_size, shuffle=True, drop_last=True,
                      collate_fn=collate, generator=torch.Generator().manual_seed(seed))


def lightning_fit(template: nn.Module, params: Params, examples: list[Example], steps: int,
                  seed: int, workdir: str) -> nn.Module:
    """Train a copy of `template` for `steps` steps with Seq2SeqModule and pl.Trainer."""
    import pytorch_lightning as pl

    from attnbench.lit import Seq2SeqModule

    model = copy.deepcopy(template)
    trainer = pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, gradient_clip_val=params.train.grad_clip or None,
                         deterministic=True, accelerator="cpu", devices=1, default_root_dir=workdir)
    trainer.fit(Seq2SeqModule(model, params.train), train_dataloaders=_loader(
        examples, params.train.batch_size, seed))
    return model


def hand_fit(template: nn.Module, params: Params, examples: list[Example], steps: int,
             seed: int) -> nn.Module:
    """The same training as `lightning_fit` written as a plain loop: Adam, clipping, epochs."""
    model = copy.deepcopy(template).train()
    optimizer = make_optimizer(model.parameters(), params.train)
    loader = _loader(examples, params.train.batch_size, seed)
    done = 0
    while done < steps:
        # len(loader) batches per epoch, as Lightning takes them: running the iterator dry would
        # make RandomSampler draw one more permutation and shift every later epoch's order.
        for batch in itertools.islice(loader, min(len(loader), steps - done)):
            train_step(model, batch, optimizer, params.train.grad_clip)
            done += 1
    return model


def max_weight_diff(a: nn.Module, b: nn.Module) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a.state_dict().values(),
                                                          b.state_dict().values(), strict=True))


def lightning_section(params: Params, variants: Sequence[str], steps: int, rounds: int,
                      target: float = 1.10, seed: int = 0) -> Report:
    """Whole fits, alternated: Lightning `fit` vs the hand loop, same model, data and steps."""
    if params.train.optimizer != "adam":
        raise ValueError("the hand loop implements Adam only")
    d = params.data
    examples = generate_splits("copy", d.vocab_size, (d.train_lengths.min, d.train_lengths.max),
                               d.test_max_length, d.n_train, d.n_val, d.n_test_per_length,
                               d.seed)["train"]
    rows, parts, misses = [], [], 0
    with tempfile.TemporaryDirectory() as workdir, _lightning_quiet(), _deterministic():
        for name in variants:
            template = build_variant(params, name, seed)
            trained: dict[str, nn.Module] = {}

            def run_lightning(template=template, trained=trained) -> None:
                trained["lightning"] = lightning_fit(template, params, examples, steps, seed, workdir)

            def run_hand(template=template, trained=trained) -> None:
                trained["hand"] = hand_fit(template, params, examples, steps, seed)

            result = compare({"lightning": run_lightning, "hand": run_hand}, rounds=rounds, warmup=1)
            med, low = ratio(result["lightning"], result["hand"])
            diff = max_weight_diff(trained["lightning"], trained["hand"])
            check = f"<= {target:.2f}x {verdict(med, target, at_least=False)}"
            misses += med > target
            parts.append(f"{name} {times(med)}")
            rows.append([name, f"{result['lightning'].median:.2f}", f"{result['lightning'].min:.2f}",
                         f"{result['hand'].median:.2f}", f"{result['hand'].min:.2f}",
                         ms(result["lightning"].median / steps), ms(result["hand"].median / steps),
                         times(med), times(low), "identical" if diff == 0 else f"{diff:.1e}", check])
    state = "MET" if not misses else "NOT MET"
    return Report(
        title=f"4. Lightning fit vs hand-written loop ({steps} steps, batch {params.train.batch_size}, "
              f"Adam lr {params.train.lr:g}, clip {params.train.grad_clip:g})",
        headline=f"Lightning / hand (ratio of medians), target <= {target:.2f}x: {state} ({'; '.join(parts)})",
        headers=["variant", "lightning s med", "lightning s min", "hand s med", "hand s min",
                 "lightning ms/step", "hand ms/step", "ratio med", "ratio min", "final weights", "target"],
        rows=rows,
        notes=[f"Times in seconds per whole fit ({rounds} rounds after 1 warm-up fit each); ms/step = "
               "median fit / steps. Each fit copies the same initial weights and draws batches "
               "from a DataLoader with the same seeded generator.",
               f"Data: {len(examples)} copy-task training examples, lengths "
               f"{d.train_lengths.min}..{d.train_lengths.max} (params.yaml data section).",
               "Both sides run under torch.use_deterministic_algorithms(True), which "
               "Trainer(deterministic=True) switches on process-wide.",
               "Lightning includes Trainer construction, Seq2SeqModule's logging and isfinite check; "
               "'final weights' compares the two fits of the last round."],
    )


# ---- command line ----------------------------------------------------------------------
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
    parser.add_argument("--sections", type=int, nargs="+", choices=[1, 2, 3, 4, 5], default=[1, 2, 3, 4, 5])
    parser.add_argument("--batch", type=int, default=32, help="batch size of sections 1-2 (default 32)")
    parser.add_argument("--rounds", type=int, help="timed rounds per comparison in sections 1-3 (default 7; quick 3)")
    parser.add_argument("--long-rounds", type=int,
                        help=f"timed rounds at sections 1-2 lengths >= {LONG} (default 3; quick 2)")
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
    }
    for number in sorted(set(args.sections)):
        section_start, load_before = time.perf_counter(), os.getloadavg()[0]
        report = sections[number]()
        print(f"\n{render(report)}\n  ({time.perf_counter() - section_start:.0f} s; 1-min load average "
              f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after)", flush=True)
    print(f"\nTotal wall time {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
