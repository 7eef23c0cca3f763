"""How token positions enter the Transformer: one scheme per module, chosen per variant.

A scheme acts through up to three hooks, each a no-op unless it overrides it:

    embed(x)                    x_0 = sqrt(d) E y (+ an absolute code)   (sinusoidal)
    rotate(x, positions)        q, k turned by their positions            (rotary)
    bias(q_pos, k_pos, causal)  scores + a per-head bias b_h(i, j)         (ALiBi, T5)

Self-attention (encoder and decoder) uses all three; cross-attention uses none, since source
and target positions count different things. `none` (NoPE) uses no hook: the encoder then
sees a bag of tokens, and only the causal mask tells decoder positions apart (Kazemnejad et
al. 2023).
"""

from __future__ import annotations

from torch import Tensor, nn


class PositionScheme(nn.Module):
    """No positions at all (NoPE); the other schemes override the hooks they use."""

    def embed(self, x: Tensor, offset: int = 0) -> Tensor:
        """x (B, T, D) scaled token embeddings at positions offset.. -> the layer input (B, T, D)."""
        return x

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        """Queries or keys x (B, H, T, dh) at positions (T,) -> the same shape."""
        return x

    def bias(self, query_positions: Tensor, key_positions: Tensor, causal: bool) -> Tensor | None:
        """Added to the attention scores, (H, Tq, S); None where the scheme adds none."""
        return self.offset_bias(key_positions[None, :] - query_positions[:, None], causal)

    def offset_bias(self, offset: Tensor, causal: bool) -> Tensor | None:
        """The bias of key-minus-query offsets j - i of any shape (...) -> (H, ...); the
        schemes' biases depend on the offset alone, which banded attention relies on."""
        return None

    @property
    def uses_scores(self) -> bool:
        """True when rotate or bias act, so attention cannot take the plain fused path."""
        return (type(self).rotate is not PositionScheme.rotate
                or type(self).offset_bias is not PositionScheme.offset_bias)


def build_positions(name: str, dim: int, heads: int) -> PositionScheme:
    """The scheme `positions: <name>` of a Transformer variant names (config.POSITION_SCHEMES)."""
    from attnbench.models.positions.alibi import ALiBi
    from attnbench.models.positions.rotary import Rotary
    from attnbench.models.positions.sinusoidal import Sinusoidal
    from attnbench.models.positions.t5_bias import T5Bias

    schemes = {"none": PositionScheme, "sinusoidal": lambda: Sinusoidal(dim),
               "alibi": lambda: ALiBi(heads), "rotary": lambda: Rotary(dim // heads),
               "t5_bias": lambda: T5Bias(heads)}
    return schemes[name]()

