"""The interface every attention mechanism implements, and the masked softmax they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from attnbench.attention.kinds import Placement
from attnbench.attention.mechanism import GLOBAL, Mechanism


@dataclass
class AttentionOutput:
    context: Tensor  # (B, Tq, H) weighted sum of the keys
    weights: Tensor | None  # (B, Tq, S) exactly 0 on padding; rows sum to 1 (local-p: see
    # local.py); None from local attention in training, which does not form them
    log_prob: Tensor | None = None  # (B, Tq) log-probability of the sampled position, else None
    entropy: Tensor | None = None  # (B, Tq) entropy of the distribution sampled from, else None


def masked_softmax(scores: Tensor, allowed: Tensor) -> Tensor:
    """Softmax over the last axis where `allowed` is True; other entries get exactly 0.

    scores (B, Tq, S); allowed broadcastable to it, True = may attend (e.g. keep_mask[:, None, :]).
    Every row must allow at least one position.
    """
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)  # (B, Tq, S)


class Attention(nn.Module, ABC):
    """Scores a query against every key, normalises over real keys, returns the context.

    `project_keys` holds the work that depends on the keys alone; the decoder calls it
    once per batch and passes the result to every step as `projected_keys`.

    `placement` says where the decoder uses it: BEFORE_STEP computes c_i from the
    previous state s_{i-1} and feeds it into the RNN step (Bahdanau et al. 2015);
    AFTER_STEP computes c_t from the new state h_t and combines them,
    h~_t = tanh(W_c [c_t; h_t]) (Luong et al. 2015).

    `mechanism` is the family the class belongs to (attention/mechanism.py).
    """

    placement: ClassVar[Placement]
    mechanism: ClassVar[Mechanism] = GLOBAL

    def project_keys(self, keys: Tensor) -> Tensor:
        return keys  # (B, S, H)

    @abstractmethod
    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """query (B, Tq, Hq), projected_keys (B, S, *) -> scores (B, Tq, S)."""

    def sequence_state(self, keep_mask: Tensor) -> Tensor | None:
        """Random choices fixed for a whole output sequence (drawn once per batch); None here."""
        return None

    def forward(
        self,
        query: Tensor,  # (B, Tq, Hq)
        keys: Tensor,  # (B, S, H)
        keep_mask: Tensor,  # (B, S) bool, True = real token
        positions: Tensor | None = None,  # (B, Tq) decoder step index, for local-m
        projected_keys: Tensor | None = None,
        sequence_state: Tensor | None = None,
    ) -> AttentionOutput:
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = self.score(query, projected_keys)  # (B, Tq, S)
        weights = masked_softmax(scores, keep_mask[:, None, :])  # (B, Tq, S)
        return AttentionOutput(context=weights @ keys, weights=weights)  # context (B, Tq, H)
