"""Multiplicative scores of Luong et al. 2015 (eq. 8), query = current decoder state h_t:
    dot:      score(h_t, h_s) = h_t^T h_s
    general:  score(h_t, h_s) = h_t^T W_a h_s      (W_a h_s computed once per batch)
"""

from __future__ import annotations

from torch import Tensor, nn

from attnbench.attention.base import Attention
from attnbench.attention.kinds import Placement


class DotAttention(Attention):
    placement = Placement.AFTER_STEP

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        if query_dim != key_dim:
            raise ValueError(f"dot attention needs query_dim == key_dim, got {query_dim}, {key_dim}")

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return query @ projected_keys.transpose(1, 2)  # (B, Tq, H) @ (B, H, S) -> (B, Tq, S)


class GeneralAttention(Attention):
    placement = Placement.AFTER_STEP

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W_a = nn.Linear(key_dim, query_dim, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.W_a(keys)  # (B, S, Hq)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return query @ projected_keys.transpose(1, 2)  # (B, Tq, S)
