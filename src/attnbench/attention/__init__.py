"""Attention mechanisms behind one interface, looked up by the name params.yaml gives."""

from __future__ import annotations

from attnbench.attention.additive import AdditiveAttention, ConcatAttention
from attnbench.attention.base import Attention, AttentionOutput, masked_softmax
from attnbench.attention.hard import HardAttention
from attnbench.attention.local import LocalAttention
from attnbench.attention.multiplicative import DotAttention, GeneralAttention

# Global scores: name in params.yaml -> class(query_dim, key_dim, attn_dim).
SCORES: dict[str, type[Attention]] = {
    "additive": AdditiveAttention,
    "dot": DotAttention,
    "general": GeneralAttention,
    "concat": ConcatAttention,
}
# Every mechanism a variant's `attention:` may name.
REGISTRY: dict[str, type[Attention]] = {
    **SCORES,
    "local_m": LocalAttention,
    "local_p": LocalAttention,
    "hard": HardAttention,
}


def build_attention(variant, dim: int) -> Attention:
    """The mechanism of one RNN variant (config.RNNVariant); queries and keys are `dim` wide."""
    name = variant.attention
    if name in SCORES:
        return SCORES[name](dim, dim, dim)
    if name in ("local_m", "local_p"):
        scorer = SCORES[variant.score or "general"](dim, dim, dim)
        return LocalAttention(scorer, variant.window, predictive=name == "local_p", query_dim=dim)
    if name == "hard":
        return HardAttention(dim, dim, dim, variant.reinforce_settings.expected_context_prob)
    raise KeyError(f"unknown attention {name!r}")


__all__ = ["REGISTRY", "SCORES", "Attention", "AttentionOutput", "build_attention", "masked_softmax"]
