"""Attention mechanisms behind one interface, looked up by the name params.yaml gives."""

from __future__ import annotations

from attnbench.attention.additive import AdditiveAttention
from attnbench.attention.base import Attention, AttentionOutput, masked_softmax

# name in params.yaml -> class(query_dim, key_dim, attn_dim)
REGISTRY: dict[str, type[Attention]] = {
    "additive": AdditiveAttention,
}


def build_attention(name: str, query_dim: int, key_dim: int, attn_dim: int) -> Attention:
    return REGISTRY[name](query_dim, key_dim, attn_dim)


__all__ = ["REGISTRY", "Attention", "AttentionOutput", "build_attention", "masked_softmax"]
