"""Which keys a Transformer query may attend to, as boolean `allow` tensors, True = may attend.

That is the convention of F.scaled_dot_product_attention, and the OPPOSITE of
nn.MultiheadAttention's key_padding_mask and attn_mask (True = ignore). Every query row allows
at least one key: a row with none would give NaN, and a NaN anywhere in the encoder memory
poisons cross-attention even under weight 0.
"""

from __future__ import annotations

import torch
from torch import Tensor


def encoder_allow_mask(keep_mask: Tensor, window: int | None) -> Tensor:
    """Encoder self-attention mask (B, S, S), True = query i may attend to key j.

        allow_ij = (j is real AND (window is None OR |i - j| <= window)) OR i == j

    The diagonal keeps every row non-empty (a padding query attends at least to itself), so
    no NaN enters the memory; a real query never sees a padding key.
    """
    length = keep_mask.size(1)
    allow = keep_mask[:, None, :].expand(-1, length, -1)  # (B, S, S) key j is real
    pos = torch.arange(length, device=keep_mask.device)  # (S,)
    if window is not None:
        band = (pos[:, None] - pos[None, :]).abs() <= window  # (S, S)
        allow = allow & band  # (B, S, S)
    return allow | (pos[:, None] == pos[None, :])  # (B, S, S)


def causal_allow_mask(length: int, device: torch.device | None = None) -> Tensor:
    """(1, T, T), True on and below the diagonal: position i sees positions <= i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()[None]  # (1, T, T)


def memory_allow_mask(keep_mask: Tensor) -> Tensor:
    """Cross-attention mask (B, 1, S): every query sees every real source token."""
    return keep_mask[:, None, :]  # (B, 1, S)


def every_key_allowed(length: int, device: torch.device | None = None) -> Tensor:
    """(1, 1, S), all True: a cached decoding step's query sees every key so far."""
    return torch.ones(1, 1, length, dtype=torch.bool, device=device)  # (1, 1, S)
