"""Scaled dot-product attention of Vaswani et al. 2017, the Transformer's one attention:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + b + M) V      M_ij = 0 if allowed, else -inf

b is a position scheme's score bias (ALiBi, T5; models/positions/), passed in as a tensor so
that nothing here depends on how positions are encoded. Masks are boolean `allow` tensors,
True = may attend (masks.py). Three routes compute the same thing:

- `attend`: the fused kernel (F.scaled_dot_product_attention), or the written-out formula
  when the caller needs the weights; what MultiHeadAttention and the decoder's cached step use;
- `naive_attention`: the formula written out, the reference the fused kernel must equal;
- `banded_attention`: restricted self-attention on the band |i - j| <= D alone (window.py),
  O(S·D) instead of O(S^2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.attention.window import gather_window, window_slots


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, allow: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(dh) + M) v by the fused kernel, M = -inf where not allowed.

    q (B, H, Tq, dh), k and v (B, H, S, dh); allow broadcastable to (B, H, Tq, S): bool,
    True = may attend (M = 0 there), or a float M itself (a score bias, -inf where not
    allowed). Returns (B, H, Tq, dh).
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allow, dropout_p=0.0)  # (B, H, Tq, dh)


def naive_attention(q: Tensor, k: Tensor, v: Tensor, allow: Tensor,
                    bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The same computation written out, plus an optional score bias (H, Tq, S); also returns
    the weights (B, H, Tq, S). Disallowed keys get weight exactly 0 (exp(-inf) = 0)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, Tq, S)
    if bias is not None:
        scores = scores + bias  # (B, H, Tq, S)
    scores = scores.masked_fill(~allow, float("-inf"))  # (B, H, Tq, S)
    weights = torch.softmax(scores, dim=-1)  # (B, H, Tq, S)
    return weights @ v, weights  # (B, H, Tq, dh), (B, H, Tq, S)


def attend(q: Tensor, k: Tensor, v: Tensor, allow: Tensor, bias: Tensor | None = None,
           need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    """Heads q (B, H, Tq, dh), k and v (B, H, S, dh); allow (B or 1, Tq or 1, S) bool, the
    same for every head; bias (H, Tq, S) or None. Returns out (B, H, Tq, dh) and, if
    need_weights, the weights (B, H, Tq, S).

    The fused kernel unless need_weights, which takes the written-out path to get the
    weights; a bias enters the fused kernel as a float mask (bias, -inf where not allowed).
    """
    allow = allow[:, None]  # (B or 1, 1, Tq or 1, S), broadcast over heads
    if need_weights:
        return naive_attention(q, k, v, allow, bias)  # (B, H, Tq, dh), (B, H, Tq, S)
    if bias is not None:
        allow = bias.masked_fill(~allow, float("-inf"))  # (B or 1, H, Tq, S), the float mask
    return sdpa_attention(q, k, v, allow), None  # (B, H, Tq, dh)


def band_offsets(window: int, device: torch.device | None = None) -> Tensor:
    """The band's key-minus-query offsets j - i = -D .. D, (2D + 1,): what a position scheme's
    offset_bias turns into the band's bias (H, 2D + 1)."""
    return torch.arange(-window, window + 1, device=device)  # (W,)


def banded_attention(q: Tensor, k: Tensor, v: Tensor, keep_mask: Tensor, window: int,
                     bias: Tensor | None = None) -> Tensor:
    """Self-attention on the band |i - j| <= window only: query i takes the 2D + 1 keys
    i-D .. i+D (window.py; slots past the ends get weight 0), so time and memory grow like
    S·D, not S^2. Same rule as masks.encoder_allow_mask: real keys in the band, and i itself.

    q, k, v (B, H, S, dh), already turned where the scheme is rotary; keep_mask (B, S);
    bias (H, 2D + 1) over band_offsets, or None. Returns (B, H, S, dh).
    """
    batch, heads, length, head_dim = q.shape
    width = 2 * window + 1
    starts = torch.arange(length, device=q.device) - window  # (S,) first key of each query
    _, index, inside = window_slots(starts, width, length)  # (S, W) each
    flat_index = index.expand(batch * heads, -1, -1)  # (B*H, S, W)
    k_band = gather_window(k.flatten(0, 1), flat_index).view(batch, heads, length, width, head_dim)
    v_band = gather_window(v.flatten(0, 1), flat_index).view(batch, heads, length, width, head_dim)
    scores = (q[:, :, :, None, :] @ k_band.transpose(-1, -2)).squeeze(3) / math.sqrt(head_dim)  # (B, H, S, W)
    if bias is not None:
        scores = scores + bias[:, None, :]  # (B, H, S, W)
    real = keep_mask[:, index] & inside  # (B, S, W)
    allow = real | (band_offsets(window, q.device) == 0)  # (B, S, W), the query itself
    weights = torch.softmax(scores.masked_fill(~allow[:, None], float("-inf")), dim=-1)  # (B, H, S, W)
    return (weights[:, :, :, None, :] @ v_band).squeeze(3)  # (B, H, S, dh)
