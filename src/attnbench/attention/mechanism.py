"""The mechanism families the study compares, each with its cost per layer.

Every attention class and model class says which family it is (`mechanism`); config, the
cost pipeline and the report read that instead of comparing variant names. Costs are in the
source length n (target length m = n + 1 in the study's tasks), after Vaswani et al. 2017,
Table 1, and Luong et al. 2015 (local attention's window D).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mechanism:
    family: str  # as the report and the cost tables name it
    complexity: str  # per layer
    exponent: int  # of n in `complexity`


RECURRENT = Mechanism("recurrent", "O(n·d²)", 1)
GLOBAL = Mechanism("global attention", "O(n·m·d)", 2)
LOCAL = Mechanism("local attention", "O(n·D·d)", 1)
HARD = Mechanism("hard attention", "O(n·m·d)", 2)  # the distribution it samples from is global
SELF = Mechanism("self-attention", "O(n²·d)", 2)
RESTRICTED_SELF = Mechanism("restricted self-attention", "O(r·n·d) encoder, O(n²·d) decoder", 2)
# a Transformer's encoder alone (the cost pipeline's encoder rows)
SELF_ENCODER = Mechanism("self-attention (encoder)", "O(n²·d)", 2)
RESTRICTED_SELF_ENCODER = Mechanism("restricted self-attention (encoder)", "O(r·n·d)", 1)


def self_attention(window: int | None) -> Mechanism:
    """A Transformer's family: encoder self-attention restricted to |i - j| <= window, or not."""
    return SELF if window is None else RESTRICTED_SELF


def encoder_self_attention(window: int | None) -> Mechanism:
    """The same for the encoder stack alone."""
    return SELF_ENCODER if window is None else RESTRICTED_SELF_ENCODER
