"""Turn one variant entry of params.yaml into a network.

Every network of the study is built here, so importing this package also routes recurrent
layers around oneDNN, whose kernels depend on the processor (numerics.configure_torch).
"""

from __future__ import annotations

from torch import nn

from attnbench.platform import numerics
from attnbench.attention.registry import build_attention
from attnbench.config import NO_ATTENTION, ModelConfig, RNNVariant, TransformerVariant
from attnbench.models.rnn_seq2seq import RNNSeq2Seq
from attnbench.data.tasks import Vocabulary

numerics.configure_torch()


def build_model(variant: RNNVariant | TransformerVariant, sizes: ModelConfig, vocab_size: int,
                target_vocab_size: int | None = None) -> nn.Module:
    """vocab_size counts every source token id, specials included (tasks.vocab_total);
    target_vocab_size the target's, for a task whose targets have symbols of their own."""
    if isinstance(variant, TransformerVariant):
        from attnbench.models.transformer import TransformerSeq2Seq

        return TransformerSeq2Seq(vocab_size, sizes.hidden_dim, variant.heads, variant.layers,
                                  variant.ff_dim, variant.window, target_vocab_size, variant.positions,
                                  causal_encoder=variant.encoder == "causal")
    attention = None if variant.attention == NO_ATTENTION else build_attention(variant, sizes.hidden_dim)
    return RNNSeq2Seq(vocab_size, sizes.embed_dim, sizes.hidden_dim, variant.cell, attention,
                      input_feeding=variant.input_feeding, target_vocab_size=target_vocab_size)


def build_for_task(variant: RNNVariant | TransformerVariant, sizes: ModelConfig, vocab: Vocabulary) -> nn.Module:
    """The network for a task's vocabulary: one shared table, or a source and a target one."""
    return build_model(variant, sizes, vocab.source_size, None if vocab.shared else vocab.target_size)


__all__ = ["RNNSeq2Seq", "build_for_task", "build_model"]
