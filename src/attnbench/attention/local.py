"""Local attention of Luong et al. 2015 (§3.2): attend to a window [p_t - D, p_t + D].

    local-m (monotonic):  p_t = t
    local-p (predictive): p_t = S · sigmoid(v_p^T tanh(W_p h_t))              (eq. 9)
    a_t(s) = align(h_t, h_s) · exp(-(s - p_t)^2 / (2 sigma^2)),  sigma = D/2   (eq. 10)

`align` is the softmax of a global score (dot, general or concat) over the real source
positions inside the window; everything outside gets exactly 0. local-p's Gaussian
factor follows eq. 10 literally, so its rows sum to at most 1 (the Gaussian is not
renormalised), and it is what lets gradients reach W_p and v_p. S is each source's
real length. At decoder steps past the end of the source, local-m's p_t is clamped to
the last real position so the window is never empty (the paper leaves this case open).

The window is computed on its own: each query gathers the 2D + 1 keys from ceil(p_t - D)
on, scores and weights only those, so time and memory grow like T·D, not T·S
(`forward_windowed`). `forward_masked` scores every key and masks the rest: the reference
the windowed path must equal (tests/test_attention.py). In training the windowed path does
not form the full (B, Tq, S) weights (nothing reads them); in eval mode it scatters them back
for the heatmaps. `forward` takes the windowed path for sources of WINDOWED_FROM positions or
more, the masked one below (window.py, shared with the Transformer's banded encoder).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnbench.attention.base import Attention, AttentionOutput, masked_softmax
from attnbench.attention.kinds import Placement
from attnbench.attention.mechanism import LOCAL
from attnbench.attention.window import gather_window, takes_window_path, window_slots


class LocalAttention(Attention):
    placement = Placement.AFTER_STEP
    mechanism = LOCAL

    def __init__(self, scorer: Attention, window: int, predictive: bool, query_dim: int):
        super().__init__()
        self.scorer = scorer  # a global mechanism whose score() we restrict to the window
        self.window = window
        self.predictive = predictive
        if predictive:
            self.W_p = nn.Linear(query_dim, query_dim, bias=False)
            self.v_p = nn.Linear(query_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.scorer.project_keys(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return self.scorer.score(query, projected_keys)

    def centers(self, query: Tensor, keep_mask: Tensor, positions: Tensor | None) -> Tensor:
        """p_t for every query: (B, Tq) float."""
        source_len = keep_mask.sum(dim=1, keepdim=True).to(query.dtype)  # (B, 1)
        if self.predictive:
            gate = torch.sigmoid(self.v_p(torch.tanh(self.W_p(query)))).squeeze(-1)  # (B, Tq)
            return source_len * gate  # (B, Tq)
        if positions is None:
            raise ValueError("local-m attention needs the decoder positions")
        return torch.minimum(positions.to(query.dtype), source_len - 1)  # (B, Tq)

    def forward(self, query, keys, keep_mask, positions=None, projected_keys=None,
                sequence_state=None) -> AttentionOutput:
        """query (B, Tq, H) against keys (B, S, H) on the window: gathered or masked by S."""
        path = self.forward_windowed if takes_window_path(keys.size(1)) else self.forward_masked
        return path(query, keys, keep_mask, positions, projected_keys)

    def forward_windowed(self, query, keys, keep_mask, positions=None, projected_keys=None) -> AttentionOutput:
        """Each query's 2D + 1 window keys gathered, O(T·D)."""
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        p = self.centers(query, keep_mask, positions)  # (B, Tq)
        batch, steps, length = p.size(0), p.size(1), keys.size(1)
        width = 2 * self.window + 1
        # (B, Tq, W) each: window positions from ceil(p_t - D), their gather index, in range
        source_pos, index, inside = window_slots(torch.ceil(p - self.window), width, length)
        distance = source_pos - p[:, :, None]  # (B, Tq, W)
        real = keep_mask.gather(1, index.flatten(1)).view(batch, steps, width)  # (B, Tq, W)
        allowed = inside & real & (distance.abs() <= self.window)  # (B, Tq, W)
        window_keys = gather_window(projected_keys, index)  # (B, Tq, W, A)
        scores = self.score(query.reshape(batch * steps, 1, -1),
                            window_keys.flatten(0, 1)).view(batch, steps, width)  # (B, Tq, W)
        weights = masked_softmax(scores, allowed)  # (B, Tq, W)
        if self.predictive:
            sigma = self.window / 2
            weights = weights * torch.exp(-(distance**2) / (2 * sigma**2))  # (B, Tq, W)
        context = (weights[:, :, None, :] @ gather_window(keys, index)).squeeze(2)  # (B, Tq, H)
        full = None
        if not self.training:  # (B, Tq, S) for heatmaps; out-of-range slots carry weight 0
            full = weights.new_zeros(batch, steps, length).scatter_add_(2, index, weights)
        return AttentionOutput(context=context, weights=full)

    def forward_masked(self, query, keys, keep_mask, positions=None, projected_keys=None) -> AttentionOutput:
        """Every key scored, those outside the window masked: O(T·S), the reference."""
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = self.score(query, projected_keys)  # (B, Tq, S)
        p = self.centers(query, keep_mask, positions)  # (B, Tq)
        source_pos = torch.arange(keys.size(1), device=keys.device, dtype=query.dtype)  # (S,)
        distance = source_pos[None, None, :] - p[:, :, None]  # (B, Tq, S)
        allowed = keep_mask[:, None, :] & (distance.abs() <= self.window)  # (B, Tq, S)
        weights = masked_softmax(scores, allowed)  # (B, Tq, S)
        if self.predictive:
            sigma = self.window / 2
            weights = weights * torch.exp(-(distance**2) / (2 * sigma**2))  # (B, Tq, S)
        return AttentionOutput(context=weights @ keys, weights=weights)

