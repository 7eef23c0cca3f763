"""Absolute sinusoidal positions, Vaswani et al. 2017 §3.5, added to the embeddings:

    PE(pos, 2i) = sin(pos / 10000^(2i/d))      PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    x_0 = sqrt(d) E y + PE
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from attnbench.models.positions import PositionScheme


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """PE (length, dim): sin on even channels, cos on odd, wavelengths 2pi .. 10000 * 2pi."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]  # (T, 1)
    rate = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim)
    )  # (D/2,) = 10000^(-2i/d)
    pe = torch.zeros(length, dim, device=device)  # (T, D)
    pe[:, 0::2] = torch.sin(position * rate)  # (T, D/2)
    pe[:, 1::2] = torch.cos(position * rate)  # (T, D/2)
    return pe


class Sinusoidal(PositionScheme):
    def __init__(self, dim: int):
        super().__init__()
        assert dim % 2 == 0, f"sinusoidal positions need an even dim, got {dim}"
        self.dim = dim

    def embed(self, x: Tensor, offset: int = 0) -> Tensor:
        return x + sinusoidal_positions(offset + x.size(1), self.dim, x.device)[offset:]  # (B, T, D)
