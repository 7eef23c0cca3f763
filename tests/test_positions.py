"""Position schemes of the Transformer against references written from their papers, and
the invariants that matter: ALiBi linear in distance, rotary scores depending on the offset
alone, T5's buckets, NoPE's order-blind encoder and order-aware causal decoder."""

from __future__ import annotations

import math

import pytest
import torch

from attnbench.config import POSITION_SCHEMES, ModelConfig, TransformerVariant
from attnbench.data.files import collate
from attnbench.data.tasks import EOS, SOS, Example
from attnbench.models import build_model
from attnbench.models.positions import build_positions
from attnbench.models.positions.alibi import alibi_slopes
from attnbench.models.positions.rotary import Rotary
from attnbench.models.positions.t5_bias import relative_buckets
from conftest import assert_padding_invariant

SCHEMES = list(POSITION_SCHEMES)


def test_alibi_slopes_are_the_papers_geometric_sequence():
    assert alibi_slopes(8) == [2.0 ** -k for k in range(1, 9)]  # Press et al.: 1/2, 1/4, ..., 1/256
    assert alibi_slopes(4) == [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8]
    assert alibi_slopes(6) == [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8, 2.0 ** -1, 2.0 ** -3]


# The bidirectional encoder's slopes for keys ahead of the query (j > i), written out: the
# paper's slopes in reverse head order, except a head that would get its own slope back (the
# middle one of an odd H, H = 1 included) takes half of it.
AHEAD_SLOPES = {
    1: [2.0 ** -9],
    2: [2.0 ** -8, 2.0 ** -4],
    3: [2.0 ** -2, 2.0 ** -9, 2.0 ** -4],  # behind: 2^-4, 2^-8, 2^-2
    4: [2.0 ** -8, 2.0 ** -6, 2.0 ** -4, 2.0 ** -2],
}


@pytest.mark.parametrize("heads", [1, 2, 3, 4])
@pytest.mark.parametrize("causal", [True, False])
def test_alibi_bias_is_minus_slope_times_distance(causal, heads):
    """Causal: -m_h (i - j) (Press et al. §3). Bidirectional: -m_h (i - j) behind the query,
    -m'_h (j - i) ahead of it, with m'_h != m_h for every head (the symmetric -m_h |i - j|
    would make the encoder reverse-equivariant: tests/test_order_sensitivity.py)."""
    scheme = build_positions("alibi", dim=16, heads=heads)
    pos = torch.arange(7)
    bias = scheme.bias(pos, pos, causal)  # (H, T, T)
    assert bias.shape == (heads, 7, 7)
    for h, (slope, ahead) in enumerate(zip(alibi_slopes(heads), AHEAD_SLOPES[heads], strict=True)):
        assert ahead != slope  # every head asymmetric
        for i in range(7):
            for j in range(7):
                if causal or j <= i:
                    expected = -slope * (i - j)
                else:
                    expected = -ahead * (j - i)
                assert bias[h, i, j].item() == pytest.approx(expected, rel=1e-6, abs=0.0)
    if heads > 1 and heads % 2 == 0:  # the slopes ahead are the paper's slopes, permuted
        assert sorted(AHEAD_SLOPES[heads]) == sorted(alibi_slopes(heads))
    assert torch.equal(bias[:, 1:, 1:], scheme.bias(pos[1:], pos[1:], causal))  # shift invariant


def test_alibi_bias_depends_on_the_offset_alone_for_banded_attention():
    """offset_bias(j - i) of any shape gives bias(i, j) of the full matrix, both ways."""
    scheme = build_positions("alibi", dim=16, heads=4)
    pos = torch.arange(9)
    offsets = torch.arange(-4, 5)  # the band's j - i, as banded_attention asks
    for causal in (True, False):
        full = scheme.bias(pos, pos, causal)  # (H, T, T)
        band = scheme.offset_bias(offsets, causal)  # (H, W)
        for i in range(9):
            for w, d in enumerate(offsets.tolist()):
                if 0 <= i + d < 9:
                    assert torch.equal(band[:, w], full[:, i, i + d])


def rotation_matrix(position: int, head_dim: int) -> torch.Tensor:
    """RoFormer eq. 15's block-diagonal R^d_{Theta,m}, written out."""
    matrix = torch.zeros(head_dim, head_dim, dtype=torch.float64)
    for k in range(head_dim // 2):
        angle = position * 10000.0 ** (-2 * k / head_dim)
        c, s = math.cos(angle), math.sin(angle)
        matrix[2 * k: 2 * k + 2, 2 * k: 2 * k + 2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    return matrix


def test_rotary_turns_each_vector_by_its_positions_rotation_matrix():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 8)  # (B, H, T, dh)
    positions = torch.tensor([0, 1, 4, 9, 30])
    turned = Rotary(8).rotate(x, positions)
    for t, m in enumerate(positions.tolist()):
        expected = x[:, :, t].double() @ rotation_matrix(m, 8).T
        torch.testing.assert_close(turned[:, :, t].double(), expected, atol=1e-5, rtol=1e-5)


def test_rotary_scores_depend_only_on_the_offset():
    torch.manual_seed(1)
    q, k = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    rotary = Rotary(8)
    pos = torch.arange(6)
    scores = rotary.rotate(q, pos) @ rotary.rotate(k, pos).transpose(-2, -1)
    shifted = rotary.rotate(q, pos + 17) @ rotary.rotate(k, pos + 17).transpose(-2, -1)
    torch.testing.assert_close(scores, shifted, atol=1e-4, rtol=1e-4)
    plain = q @ k.transpose(-2, -1)
    assert not torch.allclose(scores, plain, atol=1e-3)  # it did turn them


def t5_bucket_reference(offset: int, causal: bool, buckets: int = 32, max_distance: int = 128) -> int:
    """Raffel et al. 2020's bucketing, one offset at a time, in plain Python."""
    bucket = 0
    if causal:
        n = max(-offset, 0)
    else:
        buckets //= 2
        bucket += buckets if offset > 0 else 0
        n = abs(offset)
    max_exact = buckets // 2
    if n < max_exact:
        return bucket + n
    large = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact) * (buckets - max_exact))
    return bucket + min(large, buckets - 1)


@pytest.mark.parametrize("causal", [True, False])
def test_t5_buckets_match_the_reference(causal):
    offsets = torch.arange(-300, 301)
    got = relative_buckets(offsets, causal).tolist()
    assert got == [t5_bucket_reference(o, causal) for o in offsets.tolist()]


def test_t5_bias_looks_up_one_learned_scalar_per_head_and_bucket():
    scheme = build_positions("t5_bias", dim=16, heads=4)
    pos = torch.arange(5)
    bias = scheme.bias(pos, pos, causal=False)  # (H, T, T)
    for i in range(5):
        for j in range(5):
            torch.testing.assert_close(bias[:, i, j], scheme.table.weight[t5_bucket_reference(j - i, False)])


SIZES = ModelConfig(embed_dim=16, hidden_dim=16)


def transformer(positions: str, seed: int = 0, encoder: str | None = None):
    """Two layers a side; NoPE reads its source causally unless `encoder` says otherwise
    (model_construct skips the check that refuses a bidirectional NoPE encoder in params)."""
    torch.manual_seed(seed)
    encoder = encoder or ("causal" if positions == "none" else "bidirectional")
    variant = TransformerVariant.model_construct(arch="transformer", layers=2, heads=2, ff_dim=32,
                                                 positions=positions, encoder=encoder)
    return build_model(variant, SIZES, 9).eval()


def mixed_batch():
    examples = [Example("train", tuple(3 + (i * 5 + n) % 6 for i in range(n)), tuple(3 + i % 6 for i in range(n)) + (EOS,))
                for n in (2, 6, 4, 5)]
    return collate(examples)


@pytest.mark.parametrize("positions", SCHEMES)
def test_every_scheme_is_padding_invariant_and_steps_like_teacher_forcing(positions):
    model, batch = transformer(positions), mixed_batch()
    assert_padding_invariant(model, batch)
    with torch.no_grad():
        forced = model(batch.src, batch.tgt_in).logits
        encoded, state = model.encode(batch.src), None
        state = model.start(encoded)
        for t in range(batch.tgt_in.size(1)):
            step = model.step(batch.tgt_in[:, t], state, encoded)
            state = step.state
            torch.testing.assert_close(step.logits, forced[:, t], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("positions", ["alibi", "rotary", "t5_bias"])
def test_the_fused_kernel_and_the_written_out_path_agree_with_a_scheme(positions):
    model, batch = transformer(positions), mixed_batch()
    with torch.no_grad():
        fused = model(batch.src, batch.tgt_in).logits
        naive = model(batch.src, batch.tgt_in, need_weights=True).logits
    torch.testing.assert_close(fused, naive, atol=1e-5, rtol=1e-4)


def test_sinusoidal_is_the_default_and_keeps_the_models_weights():
    default = build_model(TransformerVariant(arch="transformer", layers=1, heads=2, ff_dim=8), SIZES, 9)
    assert default.encoder_positions.__class__.__name__ == "Sinusoidal"
    torch.manual_seed(0)
    a = build_model(TransformerVariant(arch="transformer", layers=1, heads=2, ff_dim=8), SIZES, 9)
    torch.manual_seed(0)
    b = build_model(TransformerVariant(arch="transformer", layers=1, heads=2, ff_dim=8, positions="alibi"), SIZES, 9)
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[key], b.state_dict()[key]) for key in a.state_dict())


def test_bidirectional_nope_encoder_is_blind_to_order_and_the_causal_decoder_is_not():
    """Why params refuse positions: none without encoder: causal: the encoder's memory of a
    shuffled source is the shuffled memory (permutation-equivariant), so copy is unlearnable."""
    model = transformer("none", encoder="bidirectional")
    src = torch.tensor([[3, 4, 5, 6, 7]])
    order = torch.tensor([4, 2, 0, 3, 1])
    with torch.no_grad():
        memory = model.encode(src).memory
        shuffled = model.encode(src[:, order]).memory
        torch.testing.assert_close(shuffled, memory[:, order], atol=1e-5, rtol=1e-4)
        tgt = torch.tensor([[SOS, 5, 5, 5, 5]])  # the same token at positions 1..4
        hidden, _ = model.decode(tgt, model.encode(src))
    states = hidden[0, 1:]  # (4, D)
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.allclose(states[a], states[b], atol=1e-4), (a, b)


@pytest.mark.parametrize("positions", SCHEMES)
def test_causal_encoder_reads_left_to_right_and_counts_repeated_tokens(positions):
    """encoder: causal: a source token's memory depends on the tokens up to it only, and the
    BOS lets equal tokens at different positions differ even without positions (NoPE)."""
    model = transformer(positions, encoder="causal")
    with torch.no_grad():
        memory = model.encode(torch.tensor([[5, 5, 5, 5, 6, 7]])).memory[0]  # (S, D)
        changed = model.encode(torch.tensor([[5, 5, 5, 5, 8, 3]])).memory[0]
    torch.testing.assert_close(changed[:4], memory[:4], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(changed[4], memory[4], atol=1e-4)
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.allclose(memory[a], memory[b], atol=1e-4), (a, b)
    assert_padding_invariant(model, mixed_batch())


def test_params_refuse_an_encoder_that_cannot_see_order():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="positions: none needs encoder: causal"):
        TransformerVariant(arch="transformer", positions="none")
    with pytest.raises(ValidationError, match="window .* is for a bidirectional encoder"):
        TransformerVariant(arch="transformer", positions="none", encoder="causal", window=3)
    assert TransformerVariant(arch="transformer", positions="none", encoder="causal").encoder == "causal"


@pytest.mark.parametrize("positions", SCHEMES)
def test_cached_decoding_equals_recomputing_the_prefix(positions):
    """Greedy decoding with the key/value cache gives the logits, weights and tokens of
    rerunning the decoder over the whole prefix at every step."""
    from attnbench.training.decode import greedy_decode

    model, batch = transformer(positions, seed=3), mixed_batch()
    with torch.no_grad():
        encoded = model.encode(batch.src)
        cache, prefix = model.start(encoded), model.start(encoded).prefix
        prev = torch.full((len(batch),), SOS)
        for _ in range(9):
            cached = model.step(prev, cache, encoded)
            again = model.step_recomputing(prev, prefix, encoded)
            torch.testing.assert_close(cached.logits, again.logits, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(cached.weights, again.weights, atol=1e-6, rtol=1e-4)
            assert torch.equal(cached.state.prefix, again.state)
            cache, prefix, prev = cached.state, again.state, cached.logits.argmax(-1)
        decoded = greedy_decode(model, batch.src, max_len=9)
    assert torch.equal(decoded.tokens[:, 0], model.step(torch.full((len(batch),), SOS), model.start(encoded), encoded).logits.argmax(-1))


@pytest.mark.parametrize("positions", SCHEMES)
@pytest.mark.parametrize("window", [1, 3, 9])
def test_banded_encoder_attention_equals_the_masked_one(positions, window):
    """transformer_local's encoder on the band only = the full score matrix masked to the
    band, padding included, for every position scheme; gradients too."""
    torch.manual_seed(2)
    variant = TransformerVariant.model_construct(arch="transformer", layers=2, heads=2, ff_dim=32,
                                                 window=window, positions=positions)
    model = build_model(variant, SIZES, 9)
    src = mixed_batch().src
    banded, masked = model.encode(src, banded=True).memory, model.encode(src, banded=False).memory
    torch.testing.assert_close(banded, masked, atol=1e-5, rtol=1e-4)
    probe = torch.linspace(-1, 1, banded.numel()).view_as(banded)
    params = [p for p in model.encoder_layers.parameters()]
    for a, b in zip(torch.autograd.grad((banded * probe).sum(), params),
                    torch.autograd.grad((masked * probe).sum(), params), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_transformer_local_encodes_long_sources_on_the_band_and_short_ones_masked(monkeypatch):
    """encode() picks the band from WINDOWED_FROM source positions on (like local attention)."""
    from attnbench.attention.window import WINDOWED_FROM
    from attnbench.models import transformer as module

    calls = []
    real = module.banded_attention
    monkeypatch.setattr(module, "banded_attention", lambda *args: calls.append(args[0].size(2)) or real(*args))
    variant = TransformerVariant(arch="transformer", layers=1, heads=2, ff_dim=8, window=3)
    model = build_model(variant, SIZES, 9).eval()
    with torch.no_grad():
        for length in (WINDOWED_FROM - 1, WINDOWED_FROM):
            model.encode(torch.full((1, length), 4))
    assert calls == [WINDOWED_FROM]
