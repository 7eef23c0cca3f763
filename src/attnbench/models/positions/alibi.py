"""ALiBi, Press et al. 2022 ("Train Short, Test Long"), §3: no position embeddings; each
head h adds a linear penalty on distance to its scores,

    score_h(i, j) = q_i . k_j / sqrt(d_h) - m_h (i - j)        (j <= i, causal)
    m_h = 2^(-8h/H),  h = 1..H                                  (H a power of two)

For H not a power of two the paper takes the 2^floor(log2 H) slopes of that power, then
every other slope of the next power. The paper's models are causal; for the bidirectional
encoder this uses the symmetric -m_h |i - j|, the usual adaptation.
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


class ALiBi(PositionScheme):
    def __init__(self, heads: int):
        super().__init__()
        self.register_buffer("slopes", torch.tensor(alibi_slopes(heads)), persistent=False)  # (H,)

    def offset_bias(self, offset: Tensor, causal: bool) -> Tensor:
        distance = (-offset).float()  # (...) i - j
        if not causal:
            distance = distance.abs()
        return -self.slopes.view(-1, *[1] * offset.dim()) * distance  # (H, ...)
