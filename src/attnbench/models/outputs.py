"""What every sequence-to-sequence model returns; decode.py and lit.py rely on these.

A model implements
    encode(src (B, S)) -> encoded          anything the decoder needs, built once per batch
    start(encoded) -> state                decoder state before the first step
    step(prev_tokens (B,), state, encoded) -> StepOutput       one free-running step
    forward(src (B, S), tgt_in (B, T)) -> Seq2SeqOutput       teacher forcing, all steps
and forward's logits must equal a loop of step() fed with tgt_in (tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass
class StepOutput:
    logits: Tensor  # (B, V)
    state: Any  # the model's decoder state after this step
    weights: Tensor | None  # (B, S) attention over the source at this step
    log_prob: Tensor | None = None  # (B,) log-probability of the sampled position (hard attention)
    entropy: Tensor | None = None  # (B,) entropy of the distribution sampled from (hard attention)


@dataclass
class Seq2SeqOutput:
    logits: Tensor  # (B, T, V)
    weights: Tensor | None  # (B, T, S) attention over the source
    log_prob: Tensor | None = None  # (B, T) log-probability of sampled positions (hard attention)
    entropy: Tensor | None = None  # (B, T) entropy of the sampled distributions (hard attention)
