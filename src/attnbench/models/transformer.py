"""Encoder-decoder Transformer of Vaswani et al. 2017, "Attention Is All You Need".

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V      M_ij = 0 if allowed, else -inf
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)
    FFN(x)             = max(0, x W_1 + b_1) W_2 + b_2
    PE(pos, 2i)        = sin(pos / 10000^(2i/d))                PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    x_0                = sqrt(d) E y + PE

Those are the paper's absolute positions, the default (`positions: sinusoidal`); the other
schemes of models/positions/ (none, ALiBi, rotary, T5 bias) act on self-attention instead.

Encoder self-attention sees the whole source, or with `window=D` only the band |i - j| <= D
("restricted self-attention", the paper's Table 1), or with `causal_encoder` only the tokens
before it, after a BOS token (how a decoder-only model reads its prompt: the causal mask is
the only order a NoPE encoder can see, and the BOS lets a query count the tokens before it,
Kazemnejad et al. 2023, Theorem 1). Decoder self-attention is causal; cross-attention sees
every real source token (never the BOS).

Departures from the paper: sublayers are pre-LayerNorm, x + Sublayer(LN(x)), with a final
LayerNorm on each stack (Xiong et al. 2020), instead of post-LN LN(x + Sublayer(x)), so small
models train without a learning-rate warmup; no dropout anywhere, so runs are deterministic
(scaled_dot_product_attention's dropout_p would apply even in eval mode); the output projection
is not tied to the embedding.

The attention itself (the kernels, the masks, the band) lives in attention/: dot_product.py,
masks.py and window.py. This module projects queries, keys and values, hands a position
scheme's score bias to attention as a tensor, and stacks the layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnbench.attention.dot_product import attend, band_offsets, banded_attention
from attnbench.attention.masks import causal_allow_mask, encoder_allow_mask, every_key_allowed, memory_allow_mask
from attnbench.attention.mechanism import Mechanism, self_attention
from attnbench.attention.window import takes_window_path
from attnbench.models.outputs import Seq2SeqOutput, StepOutput
from attnbench.models.positions import PositionScheme, build_positions
from attnbench.data.tasks import PAD, SOS


@dataclass
class SelfPositions:
    """A self-attention's position scheme and the positions of its queries and keys."""

    scheme: PositionScheme
    query: Tensor  # (Tq,) position of each query
    key: Tensor  # (S,) position of each key
    causal: bool  # decoder self-attention (ALiBi and T5 buckets use one direction)

    def turn(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """q (B, H, Tq, dh) and k (B, H, S, dh) turned by their positions (rotary), and the
        scores' bias (H, Tq, S) or None."""
        q = self.scheme.rotate(q, self.query)  # (B, H, Tq, dh)
        k = self.scheme.rotate(k, self.key)  # (B, H, S, dh)
        return q, k, self.scheme.bias(self.query, self.key, self.causal)


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) with parameters laid out like nn.MultiheadAttention's.

    in_proj_weight stacks W^Q, W^K, W^V (each (D, D)), in_proj_bias their biases, out_proj is
    W^O; so state dicts copy between the two modules in either direction.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        assert dim % heads == 0, f"dim {dim} is not divisible by heads {heads}"
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention
        nn.init.zeros_(self.out_proj.bias)

    def split_heads(self, x: Tensor) -> Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)  # (B, H, T, dh)

    def project(self, x: Tensor, which: int) -> Tensor:
        """Queries (which=0), keys (1) or values (2) of x (B, T, D), split into heads (B, H, T, dh)."""
        weight, bias = self.in_proj_weight.chunk(3)[which], self.in_proj_bias.chunk(3)[which]  # (D, D), (D,)
        return self.split_heads(F.linear(x, weight, bias))  # (B, H, T, dh)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, allow: Tensor, bias: Tensor | None = None,
               need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """Heads q (B, H, Tq, dh), k and v (B, H, S, dh) -> out (B, Tq, D) after W^O and, if
        need_weights, the head-averaged weights (B, Tq, S). allow (B or 1, Tq or 1, S); a
        position scheme's bias (H, Tq, S) or None (attention/dot_product.attend)."""
        out, weights = attend(q, k, v, allow, bias, need_weights)  # (B, H, Tq, dh), (B, H, Tq, S) or None
        if weights is not None:
            weights = weights.mean(dim=1)  # (B, Tq, S)
        out = out.transpose(1, 2).flatten(2)  # (B, Tq, D), heads concatenated
        return self.out_proj(out), weights  # (B, Tq, D)

    def banded(self, x: Tensor, keep_mask: Tensor, window: int, positions: SelfPositions | None) -> Tensor:
        """Self-attention of x (B, S, D) restricted to |i - j| <= window, on the band only
        (banded_attention): out (B, S, D)."""
        q, k, v = self.project(x, 0), self.project(x, 1), self.project(x, 2)  # (B, H, S, dh)
        bias = None
        if positions is not None and positions.scheme.uses_scores:
            scheme = positions.scheme
            q, k = scheme.rotate(q, positions.query), scheme.rotate(k, positions.key)  # (B, H, S, dh)
            bias = scheme.offset_bias(band_offsets(window, x.device), causal=False)  # (H, W) or None
        out = banded_attention(q, k, v, keep_mask, window, bias)  # (B, H, S, dh)
        return self.out_proj(out.transpose(1, 2).flatten(2))  # (B, S, D)

    def forward(
        self,
        query: Tensor,  # (B, Tq, D)
        key: Tensor,  # (B, S, D)
        value: Tensor,  # (B, S, D)
        allow: Tensor,  # (B or 1, Tq or 1, S) bool, True = may attend
        need_weights: bool = False,
        positions: SelfPositions | None = None,  # self-attention's scheme and positions
    ) -> tuple[Tensor, Tensor | None]:
        """Returns out (B, Tq, D) and, if need_weights, the head-averaged weights (B, Tq, S).
        A position scheme may turn q and k (rotary) and add a bias to the scores (ALiBi, T5)."""
        q, k, v = self.project(query, 0), self.project(key, 1), self.project(value, 2)  # (B, H, *, dh)
        bias = None
        if positions is not None and positions.scheme.uses_scores:
            q, k, bias = positions.turn(q, k)
        return self.attend(q, k, v, allow, bias, need_weights)


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, applied at every position alike."""

    def __init__(self, dim: int, ff_dim: int):
        super().__init__()
        self.up = nn.Linear(dim, ff_dim)
        self.down = nn.Linear(ff_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.relu(self.up(x)))  # (B, T, D)


class EncoderLayer(nn.Module):
    """x = x + SelfAttn(LN(x)); x = x + FFN(LN(x))."""

    def __init__(self, dim: int, heads: int, ff_dim: int):
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_dim)

    def forward(self, x: Tensor, allow: Tensor | None, positions: SelfPositions | None = None,
                band: tuple[Tensor, int] | None = None) -> Tensor:
        """x (B, S, D); allow (B, S, S) from encoder_allow_mask, or band = (keep_mask, window)
        for restricted attention computed on the band only."""
        h = self.norm_attn(x)  # (B, S, D)
        if band is None:
            x = x + self.attn(h, h, h, allow, positions=positions)[0]  # (B, S, D)
        else:
            x = x + self.attn.banded(h, *band, positions)  # (B, S, D)
        return x + self.ff(self.norm_ff(x))  # (B, S, D)


class DecoderLayer(nn.Module):
    """x = x + CausalSelfAttn(LN(x)); x = x + CrossAttn(LN(x), memory); x = x + FFN(LN(x))."""

    def __init__(self, dim: int, heads: int, ff_dim: int):
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads)
        self.norm_cross = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadAttention(dim, heads)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_dim)

    def forward(
        self,
        x: Tensor,  # (B, T, D)
        memory: Tensor,  # (B, S, D)
        self_allow: Tensor,  # (1, T, T) causal
        cross_allow: Tensor,  # (B, 1, S) real source tokens
        need_weights: bool = False,
        positions: SelfPositions | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Returns x (B, T, D) and, if need_weights, the cross-attention weights (B, T, S)."""
        h = self.norm_self(x)  # (B, T, D)
        x = x + self.self_attn(h, h, h, self_allow, positions=positions)[0]  # (B, T, D)
        attended, weights = self.cross_attn(
            self.norm_cross(x), memory, memory, cross_allow, need_weights
        )  # (B, T, D), (B, T, S) or None
        x = x + attended  # (B, T, D)
        return x + self.ff(self.norm_ff(x)), weights  # (B, T, D)

    def step(self, x: Tensor, cache: LayerCache, cross_allow: Tensor,
             positions: SelfPositions) -> tuple[Tensor, LayerCache, Tensor]:
        """forward() for one new position t only, x (B, 1, D), from the keys and values of
        positions < t in `cache`: returns x (B, 1, D), the cache with position t appended,
        and the cross-attention weights (B, 1, S). positions: query (t,), keys 0..t."""
        attn = self.self_attn
        h = self.norm_self(x)  # (B, 1, D)
        q, k, v = attn.project(h, 0), attn.project(h, 1), attn.project(h, 2)  # (B, H, 1, dh)
        bias = None
        if positions.scheme.uses_scores:  # the new query and key both sit at position t
            q = positions.scheme.rotate(q, positions.query)  # (B, H, 1, dh)
            k = positions.scheme.rotate(k, positions.query)  # (B, H, 1, dh)
            bias = positions.scheme.bias(positions.query, positions.key, causal=True)  # (H, 1, t+1)
        keys = torch.cat([cache.keys, k], dim=2)  # (B, H, t+1, dh)
        values = torch.cat([cache.values, v], dim=2)  # (B, H, t+1, dh)
        every = every_key_allowed(keys.size(2), x.device)  # (1, 1, t+1) all earlier
        x = x + attn.attend(q, keys, values, every, bias)[0]  # (B, 1, D)
        cross = self.cross_attn
        q = cross.project(self.norm_cross(x), 0)  # (B, H, 1, dh)
        attended, weights = cross.attend(q, cache.memory_keys, cache.memory_values, cross_allow,
                                         need_weights=True)  # (B, 1, D), (B, 1, S)
        x = x + attended  # (B, 1, D)
        cache = LayerCache(keys, values, cache.memory_keys, cache.memory_values)
        return x + self.ff(self.norm_ff(x)), cache, weights  # (B, 1, D)


@dataclass
class LayerCache:
    """One decoder layer's keys and values so far (self-attention, turned by their positions)
    and of the encoder memory (cross-attention, computed once per source)."""

    keys: Tensor  # (B, H, t, dh)
    values: Tensor  # (B, H, t, dh)
    memory_keys: Tensor  # (B, H, S, dh)
    memory_values: Tensor  # (B, H, S, dh)


@dataclass
class DecoderCache:
    """Greedy decoding's state: the prefix decoded so far and every layer's cache."""

    prefix: Tensor  # (B, t) token ids
    layers: list[LayerCache]


def token_embedding(vocab_size: int, dim: int) -> nn.Embedding:
    """E with std 1/sqrt(d), so that sqrt(d) E y has unit scale like PE; PAD's row is 0."""
    table = nn.Embedding(vocab_size, dim, padding_idx=PAD)
    with torch.no_grad():
        nn.init.normal_(table.weight, std=dim**-0.5)
        table.weight[PAD].zero_()
    return table


@dataclass
class TransformerEncoded:
    memory: Tensor  # (B, S, D) encoder output: keys and values of cross-attention
    keep_mask: Tensor  # (B, S) bool, True = real token


class TransformerSeq2Seq(nn.Module):
    """Encoder and decoder stacks of `layers` pre-LN layers each, then a linear map to logits.

    The decoder state of greedy decoding is a key/value cache (`DecoderCache`): `step` runs
    the decoder for the new position only, attending to the cached keys and values of the
    earlier ones; `step_recomputing` reruns the whole prefix and is the reference it must equal.
    """

    def __init__(
        self, vocab_size: int, dim: int, heads: int, layers: int, ff_dim: int, window: int | None,
        target_vocab_size: int | None = None, positions: str = "sinusoidal", causal_encoder: bool = False,
    ):
        """vocab_size counts the source's ids; target_vocab_size the target's where the task
        has symbols of its own there (g2p's phonemes), None where both share one table."""
        super().__init__()
        assert window is None or window >= 0, f"window must be >= 0 or None, got {window}"
        assert not (causal_encoder and window is not None), "a causal encoder has no band"
        self.causal_encoder = causal_encoder
        self.dim = dim
        self.window = window
        self.embed = token_embedding(vocab_size, dim)
        self.target_embed = None if target_vocab_size is None else token_embedding(target_vocab_size, dim)
        self.encoder_layers = nn.ModuleList(EncoderLayer(dim, heads, ff_dim) for _ in range(layers))
        self.encoder_norm = nn.LayerNorm(dim)
        self.decoder_layers = nn.ModuleList(DecoderLayer(dim, heads, ff_dim) for _ in range(layers))
        self.decoder_norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab_size if target_vocab_size is None else target_vocab_size)
        # last, so that the other layers' initial weights do not depend on the scheme
        self.encoder_positions = build_positions(positions, dim, heads)
        self.decoder_positions = build_positions(positions, dim, heads)

    @property
    def mechanism(self) -> Mechanism:
        return self_attention(self.window)

    parallel_teacher_forcing = True  # one causal pass over the whole target

    def embed_tokens(self, tokens: Tensor, table: nn.Embedding, scheme: PositionScheme) -> Tensor:
        """x_0 = sqrt(d) E y (+ PE for sinusoidal positions), tokens (B, T) -> (B, T, D)."""
        return scheme.embed(table(tokens) * math.sqrt(self.dim))  # (B, T, D)

    def encode(self, src: Tensor, banded: bool | None = None) -> TransformerEncoded:
        """src (B, S) token ids, right-padded with PAD. With a window, self-attention runs on
        the band only (banded=True) or masks the full score matrix (banded=False, the
        reference); None picks the band as local attention does (window.takes_window_path)."""
        if banded is None:
            banded = takes_window_path(src.size(1))
        if self.causal_encoder:
            return self.encode_causally(src)
        keep_mask = src != PAD  # (B, S)
        on_band = banded and self.window is not None
        allow = None if on_band else encoder_allow_mask(keep_mask, self.window)  # (B, S, S)
        band = (keep_mask, self.window) if on_band else None
        x = self.embed_tokens(src, self.embed, self.encoder_positions)  # (B, S, D)
        pos = torch.arange(src.size(1), device=src.device)  # (S,)
        positions = SelfPositions(self.encoder_positions, pos, pos, causal=False)
        for layer in self.encoder_layers:
            x = layer(x, allow, positions, band)  # (B, S, D)
        return TransformerEncoded(self.encoder_norm(x), keep_mask)  # memory (B, S, D)

    def encode_causally(self, src: Tensor) -> TransformerEncoded:
        """BOS + src (B, 1+S) through causal self-attention, query i seeing positions <= i
        (right padding: every key a real query sees is real); the memory drops the BOS."""
        bos = torch.full_like(src[:, :1], SOS)  # (B, 1)
        src = torch.cat([bos, src], dim=1)  # (B, 1+S)
        x = self.embed_tokens(src, self.embed, self.encoder_positions)  # (B, 1+S, D)
        pos = torch.arange(src.size(1), device=src.device)  # (1+S,)
        positions = SelfPositions(self.encoder_positions, pos, pos, causal=True)
        allow = causal_allow_mask(src.size(1), src.device)  # (1, 1+S, 1+S)
        for layer in self.encoder_layers:
            x = layer(x, allow, positions)  # (B, 1+S, D)
        memory = self.encoder_norm(x)[:, 1:]  # (B, S, D)
        return TransformerEncoded(memory, src[:, 1:] != PAD)

    def decode(
        self, tgt: Tensor, encoded: TransformerEncoded, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Causal decoder over tgt (B, T): hidden states (B, T, D) and, if need_weights, the
        last layer's cross-attention weights averaged over heads (B, T, S)."""
        self_allow = causal_allow_mask(tgt.size(1), tgt.device)  # (1, T, T)
        cross_allow = memory_allow_mask(encoded.keep_mask)  # (B, 1, S)
        table = self.embed if self.target_embed is None else self.target_embed
        x = self.embed_tokens(tgt, table, self.decoder_positions)  # (B, T, D)
        pos = torch.arange(tgt.size(1), device=tgt.device)  # (T,)
        positions = SelfPositions(self.decoder_positions, pos, pos, causal=True)
        weights = None
        last = len(self.decoder_layers) - 1
        for i, layer in enumerate(self.decoder_layers):
            x, weights = layer(
                x, encoded.memory, self_allow, cross_allow, need_weights and i == last, positions
            )  # (B, T, D), (B, T, S) or None
        return self.decoder_norm(x), weights  # (B, T, D)

    def start(self, encoded: TransformerEncoded) -> DecoderCache:
        """The empty prefix, with each layer's cross-attention keys and values of the memory."""
        memory = encoded.memory  # (B, S, D)
        batch, heads = memory.size(0), self.decoder_layers[0].self_attn.heads
        empty = memory.new_zeros(batch, heads, 0, self.dim // heads)  # (B, H, 0, dh)
        layers = [LayerCache(empty, empty, layer.cross_attn.project(memory, 1), layer.cross_attn.project(memory, 2))
                  for layer in self.decoder_layers]
        prefix = torch.empty(batch, 0, dtype=torch.long, device=memory.device)  # (B, 0)
        return DecoderCache(prefix, layers)

    def step(self, prev_tokens: Tensor, state: DecoderCache, encoded: TransformerEncoded) -> StepOutput:
        """prev_tokens (B,) = y_{t-1} at position t; logits for y_t from the cached keys and
        values of positions < t: O(t) work a step instead of rerunning the prefix."""
        t = state.prefix.size(1)
        table = self.embed if self.target_embed is None else self.target_embed
        x = self.decoder_positions.embed(table(prev_tokens[:, None]) * math.sqrt(self.dim), offset=t)  # (B, 1, D)
        pos = torch.arange(t + 1, device=prev_tokens.device)  # (t+1,)
        positions = SelfPositions(self.decoder_positions, pos[t:], pos, causal=True)
        cross_allow = memory_allow_mask(encoded.keep_mask)  # (B, 1, S)
        layers = []
        for layer, cache in zip(self.decoder_layers, state.layers, strict=True):
            x, cache, weights = layer.step(x, cache, cross_allow, positions)  # (B, 1, D)
            layers.append(cache)
        logits = self.out(self.decoder_norm(x)[:, 0])  # (B, V)
        prefix = torch.cat([state.prefix, prev_tokens[:, None]], dim=1)  # (B, t+1)
        return StepOutput(logits, DecoderCache(prefix, layers), weights[:, 0])  # weights (B, S)

    def step_recomputing(self, prev_tokens: Tensor, prefix: Tensor, encoded: TransformerEncoded) -> StepOutput:
        """The same step without a cache: the decoder reruns over the whole prefix (B, t) + y_{t-1},
        O(t^2) a step; the reference `step` must equal (tests) and the benchmark's baseline."""
        prefix = torch.cat([prefix, prev_tokens[:, None]], dim=1)  # (B, t+1)
        hidden, weights = self.decode(prefix, encoded, need_weights=True)  # (B, t+1, D), (B, t+1, S)
        return StepOutput(self.out(hidden[:, -1]), prefix, weights[:, -1])  # (B, V), (B, S)

    def forward(self, src: Tensor, tgt_in: Tensor, need_weights: bool = False) -> Seq2SeqOutput:
        """Teacher-forced logits (B, T, V) in one causal pass. src (B, S); tgt_in (B, T) =
        SOS + target[:-1]. Weights (B, T, S) only if need_weights (naive attention path)."""
        encoded = self.encode(src)
        hidden, weights = self.decode(tgt_in, encoded, need_weights)  # (B, T, D), (B, T, S) or None
        return Seq2SeqOutput(self.out(hidden), weights)  # (B, T, V)
