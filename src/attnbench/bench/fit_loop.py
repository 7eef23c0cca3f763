"""Section 4: a whole Lightning fit against the same training written as a plain loop."""

from __future__ import annotations

import contextlib
import copy
import itertools
import tempfile
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from attnbench.bench.table import Report, ms, times, verdict
from attnbench.config import Params
from attnbench.cost.curves import build_variant
from attnbench.cost.timing import compare, ratio
from attnbench.data.datamodule import train_loader
from attnbench.data.tasks import Example, generate_splits
from attnbench.training.lit import Seq2SeqModule, build_trainer, quiet_lightning
from attnbench.training.objective import make_optimizer, train_step


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


def lightning_fit(template: nn.Module, params: Params, examples: list[Example], steps: int,
                  seed: int, workdir: str) -> nn.Module:
    """Train a copy of `template` for `steps` steps with Seq2SeqModule and the study's Trainer."""
    model = copy.deepcopy(template)
    build_trainer(params, workdir, max_steps=steps).fit(
        Seq2SeqModule(model, params.train), train_dataloaders=train_loader(
            examples, params.train.batch_size, seed))
    return model


def hand_fit(template: nn.Module, params: Params, examples: list[Example], steps: int,
             seed: int) -> nn.Module:
    """The same training as `lightning_fit` written as a plain loop: Adam, clipping, epochs."""
    model = copy.deepcopy(template).train()
    optimizer = make_optimizer(model.parameters(), params.train)
    loader = train_loader(examples, params.train.batch_size, seed)
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
    with tempfile.TemporaryDirectory() as workdir, quiet_lightning(), _deterministic():
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
