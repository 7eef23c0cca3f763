"""Additive attention: a one-hidden-layer network scores each (query, key) pair.

Bahdanau et al. 2015 (App. A.1.2), query = previous decoder state s_{i-1}:
    e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)
Luong et al. 2015 "concat" (eq. 8), query = current decoder state h_t:
    score(h_t, h_s) = v_a^T tanh(W_a [h_t; h_s])
The concat form is the same network with W_a split column-wise into a query half and a
key half, so both compute the key half once per batch (`project_keys`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.attention.base import Attention
from attnbench.attention.kinds import Placement


def additive_scores(query_part: Tensor, key_part: Tensor, v_a: nn.Linear) -> Tensor:
    """query_part (B, Tq, A), key_part (B, S, A) -> v_a^T tanh(q + k): (B, Tq, S)."""
    energy = torch.tanh(query_part[:, :, None, :] + key_part[:, None, :, :])  # (B, Tq, S, A)
    return v_a(energy).squeeze(-1)  # (B, Tq, S)


class AdditiveAttention(Attention):
    placement = Placement.BEFORE_STEP

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W_a = nn.Linear(query_dim, attn_dim, bias=False)
        self.U_a = nn.Linear(key_dim, attn_dim, bias=True)
        self.v_a = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.U_a(keys)  # (B, S, A)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return additive_scores(self.W_a(query), projected_keys, self.v_a)  # (B, Tq, S)


class ConcatAttention(Attention):
    placement = Placement.AFTER_STEP

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.query_dim = query_dim
        self.W_a = nn.Linear(query_dim + key_dim, attn_dim, bias=False)  # acts on [h_t; h_s]
        self.v_a = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return keys @ self.W_a.weight[:, self.query_dim :].T  # (B, S, A)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        query_part = query @ self.W_a.weight[:, : self.query_dim].T  # (B, Tq, A)
        return additive_scores(query_part, projected_keys, self.v_a)  # (B, Tq, S)
