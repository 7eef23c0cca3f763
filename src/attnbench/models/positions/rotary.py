"""Rotary position embedding (RoPE), Su et al. 2021 (RoFormer), eq. 34: each pair of
channels (2k, 2k+1) of a query or key at position m turns by the angle m theta_k,

    [x'_2k, x'_2k+1] = [x_2k cos(m theta_k) - x_2k+1 sin(m theta_k),
                        x_2k sin(m theta_k) + x_2k+1 cos(m theta_k)]
    theta_k = 10000^(-2k/d_h)

so q'_m . k'_n = q_m^T R(theta (n - m)) k_n depends on the offset n - m alone.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnbench.models.positions import PositionScheme


class Rotary(PositionScheme):
    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        assert head_dim % 2 == 0, f"rotary positions need an even head dim, got {head_dim}"
        theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (dh/2,)
        self.register_buffer("theta", theta, persistent=False)

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        angle = positions.float()[:, None] * self.theta  # (T, dh/2)
        cos, sin = angle.cos(), angle.sin()  # (T, dh/2) each
        even, odd = x[..., 0::2], x[..., 1::2]  # (B, H, T, dh/2) each
        turned = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)  # (B, H, T, dh/2, 2)
        return turned.flatten(-2)  # (B, H, T, dh), pairs back in place
