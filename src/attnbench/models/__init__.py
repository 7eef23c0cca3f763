"""Turn one variant entry of params.yaml into a network."""

from __future__ import annotations

from torch import nn

from attnbench.attention import build_attention
from attnbench.config import NO_ATTENTION, ModelConfig, VariantConfig
from attnbench.models.rnn_seq2seq import RNNSeq2Seq


def build_model(variant: VariantConfig, sizes: ModelConfig, vocab_size: int) -> nn.Module:
    """vocab_size counts every token id, specials included (tasks.vocab_total)."""
    hidden = sizes.hidden_dim
    attention = (
        None
        if variant.attention == NO_ATTENTION
        else build_attention(variant.attention, query_dim=hidden, key_dim=hidden, attn_dim=hidden)
    )
    return RNNSeq2Seq(vocab_size, sizes.embed_dim, hidden, variant.cell, attention)


__all__ = ["RNNSeq2Seq", "build_model"]
