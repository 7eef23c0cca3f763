"""Additive (concat) attention of Bahdanau et al. 2015.

    e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)        alpha_ij = softmax_j(e_ij)
    c_i  = sum_j alpha_ij h_j

U_a h_j does not depend on the decoder step: it is computed once per batch
(`project_keys`) and reused at every step, as the paper's appendix A.1.2 notes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.attention.base import Attention


class AdditiveAttention(Attention):
    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W_a = nn.Linear(query_dim, attn_dim, bias=False)
        self.U_a = nn.Linear(key_dim, attn_dim, bias=True)
        self.v_a = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.U_a(keys)  # (B, S, A)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        q = self.W_a(query)  # (B, Tq, A)
        energy = torch.tanh(q[:, :, None, :] + projected_keys[:, None, :, :])  # (B, Tq, S, A)
        return self.v_a(energy).squeeze(-1)  # (B, Tq, S)
