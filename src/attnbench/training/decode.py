"""Greedy, free-running decoding (no teacher forcing) and its scoring."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnbench.data.tasks import EOS, PAD, SOS


@dataclass
class Decoded:
    tokens: Tensor  # (B, T) predicted ids; PAD after the first EOS
    weights: Tensor | None  # (B, T, S) attention weights of each step


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, max_len: int) -> Decoded:
    """Feed the model its own argmax at every step, up to max_len steps or EOS everywhere."""
    batch = src.size(0)
    encoded = model.encode(src)
    state = model.start(encoded)
    prev = torch.full((batch,), SOS, dtype=torch.long, device=src.device)  # (B,)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)  # (B,)
    tokens, weights = [], []
    for _ in range(max_len):
        step = model.step(prev, state, encoded)
        state = step.state
        prev = step.logits.argmax(dim=-1).masked_fill(finished, PAD)  # (B,)
        tokens.append(prev)
        if step.weights is not None:
            weights.append(step.weights)
        finished |= prev == EOS
        if bool(finished.all()):
            break
    out = torch.full((batch, max_len), PAD, dtype=torch.long, device=src.device)
    out[:, : len(tokens)] = torch.stack(tokens, dim=1)
    return Decoded(out, torch.stack(weights, dim=1) if weights else None)


@dataclass
class Scores:
    seq_correct: Tensor  # (B,) bool: the whole output, EOS included, equals the target
    tok_correct: Tensor  # (B,) int: target positions (EOS included) predicted right
    tok_total: Tensor  # (B,) int: target length including EOS
    edits: Tensor  # (B,) int: Levenshtein distance of the output to the target, EOS excluded
    ref_total: Tensor  # (B,) int: target length without EOS (PER's denominator)


def symbols_before_eos(row: Tensor) -> list[int]:
    """The ids a decoder emitted before its first EOS (all of them if it never stopped)."""
    ids = row.tolist()
    return ids[: ids.index(EOS)] if EOS in ids else [i for i in ids if i != PAD]


def edit_distances(pred: Tensor, target: Tensor) -> Tensor:
    """(B,) Levenshtein distance (insertions, deletions, substitutions, each 1) between each
    predicted and target sequence, both cut at their first EOS: the numerator of the
    phoneme error rate, PER = sum of distances / sum of reference lengths."""
    from rapidfuzz.distance import Levenshtein

    return torch.tensor([Levenshtein.distance(symbols_before_eos(p), symbols_before_eos(t))
                         for p, t in zip(pred, target)], dtype=torch.long)


def score(pred: Tensor, target: Tensor) -> Scores:
    """pred (B, Tp), target (B, T), both PAD after their first EOS.

    Exact match compares the whole sequences padded to a common length, so a prediction
    that stops early, runs past the target's EOS, or never stops is wrong.
    """
    steps = max(pred.size(1), target.size(1))
    pred = nn.functional.pad(pred, (0, steps - pred.size(1)), value=PAD)  # (B, L)
    target = nn.functional.pad(target, (0, steps - target.size(1)), value=PAD)  # (B, L)
    real = target != PAD  # (B, L)
    return Scores(
        seq_correct=(pred == target).all(dim=1),
        tok_correct=((pred == target) & real).sum(dim=1),
        tok_total=real.sum(dim=1),
        edits=edit_distances(pred, target),
        ref_total=(real & (target != EOS)).sum(dim=1),
    )
