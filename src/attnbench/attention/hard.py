"""Stochastic hard attention of Xu et al. 2015 (§4.1), on Bahdanau's additive score.

    alpha_t = softmax(e_t)                 e_tj = v_a^T tanh(W_a s_{t-1} + U_a h_j)
    s_t ~ Multinoulli(alpha_t)             context z_t = h_{s_t}   (one-hot weights)

Sampling is not differentiable: the scoring parameters learn only through REINFORCE
(lit.py), from log p(s_t) = log alpha_{t, s_t}, with a moving-average baseline and an
entropy bonus. As Xu et al. did, a sequence uses the expected context sum_j alpha_tj h_j
instead with probability `expected_context_prob` (drawn once per sequence; such steps
have log_prob 0 and learn by backpropagation). In eval mode the position is the argmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from attnbench.attention.additive import AdditiveAttention
from attnbench.attention.base import AttentionOutput, masked_softmax
from attnbench.attention.kinds import Placement
from attnbench.attention.mechanism import HARD


class HardAttention(AdditiveAttention):
    """Samples from the distribution of the soft score it subclasses (Bahdanau's additive)."""

    placement = Placement.BEFORE_STEP
    mechanism = HARD

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int, expected_context_prob: float = 0.5):
        super().__init__(query_dim, key_dim, attn_dim)
        self.expected_context_prob = expected_context_prob

    def sequence_state(self, keep_mask: Tensor) -> Tensor | None:
        """(B,) bool: which sequences use the expected (soft) context; training only."""
        if not self.training:
            return None
        draw = torch.rand(keep_mask.size(0), device=keep_mask.device)  # (B,)
        return draw < self.expected_context_prob

    def forward(self, query, keys, keep_mask, positions=None, projected_keys=None,
                sequence_state=None) -> AttentionOutput:
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        allowed = keep_mask[:, None, :]  # (B, 1, S)
        scores = self.score(query, projected_keys)  # (B, Tq, S)
        probs = masked_softmax(scores, allowed)  # (B, Tq, S)
        # log alpha with padding set to 0 (not -inf): 0 * log 0 would put NaN into the gradients
        log_probs = torch.log_softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        log_probs = log_probs.masked_fill(~allowed, 0.0)  # (B, Tq, S)
        if self.training:
            chosen = torch.multinomial(probs.flatten(0, 1), 1).view(probs.shape[:2])  # (B, Tq)
        else:
            chosen = probs.argmax(dim=-1)  # (B, Tq)
        one_hot = F.one_hot(chosen, probs.size(-1)).to(probs.dtype)  # (B, Tq, S)
        log_prob = log_probs.gather(-1, chosen[..., None]).squeeze(-1)  # (B, Tq)
        entropy = -(probs * log_probs).sum(dim=-1)  # (B, Tq)
        weights = one_hot
        if sequence_state is not None:  # these sequences take the expected context
            soft = sequence_state[:, None, None]  # (B, 1, 1)
            weights = torch.where(soft, probs, one_hot)  # (B, Tq, S)
            log_prob = log_prob.masked_fill(sequence_state[:, None], 0.0)  # (B, Tq)
        return AttentionOutput(context=weights @ keys, weights=weights, log_prob=log_prob, entropy=entropy)
