"""ALiBi, Press et al. 2022 ("Train Short, Test Long"), §3: no position embeddings; each
head h adds a linear penalty on distance to its scores,

    score_h(i, j) = q_i . k_j / sqrt(d_h) - m_h (i - j)        (j <= i, causal)
    m_h = 2^(-8h/H),  h = 1..H                                  (H a power of two)

For H not a power of two the paper takes the 2^floor(log2 H) slopes of that power, then
every other slope of the next power.

The paper's models are causal. For the bidirectional encoder, keys behind the query and keys
ahead of it get different slopes per head:

    b_h(i, j) = -m_h (i - j)      j <= i   (behind: the paper's slopes, as in the causal form)
    b_h(i, j) = -m'_h (j - i)     j >  i   (ahead)
    m'_h = m_{H+1-h}                       (the same slopes in reverse head order)

so the set of slopes ahead is the paper's. Where that would give a head the same slope both
ways (the middle head h = (H+1)/2 of an odd H, H = 1 included) it takes m'_h = m_h / 2
instead, so every head is asymmetric.

Why not the symmetric -m_h |i - j| (the usual adaptation): with no position embedding it makes
the encoder order-blind up to reversal. Reversing the source, i -> S-1-i, leaves every |i - j|
and so every score unchanged, hence memory(reverse(x)) = reverse(memory(x)); cross-attention
carries no positions, so the decoder cannot tell x from reverse(x) (copy and reverse capped
near 0.5).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from attnbench.models.positions import PositionScheme


def alibi_slopes(heads: int) -> list[float]:
    """m_1 .. m_H, the geometric sequence of the paper (and its rule for other H)."""
    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    if heads & (heads - 1) == 0:
        return power_of_two(heads)
    lower = 2 ** math.floor(math.log2(heads))
    return power_of_two(lower) + power_of_two(2 * lower)[0::2][: heads - lower]


def alibi_ahead_slopes(heads: int) -> list[float]:
    """m'_1 .. m'_H, the bidirectional encoder's slopes for keys ahead of the query (j > i):
    m_{H+1-h}, or m_h / 2 for the one head (odd H) where that equals m_h."""
    behind = alibi_slopes(heads)
    ahead = behind[::-1]
    return [a if a != b else b / 2 for a, b in zip(ahead, behind, strict=True)]


class ALiBi(PositionScheme):
    def __init__(self, heads: int):
        super().__init__()
        self.register_buffer("slopes", torch.tensor(alibi_slopes(heads)), persistent=False)  # (H,)
        ahead = torch.tensor(alibi_ahead_slopes(heads))  # (H,) for keys j > i, bidirectional only
        self.register_buffer("ahead_slopes", ahead, persistent=False)

    def offset_bias(self, offset: Tensor, causal: bool) -> Tensor:
        distance = (-offset).float()  # (...) i - j
        if causal:
            return -self.slopes.view(-1, *[1] * offset.dim()) * distance  # (H, ...)
        behind = -self.slopes.view(-1, *[1] * offset.dim()) * distance  # (H, ...) j <= i
        ahead = -self.ahead_slopes.view(-1, *[1] * offset.dim()) * -distance  # (H, ...) j > i
        return torch.where(distance >= 0, behind, ahead)  # (H, ...)
