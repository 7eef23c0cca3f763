"""Windows of keys gathered on their own, so that attention on a window of 2D + 1 keys costs
O(T·D), not O(T·S): local attention (local.py, a window around each query's p_t) and the
Transformer's restricted self-attention (dot_product.banded_attention, the band |i - j| <= D).

    slot w of query t holds key position  start_t + w,   w = 0 .. 2D

Slots past either end of the source are clamped to a real index (so gather stays in range)
and reported as outside: callers give them weight exactly 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Source length from which the windowed paths (local attention, transformer_local's banded
# encoder) run instead of the masked ones; a constant, so the bytes never depend on the
# machine. Below it masking was faster on the study's CPU at the batch sizes used
# (`make bench`, section 10: the gathers cost more than the keys they skip).
WINDOWED_FROM = 128


def takes_window_path(source_length: int) -> bool:
    """Whether a window-restricted attention over `source_length` keys gathers its windows."""
    return source_length >= WINDOWED_FROM


def window_slots(starts: Tensor, width: int, length: int) -> tuple[Tensor, Tensor, Tensor]:
    """The key positions of each query's window: starts (...) -> positions (..., W) (starts'
    dtype), their index clamped into 0 .. length-1 (..., W) long, and inside (..., W) bool."""
    offsets = torch.arange(width, device=starts.device, dtype=starts.dtype)  # (W,)
    positions = starts[..., None] + offsets  # (..., W)
    inside = (positions >= 0) & (positions <= length - 1)  # (..., W)
    return positions, positions.clamp(0, length - 1).long(), inside


def gather_window(x: Tensor, index: Tensor) -> Tensor:
    """x (B, S, F) rows at index (B, Tq, W) -> (B, Tq, W, F)."""
    batch, steps, width = index.shape
    flat = index.flatten(1)[:, :, None].expand(-1, -1, x.size(-1))  # (B, Tq*W, F)
    return x.gather(1, flat).view(batch, steps, width, x.size(-1))  # (B, Tq, W, F)
