"""Encoder-decoder RNN: fixed context, Bahdanau-style or Luong-style attention.

Fixed context and Bahdanau et al. 2015 (attention *before* the step):
    c_i      = h_S (fixed)   or   attend(s_{i-1}, h_1..h_S)
    s_i      = RNN([E y_{i-1}; c_i], s_{i-1})           s_0 = encoder's final state
    logits_i = W_o [s_i; c_i]
Luong et al. 2015 (attention *after* the step; input feeding optional, §3.3):
    h_t      = RNN(E y_{t-1}  [; h~_{t-1}], h_{t-1})    h_0 = encoder's final state
    c_t      = attend(h_t, h_1..h_S)
    h~_t     = tanh(W_c [c_t; h_t])
    logits_t = W_s h~_t
The fixed-context and Bahdanau models differ in c_i alone. Where the context does not
depend on the previous step (fixed context; Luong without input feeding) training runs
all decoder steps in one RNN call; otherwise it loops over step().
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnbench.attention.base import Attention
from attnbench.attention.kinds import Placement
from attnbench.attention.mechanism import RECURRENT, Mechanism
from attnbench.models.outputs import Seq2SeqOutput, StepOutput
from attnbench.data.tasks import PAD

RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# One time step of a one-layer RNN module on its own weights (w_ih, w_hh, b_ih, b_hh).
CELL_FUNCTIONS = {"rnn": torch.rnn_tanh_cell, "lstm": torch.lstm_cell, "gru": torch.gru_cell}

RecurrentState = Tensor | tuple[Tensor, Tensor]  # h, or (h, c) for an LSTM


@dataclass
class Encoded:
    memory: Tensor  # (B, S, H) encoder states: keys and values of attention
    keep_mask: Tensor  # (B, S) bool, True = real token
    final: RecurrentState  # encoder state after each source's last real token
    projected_keys: Tensor | None  # attention's key projection, computed once per batch
    sequence_state: Tensor | None  # attention's per-sequence random choices (hard attention)


@dataclass
class DecoderState:
    rnn: RecurrentState  # each (B, H): the decoder's one layer
    step: int  # index t of the next output position
    feed: Tensor | None  # (B, H) h~_{t-1} for Luong input feeding, else None


def top_hidden(state: RecurrentState) -> Tensor:
    """The last layer's hidden state, (B, H), of a module's state (each (layers, B, H))."""
    hidden = state[0] if isinstance(state, tuple) else state
    return hidden[-1]


def module_step(rnn: nn.RNNBase, inputs: Tensor, state: RecurrentState) -> RecurrentState:
    """One step of a one-layer RNN module called on a length-1 sequence, inputs (B, I),
    state each (B, H): the reference `RNNSeq2Seq.decoder_step` must equal byte for byte
    (the study's decoders called the module so until the cell function replaced it)."""
    layered = tuple(part[None] for part in state) if isinstance(state, tuple) else state[None]
    _, new_state = rnn(inputs[:, None], layered)  # each (1, B, H)
    return tuple(part[0] for part in new_state) if isinstance(new_state, tuple) else new_state[0]


def hidden_of(state: RecurrentState) -> Tensor:
    """h of a one-layer state, (B, H)."""
    return state[0] if isinstance(state, tuple) else state


class RNNSeq2Seq(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        cell: str,
        attention: Attention | None,
        input_feeding: bool = False,
        target_vocab_size: int | None = None,
    ):
        """vocab_size counts the source's ids; target_vocab_size the target's where the task
        has symbols of its own there (g2p's phonemes), None where both share one table."""
        super().__init__()
        self.luong = attention is not None and attention.placement is Placement.AFTER_STEP
        if input_feeding and not self.luong:
            raise ValueError("input feeding applies to Luong-style attention only")
        self.input_feeding = input_feeding
        rnn = RNN_CLASSES[cell]
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.target_embed = (None if target_vocab_size is None
                             else nn.Embedding(target_vocab_size, embed_dim, padding_idx=PAD))
        outputs = vocab_size if target_vocab_size is None else target_vocab_size
        self.encoder = rnn(embed_dim, hidden_dim, batch_first=True)
        fed = hidden_dim if (not self.luong or input_feeding) else 0
        self.decoder = rnn(embed_dim + fed, hidden_dim, batch_first=True)
        self.decoder_cell = CELL_FUNCTIONS[cell]
        self.attention = attention
        if self.luong:
            self.W_c = nn.Linear(2 * hidden_dim, hidden_dim, bias=False)
            self.out = nn.Linear(hidden_dim, outputs)  # W_s
        else:
            self.out = nn.Linear(2 * hidden_dim, outputs)  # W_o

    @property
    def mechanism(self) -> Mechanism:
        return RECURRENT if self.attention is None else self.attention.mechanism

    @property
    def parallel_teacher_forcing(self) -> bool:
        """True when teacher forcing runs every decoder position in one call: the context
        does not depend on the previous step (fixed context; Luong without input feeding)."""
        return self.attention is None or (self.luong and not self.input_feeding)

    def embed_target(self, tokens: Tensor) -> Tensor:
        """E y: target ids (...) -> (..., E), in the source's table where the two share it."""
        return (self.embed if self.target_embed is None else self.target_embed)(tokens)

    # ---- encoder ------------------------------------------------------------------
    def encode(self, src: Tensor) -> Encoded:
        """src (B, S) token ids, right-padded with PAD."""
        keep_mask = src != PAD  # (B, S)
        memory, final = self.run_encoder(self.embed(src), keep_mask)  # (B, S, H)
        if self.attention is None:
            return Encoded(memory, keep_mask, final, None, None)  # memory (B, S, H)
        return Encoded(memory, keep_mask, final, self.attention.project_keys(memory),
                       self.attention.sequence_state(keep_mask))

    def run_encoder(self, embedded: Tensor, keep_mask: Tensor) -> tuple[Tensor, RecurrentState]:
        """The encoder RNN over embedded (B, S, E): its states (B, S, H), zero on padding, and
        each sequence's state after its last real token. A batch without padding runs as one
        plain sequence: ATen's packed recurrence (the path when oneDNN is off, as the study
        pins it) has a backward that grows like S^2 (3.4 s against 0.39 s at S = 2048)."""
        if bool(keep_mask.all()):
            return self.encoder(embedded)
        lengths = keep_mask.sum(dim=1).cpu()  # (B,)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        packed_out, final = self.encoder(packed)
        memory, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=keep_mask.size(1))
        return memory, final

    def start(self, encoded: Encoded) -> DecoderState:
        feed = None
        if self.input_feeding:
            feed = encoded.memory.new_zeros(encoded.memory.size(0), encoded.memory.size(2))  # (B, H)
        final = encoded.final  # each (1, B, H) -> (B, H)
        rnn = tuple(part[0] for part in final) if isinstance(final, tuple) else final[0]
        return DecoderState(rnn, 0, feed)

    def decoder_step(self, inputs: Tensor, state: RecurrentState) -> RecurrentState:
        """One step of `self.decoder`, inputs (B, I), state each (B, H), as its cell function
        on the module's own weights: the module's floats on a length-1 sequence, without
        its per-call overhead (tests/test_models.py compares the bytes)."""
        d = self.decoder
        return self.decoder_cell(inputs, state, d.weight_ih_l0, d.weight_hh_l0, d.bias_ih_l0, d.bias_hh_l0)

    # ---- attention ----------------------------------------------------------------
    def attend(self, query: Tensor, encoded: Encoded, positions: Tensor):
        """query (B, Tq, H) at decoder positions (B, Tq) -> the attention output."""
        return self.attention(query, encoded.memory, encoded.keep_mask, positions=positions,
                              projected_keys=encoded.projected_keys,
                              sequence_state=encoded.sequence_state)

    def step(self, prev_tokens: Tensor, state: DecoderState, encoded: Encoded) -> StepOutput:
        """One decoder step. prev_tokens (B,) are y_{t-1}."""
        if self.luong:
            return self._luong_step(prev_tokens, state, encoded)
        return self._bahdanau_step(prev_tokens, state, encoded)

    def _positions(self, encoded: Encoded, start: int, steps: int) -> Tensor:
        batch = encoded.memory.size(0)
        return torch.arange(start, start + steps, device=encoded.memory.device).expand(batch, steps)

    def _bahdanau_step(self, prev_tokens, state: DecoderState, encoded: Encoded) -> StepOutput:
        if self.attention is None:
            context, weights, log_prob, entropy = top_hidden(encoded.final), None, None, None  # (B, H)
        else:
            query = hidden_of(state.rnn)[:, None, :]  # (B, 1, H): s_{i-1}
            att = self.attend(query, encoded, self._positions(encoded, state.step, 1))
            context, weights = att.context[:, 0], att.weights[:, 0]  # (B, H), (B, S)
            log_prob = None if att.log_prob is None else att.log_prob[:, 0]  # (B,)
            entropy = None if att.entropy is None else att.entropy[:, 0]  # (B,)
        inputs = torch.cat([self.embed_target(prev_tokens), context], dim=-1)  # (B, E+H)
        rnn_state = self.decoder_step(inputs, state.rnn)
        logits = self.out(torch.cat([hidden_of(rnn_state), context], dim=-1))  # (B, V)
        return StepOutput(logits, DecoderState(rnn_state, state.step + 1, None), weights,
                          log_prob, entropy)

    def _luong_step(self, prev_tokens, state: DecoderState, encoded: Encoded) -> StepOutput:
        inputs = self.embed_target(prev_tokens)  # (B, E)
        if self.input_feeding:
            inputs = torch.cat([inputs, state.feed], dim=-1)  # (B, E+H)
        rnn_state = self.decoder_step(inputs, state.rnn)
        output = hidden_of(rnn_state)[:, None]  # (B, 1, H): h_t
        att = self.attend(output, encoded, self._positions(encoded, state.step, 1))
        h_tilde = torch.tanh(self.W_c(torch.cat([att.context, output], dim=-1)))[:, 0]  # (B, H)
        feed = h_tilde if self.input_feeding else None
        weights = None if att.weights is None else att.weights[:, 0]  # (B, S); local, training: None
        return StepOutput(self.out(h_tilde), DecoderState(rnn_state, state.step + 1, feed), weights)

    # ---- teacher forcing ----------------------------------------------------------
    def forward(self, src: Tensor, tgt_in: Tensor) -> Seq2SeqOutput:
        """Teacher-forced logits. src (B, S); tgt_in (B, T) = SOS + target[:-1]."""
        encoded = self.encode(src)
        if not self.parallel_teacher_forcing:
            return self.forward_stepwise(encoded, tgt_in)
        if self.attention is None:
            return self._forward_fixed_context(encoded, tgt_in)
        return self._forward_luong_batched(encoded, tgt_in)

    def forward_stepwise(self, encoded: Encoded, tgt_in: Tensor) -> Seq2SeqOutput:
        """Teacher forcing as a loop over step(): the reference every batched path must equal."""
        state = self.start(encoded)
        steps = []
        for prev_tokens in tgt_in.unbind(1):  # (B,) each
            steps.append(self.step(prev_tokens, state, encoded))
            state = steps[-1].state

        def stacked(field: str) -> Tensor | None:
            values = [getattr(s, field) for s in steps]
            return None if values[0] is None else torch.stack(values, dim=1)

        return Seq2SeqOutput(stacked("logits"), stacked("weights"), stacked("log_prob"),
                             stacked("entropy"))

    def _forward_fixed_context(self, encoded: Encoded, tgt_in: Tensor) -> Seq2SeqOutput:
        steps = tgt_in.size(1)
        context = top_hidden(encoded.final)[:, None, :].expand(-1, steps, -1)  # (B, T, H)
        inputs = torch.cat([self.embed_target(tgt_in), context], dim=-1)  # (B, T, E+H)
        output, _ = self.decoder(inputs, encoded.final)  # (B, T, H)
        return Seq2SeqOutput(self.out(torch.cat([output, context], dim=-1)), None)

    def _forward_luong_batched(self, encoded: Encoded, tgt_in: Tensor) -> Seq2SeqOutput:
        output, _ = self.decoder(self.embed_target(tgt_in), encoded.final)  # (B, T, H): every h_t
        att = self.attend(output, encoded, self._positions(encoded, 0, tgt_in.size(1)))
        h_tilde = torch.tanh(self.W_c(torch.cat([att.context, output], dim=-1)))  # (B, T, H)
        return Seq2SeqOutput(self.out(h_tilde), att.weights)
