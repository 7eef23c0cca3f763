"""The study's tasks, and pure, seeded generation of the synthetic ones.

Token ids: PAD=0, SOS=1, EOS=2, then the content symbols from 3 on. A task's `Vocabulary`
lists its symbols: the synthetic tasks (copy, reverse, sort) share `vocab_size` symbols
between source and target; `g2p` (g2p.py) reads letters and phonemes from CMUdict.
A source is a tuple of ids; its target is task(source) followed by EOS.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PAD, SOS, EOS = 0, 1, 2
FIRST_SYMBOL = 3

Sequence = tuple[int, ...]


def copy(source: Sequence) -> Sequence:
    """Monotonic alignment: output i looks at input i."""
    return tuple(source)


def reverse(source: Sequence) -> Sequence:
    """Anti-diagonal alignment: output i looks at input n-1-i."""
    return tuple(reversed(source))


def sort(source: Sequence) -> Sequence:
    """Content-based alignment: output i looks wherever the i-th smallest symbol is."""
    return tuple(sorted(source))


TASKS: dict[str, Callable[[Sequence], Sequence]] = {"copy": copy, "reverse": reverse, "sort": sort}
G2P = "g2p"  # grapheme-to-phoneme conversion on CMUdict (g2p.py): real words, not generated
KNOWN_TASKS = (*TASKS, G2P)


def vocab_total(vocab_size: int) -> int:
    """Number of embedding rows: the special tokens plus the content symbols."""
    return FIRST_SYMBOL + vocab_size


@dataclass(frozen=True)
class Vocabulary:
    """A task's content symbols, in id order from FIRST_SYMBOL: the source's and the
    target's. Equal lists mean one shared embedding table (the synthetic tasks)."""

    source: tuple[str, ...]
    target: tuple[str, ...]

    @property
    def shared(self) -> bool:
        return self.source == self.target

    @property
    def source_size(self) -> int:
        """Source ids, the special tokens included."""
        return FIRST_SYMBOL + len(self.source)

    @property
    def target_size(self) -> int:
        """Target ids (the output layer's width), the special tokens included."""
        return FIRST_SYMBOL + len(self.target)

    def source_ids(self, symbols) -> Sequence:
        return tuple(FIRST_SYMBOL + self.source.index(symbol) for symbol in symbols)

    def target_ids(self, symbols) -> Sequence:
        return tuple(FIRST_SYMBOL + self.target.index(symbol) for symbol in symbols)

    def source_symbols(self, ids) -> list[str]:
        return [_symbol(self.source, i) for i in ids]

    def target_symbols(self, ids) -> list[str]:
        return [_symbol(self.target, i) for i in ids]


SPECIAL_NAMES = {PAD: "<pad>", SOS: "<s>", EOS: "</s>"}


def _symbol(symbols: tuple[str, ...], token: int) -> str:
    return SPECIAL_NAMES.get(token) or symbols[token - FIRST_SYMBOL]


def synthetic_vocabulary(vocab_size: int) -> Vocabulary:
    """The synthetic tasks' symbols, named by their ids, shared by source and target."""
    symbols = tuple(str(FIRST_SYMBOL + i) for i in range(vocab_size))
    return Vocabulary(symbols, symbols)


@dataclass(frozen=True)
class Example:
    split: str  # train | val | in_distribution | extrapolation
    source: Sequence
    target: Sequence  # ends with EOS

    @property
    def length(self) -> int:
        return len(self.source)


def make_example(task: str, split: str, source: Sequence) -> Example:
    return Example(split, tuple(source), TASKS[task](source) + (EOS,))


def _random_source(rng: random.Random, length: int, vocab_size: int) -> Sequence:
    return tuple(rng.randrange(FIRST_SYMBOL, FIRST_SYMBOL + vocab_size) for _ in range(length))


def fresh_source(
    rng: random.Random, length: int, vocab_size: int, exclude: set[Sequence], max_tries: int = 1000
) -> Sequence:
    """A random source of `length` symbols that is not in `exclude`."""
    for _ in range(max_tries):
        source = _random_source(rng, length, vocab_size)
        if source not in exclude:
            return source
    raise ValueError(
        f"cannot draw a new sequence of length {length} over {vocab_size} symbols: "
        "too few distinct sequences; raise data.vocab_size or data.train_lengths.min"
    )


def unique_sources(
    rng: random.Random, lengths: Iterable[int], vocab_size: int, seen: set[Sequence]
) -> list[Sequence]:
    """One new source per requested length, each added to `seen` so none repeats."""
    sources = []
    for length in lengths:
        sources.append(fresh_source(rng, length, vocab_size, seen))
        seen.add(sources[-1])
    return sources


def generate_splits(
    task: str,
    vocab_size: int,
    train_lengths: tuple[int, int],
    test_max_length: int,
    n_train: int,
    n_val: int,
    n_test_per_length: int,
    seed: int,
) -> dict[str, list[Example]]:
    """Train/val with lengths uniform in the training range; test with a fixed number per
    length over the training range and beyond it (extrapolation). No sequence repeats
    across splits, so test accuracy is never memorisation."""
    rng = random.Random(f"{task}:{seed}")  # str seeds hash deterministically (sha512)
    low, high = train_lengths
    seen: set[Sequence] = set()
    test_lengths = [n for n in range(low, test_max_length + 1) for _ in range(n_test_per_length)]
    # Test first: the short lengths have the fewest distinct sequences to spare.
    test_sources = unique_sources(rng, test_lengths, vocab_size, seen)
    val_lengths = [rng.randint(low, high) for _ in range(n_val)]
    val_sources = unique_sources(rng, val_lengths, vocab_size, seen)
    # Train sequences may repeat among themselves, never a val or test sequence.
    train_sources = [
        fresh_source(rng, rng.randint(low, high), vocab_size, seen) for _ in range(n_train)
    ]
    return {
        "train": [make_example(task, "train", s) for s in train_sources],
        "val": [make_example(task, "val", s) for s in val_sources],
        "test": [
            make_example(task, "in_distribution" if len(s) <= high else "extrapolation", s)
            for s in test_sources
        ],
    }


def draw_splits(task: str, data) -> tuple[dict[str, list[Example]], Vocabulary]:
    """Every split of one task at `data` (a config.DataConfig: the task's own, Params.for_task)
    and its vocabulary; a ConfigError if the sizes cannot be drawn (prepare writes them,
    validate draws them dry first)."""
    from attnbench.errors import ConfigError

    lengths = (data.train_lengths.min, data.train_lengths.max)
    sizes = dict(n_train=data.n_train, n_val=data.n_val, n_test_per_length=data.n_test_per_length,
                 seed=data.seed)
    try:
        if task == G2P:
            from attnbench.data import g2p

            return g2p.generate_splits(lengths, data.test_max_length, **sizes)
        splits = generate_splits(task, vocab_size=data.vocab_size, train_lengths=lengths,
                                 test_max_length=data.test_max_length, **sizes)
        return splits, synthetic_vocabulary(data.vocab_size)
    except ValueError as exc:
        raise ConfigError(f"data of {task}: {exc}") from None
