"""Every encoder a study can build must tell a source from its reverse: cross-attention
carries no positions, so if memory(reverse(x)) == reverse(memory(x)) the decoder sees the
same keys and values for x and reverse(x) and copy/reverse are capped near 0.5.

For each position scheme and encoder (bidirectional, causal after a BOS, and the windowed
bidirectional one on both of its paths) the memory of reverse(x) must differ from the reverse
of x's memory by far more than float tolerance. The one exception is NoPE read
bidirectionally, which is reverse- (indeed permutation-) equivariant: that is why params
refuse `positions: none` without `encoder: causal`."""

from __future__ import annotations

import pytest
import torch

from attnbench.config import ModelConfig, TransformerVariant
from attnbench.models import build_model
from attnbench.config import POSITION_SCHEMES as SCHEMES

SIZES = ModelConfig(embed_dim=16, hidden_dim=16)
VOCAB = 12
MARGIN = 1e-3  # far above float32 noise (~1e-6 here)


def encoder(positions: str, encoder: str = "bidirectional", window: int | None = None, seed: int = 0):
    """A seeded two-layer Transformer; model_construct skips params' checks, so the test can
    build the NoPE encoder params refuse."""
    torch.manual_seed(seed)
    variant = TransformerVariant.model_construct(arch="transformer", layers=2, heads=2, ff_dim=32,
                                                 positions=positions, encoder=encoder, window=window)
    return build_model(variant, SIZES, VOCAB).eval()


def sources() -> torch.Tensor:
    """(B, S) unpadded rows of distinct real tokens (ids 3.. ; no PAD, SOS or EOS)."""
    torch.manual_seed(123)
    return torch.stack([3 + torch.randperm(VOCAB - 3)[:7] for _ in range(4)])  # (4, 7)


def reversal_gap(model, src: torch.Tensor, **encode_kwargs) -> float:
    """max |memory(reverse(x)) - reverse(memory(x))| over the batch."""
    with torch.no_grad():
        memory = model.encode(src, **encode_kwargs).memory  # (B, S, D)
        reversed_memory = model.encode(src.flip(1), **encode_kwargs).memory  # (B, S, D)
    assert memory.shape == (*src.shape, SIZES.embed_dim)
    return (reversed_memory - memory.flip(1)).abs().max().item()


ENCODERS = [(p, e) for p in SCHEMES for e in ("bidirectional", "causal") if (p, e) != ("none", "bidirectional")]


@pytest.mark.parametrize(("positions", "kind"), ENCODERS)
def test_every_encoder_tells_a_source_from_its_reverse(positions, kind):
    model = encoder(positions, kind)
    assert model.causal_encoder == (kind == "causal")
    gap = reversal_gap(model, sources())
    assert gap > MARGIN, f"{positions}/{kind}: memory(reverse(x)) == reverse(memory(x)) up to {gap:.2e}"


@pytest.mark.parametrize("positions", [p for p in SCHEMES if p != "none"])
@pytest.mark.parametrize("banded", [False, True])
@pytest.mark.parametrize("window", [1, 3])
def test_the_windowed_encoder_tells_a_source_from_its_reverse(positions, banded, window):
    """Restricted self-attention (|i - j| <= window), on the masked path and on the band."""
    model = encoder(positions, window=window)
    assert model.window == window
    gap = reversal_gap(model, sources(), banded=banded)
    assert gap > MARGIN, f"{positions}/window={window}/banded={banded}: reverse-equivariant up to {gap:.2e}"


def test_the_bidirectional_nope_encoder_is_reverse_equivariant_which_is_why_params_refuse_it():
    """No position signal and a mask symmetric in i, j: reversing the source permutes the rows
    and columns of every score matrix alike, so the memory is reversed with it. The decoder
    then cannot tell x from reverse(x); params therefore require `encoder: causal` for NoPE."""
    from pydantic import ValidationError

    assert reversal_gap(encoder("none"), sources()) < 1e-5
    with pytest.raises(ValidationError, match="positions: none needs encoder: causal"):
        TransformerVariant(arch="transformer", positions="none")
