"""Encoder-decoder RNN, with or without attention.

    s_i      = RNN([E y_{i-1}; c_i], s_{i-1})        s_0 = encoder's final state
    logits_i = W_o [s_i; c_i]

Without attention c_i = h_S for every i: the whole source squeezed into one fixed
context vector (Sutskever et al. 2014, Cho et al. 2014). With attention
c_i = sum_j alpha_ij h_j, the weights computed from s_{i-1} (Bahdanau et al. 2015).
The two models differ in c_i alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnbench.attention import Attention
from attnbench.tasks import PAD

RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

RecurrentState = Tensor | tuple[Tensor, Tensor]  # h, or (h, c) for an LSTM; each (1, B, H)


@dataclass
class Encoded:
    memory: Tensor  # (B, S, H) encoder states: keys and values of attention
    keep_mask: Tensor  # (B, S) bool, True = real token
    final: RecurrentState  # encoder state after each source's last real token
    projected_keys: Tensor | None  # attention's key projection, computed once per batch


@dataclass
class StepOutput:
    logits: Tensor  # (B, V)
    state: RecurrentState
    weights: Tensor | None  # (B, S) attention weights of this step


@dataclass
class Seq2SeqOutput:
    logits: Tensor  # (B, T, V)
    weights: Tensor | None  # (B, T, S)


def top_hidden(state: RecurrentState) -> Tensor:
    """The last layer's hidden state, (B, H)."""
    hidden = state[0] if isinstance(state, tuple) else state
    return hidden[-1]


class RNNSeq2Seq(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        cell: str,
        attention: Attention | None,
    ):
        super().__init__()
        rnn = RNN_CLASSES[cell]
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.encoder = rnn(embed_dim, hidden_dim, batch_first=True)
        self.decoder = rnn(embed_dim + hidden_dim, hidden_dim, batch_first=True)
        self.attention = attention
        self.out = nn.Linear(2 * hidden_dim, vocab_size)

    def encode(self, src: Tensor) -> Encoded:
        """src (B, S) token ids, right-padded with PAD."""
        keep_mask = src != PAD  # (B, S)
        lengths = keep_mask.sum(dim=1).cpu()  # (B,)
        packed = pack_padded_sequence(
            self.embed(src), lengths, batch_first=True, enforce_sorted=False
        )
        packed_out, final = self.encoder(packed)
        memory, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.size(1))
        projected = None if self.attention is None else self.attention.project_keys(memory)
        return Encoded(memory, keep_mask, final, projected)  # memory (B, S, H)

    def start(self, encoded: Encoded) -> RecurrentState:
        return encoded.final

    def context(self, state: RecurrentState, encoded: Encoded) -> tuple[Tensor, Tensor | None]:
        """c_i from s_{i-1}: (B, H) context and (B, S) weights (None without attention)."""
        if self.attention is None:
            return top_hidden(encoded.final), None
        query = top_hidden(state)[:, None, :]  # (B, 1, H)
        attended = self.attention(
            query, encoded.memory, encoded.keep_mask, projected_keys=encoded.projected_keys
        )
        return attended.context[:, 0], attended.weights[:, 0]

    def step(self, prev_tokens: Tensor, state: RecurrentState, encoded: Encoded) -> StepOutput:
        """One decoder step. prev_tokens (B,) are y_{i-1}."""
        context, weights = self.context(state, encoded)  # (B, H), (B, S)
        inputs = torch.cat([self.embed(prev_tokens), context], dim=-1)[:, None]  # (B, 1, E+H)
        output, state = self.decoder(inputs, state)  # (B, 1, H)
        logits = self.out(torch.cat([output[:, 0], context], dim=-1))  # (B, V)
        return StepOutput(logits, state, weights)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Seq2SeqOutput:
        """Teacher-forced logits. src (B, S); tgt_in (B, T) = SOS + target[:-1]."""
        encoded = self.encode(src)
        if self.attention is None:
            return self._forward_fixed_context(encoded, tgt_in)
        # c_i needs s_{i-1}: attention models run step by step.
        state = self.start(encoded)
        logits, weights = [], []
        for t in range(tgt_in.size(1)):
            step = self.step(tgt_in[:, t], state, encoded)
            state = step.state
            logits.append(step.logits)
            weights.append(step.weights)
        return Seq2SeqOutput(torch.stack(logits, dim=1), torch.stack(weights, dim=1))

    def _forward_fixed_context(self, encoded: Encoded, tgt_in: Tensor) -> Seq2SeqOutput:
        """All decoder steps in one RNN call: the context does not depend on the step."""
        steps = tgt_in.size(1)
        context = top_hidden(encoded.final)[:, None, :].expand(-1, steps, -1)  # (B, T, H)
        inputs = torch.cat([self.embed(tgt_in), context], dim=-1)  # (B, T, E+H)
        output, _ = self.decoder(inputs, self.start(encoded))  # (B, T, H)
        return Seq2SeqOutput(self.out(torch.cat([output, context], dim=-1)), None)
