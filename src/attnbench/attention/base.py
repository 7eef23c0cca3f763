"""The interface every attention mechanism implements, and the masked softmax they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class AttentionOutput:
    context: Tensor  # (B, Tq, H) weighted sum of the keys
    weights: Tensor  # (B, Tq, S) each row sums to 1; exactly 0 on padding
    log_prob: Tensor | None = None  # (B, Tq) for sampled mechanisms, else None


def masked_softmax(scores: Tensor, keep_mask: Tensor) -> Tensor:
    """Softmax over the last axis where keep_mask is True; masked entries get exactly 0.

    scores (B, Tq, S); keep_mask (B, S) bool, True = real token. Every row must keep at
    least one position (sources are never empty).
    """
    scores = scores.masked_fill(~keep_mask[:, None, :], float("-inf"))  # (B, Tq, S)
    return torch.softmax(scores, dim=-1)


class Attention(nn.Module, ABC):
    """Scores a query against every key, normalises over real keys, returns the context.

    `project_keys` holds the work that depends on the keys alone; the decoder calls it
    once per batch and passes the result to every step as `projected_keys`.
    """

    def project_keys(self, keys: Tensor) -> Tensor:
        return keys  # (B, S, H)

    @abstractmethod
    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """query (B, Tq, Hq), projected_keys (B, S, *) -> scores (B, Tq, S)."""

    def forward(
        self,
        query: Tensor,  # (B, Tq, Hq)
        keys: Tensor,  # (B, S, H)
        keep_mask: Tensor,  # (B, S) bool, True = real token
        positions: Tensor | None = None,  # (B, Tq) decoder step, for position-aware mechanisms
        projected_keys: Tensor | None = None,
    ) -> AttentionOutput:
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        weights = masked_softmax(self.score(query, projected_keys), keep_mask)  # (B, Tq, S)
        context = weights @ keys  # (B, Tq, H)
        return AttentionOutput(context=context, weights=weights)
