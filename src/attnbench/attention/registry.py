"""The attention classes by the name params.yaml gives, and the builder of one variant's."""

from __future__ import annotations

from attnbench.attention.additive import AdditiveAttention, ConcatAttention
from attnbench.attention.base import Attention
from attnbench.attention.hard import HardAttention
from attnbench.attention.local import LocalAttention
from attnbench.attention.mechanism import GLOBAL, HARD, LOCAL
from attnbench.attention.multiplicative import DotAttention, GeneralAttention

# Global scores: name in params.yaml -> class(query_dim, key_dim, attn_dim).
SCORES: dict[str, type[Attention]] = {
    "additive": AdditiveAttention,
    "dot": DotAttention,
    "general": GeneralAttention,
    "concat": ConcatAttention,
}
# Every mechanism a variant's `attention:` may name. local_p predicts its window's centre,
# local_m centres it on the aligned position (Luong et al. 2015, §3.2).
REGISTRY: dict[str, type[Attention]] = {
    **SCORES,
    "local_m": LocalAttention,
    "local_p": LocalAttention,
    "hard": HardAttention,
}
PREDICTIVE = "local_p"


def build_attention(variant, dim: int) -> Attention:
    """The mechanism of one RNN variant (config.RNNVariant); queries and keys are `dim` wide."""
    cls = REGISTRY[variant.attention]
    if cls.mechanism is GLOBAL:
        return cls(dim, dim, dim)
    if cls.mechanism is LOCAL:
        scorer = SCORES[variant.local_score](dim, dim, dim)
        return cls(scorer, variant.window, predictive=variant.attention == PREDICTIVE, query_dim=dim)
    if cls.mechanism is HARD:
        return cls(dim, dim, dim, variant.reinforce_settings.expected_context_prob)
    raise KeyError(f"no builder for the {cls.mechanism.family} of {variant.attention!r}")
