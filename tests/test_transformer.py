import math

import pytest
import torch
from torch import nn

from attnbench.attention.dot_product import naive_attention, sdpa_attention
from attnbench.attention.masks import causal_allow_mask, encoder_allow_mask
from attnbench.data.files import collate
from attnbench.data.tasks import FIRST_SYMBOL, PAD, SOS, generate_splits, vocab_total
from attnbench.models.positions.sinusoidal import sinusoidal_positions
from attnbench.models.transformer import MultiHeadAttention, TransformerSeq2Seq
from conftest import assert_padding_invariant

VOCAB = 6
V = vocab_total(VOCAB)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: a second intra-op thread only adds overhead, and on a busy
    machine OpenMP threads waiting on each other made training ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_for(window=None, layers=2, seed=0):
    torch.manual_seed(seed)
    return TransformerSeq2Seq(V, dim=32, heads=4, layers=layers, ff_dim=64, window=window).eval()


def mixed_batch(seed=0, n=12):
    """Sources of lengths 2-7, right-padded; targets padded too."""
    examples = generate_splits("reverse", VOCAB, (2, 7), 7, n, 2, 1, seed=seed)["train"]
    batch = collate(examples)
    assert (batch.src == PAD).any() and (batch.tgt_out == PAD).any()  # the batch is padded
    return batch


def stepwise(model, src, tgt_in):
    """Reference: teacher forcing as an explicit loop over model.step."""
    encoded = model.encode(src)
    state = model.start(encoded)
    logits, weights = [], []
    for t in range(tgt_in.size(1)):
        step = model.step(tgt_in[:, t], state, encoded)
        state = step.state
        logits.append(step.logits)
        weights.append(step.weights)
    assert torch.equal(state.prefix, tgt_in)  # the state holds the prefix fed so far
    return torch.stack(logits, 1), torch.stack(weights, 1)


def random_symbols(*shape, generator=None):
    return torch.randint(FIRST_SYMBOL, V, shape, generator=generator)


# --- attention against references -----------------------------------------------------------


def paired_attention(dim=16, heads=4, seed=0):
    """Our MultiHeadAttention and torch's, holding the same weights."""
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():  # non-zero biases, so a bias mix-up shows
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    ours = MultiHeadAttention(dim, heads).eval()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_equals_torch_with_a_key_padding_mask(need_weights):
    ours, ref = paired_attention()
    query, memory = torch.randn(3, 4, 16), torch.randn(3, 6, 16)
    keep = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        out, weights = ours(query, memory, memory, keep[:, None, :], need_weights=need_weights)
        ref_out, ref_weights = ref(query, memory, memory, key_padding_mask=~keep)  # True = ignore
    torch.testing.assert_close(out, ref_out)
    if need_weights:
        torch.testing.assert_close(weights, ref_weights)
        assert torch.all(weights[~keep[:, None, :].expand_as(weights)] == 0)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_equals_torch_with_a_causal_mask(need_weights):
    ours, ref = paired_attention(seed=1)
    x = torch.randn(2, 5, 16)
    allow = causal_allow_mask(5)  # (1, T, T)
    with torch.no_grad():
        out, weights = ours(x, x, x, allow, need_weights=need_weights)
        ref_out, ref_weights = ref(x, x, x, attn_mask=~allow[0])  # True = ignore
    torch.testing.assert_close(out, ref_out)
    if need_weights:
        torch.testing.assert_close(weights, ref_weights)
        assert torch.all(weights.triu(diagonal=1) == 0)


def padding_allow():
    keep = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    return keep[:, None, None, :]  # (B, 1, 1, S)


@pytest.mark.parametrize(
    "allow", [padding_allow(), causal_allow_mask(7)[:, None]], ids=["padding", "causal"]
)
def test_sdpa_attention_equals_naive_attention(allow):
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 8) for _ in range(3))  # (B, H, T, dh)
    out, weights = naive_attention(q, k, v, allow)
    torch.testing.assert_close(sdpa_attention(q, k, v, allow), out)
    assert torch.all(weights[~allow.expand_as(weights)] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    manual = torch.softmax((q @ k.transpose(-2, -1) / 8**0.5).masked_fill(~allow, -1e9), -1) @ v
    torch.testing.assert_close(out, manual)


# --- embedding ------------------------------------------------------------------------------


def test_positions_are_the_papers_sinusoids():
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))."""
    length, dim = 9, 8
    expected = [
        [(math.sin if c % 2 == 0 else math.cos)(pos / 10000 ** ((c - c % 2) / dim)) for c in range(dim)]
        for pos in range(length)
    ]
    torch.testing.assert_close(sinusoidal_positions(length, dim), torch.tensor(expected))


def test_token_embedding_is_scaled_by_sqrt_dim_plus_positions():
    model, batch = model_for(), mixed_batch()
    x = model.embed_tokens(batch.src, model.embed, model.encoder_positions)  # (B, S, D)
    expected = model.embed.weight[batch.src] * math.sqrt(32) + sinusoidal_positions(batch.src.size(1), 32)
    torch.testing.assert_close(x, expected)
    assert torch.all(model.embed.weight[PAD] == 0)


# --- restricted (windowed) encoder self-attention -------------------------------------------


def test_encoder_allow_mask_is_the_band_over_real_keys_plus_the_diagonal():
    keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    expected_row2 = [
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [0, 1, 1, 0, 0],  # key 3 is padding
        [0, 0, 1, 1, 0],  # padding query: the real key in its band, and itself
        [0, 0, 0, 0, 1],  # padding query: only itself
    ]
    allow = encoder_allow_mask(keep, window=1)
    assert allow.tolist()[1] == [[bool(a) for a in row] for row in expected_row2]
    assert allow[0].tolist() == (torch.arange(5)[:, None] - torch.arange(5)).abs().le(1).tolist()
    full = encoder_allow_mask(keep, window=None)
    assert torch.all(full[0]) and torch.equal(full[1, :3], keep[1].expand(3, -1))
    assert torch.all(encoder_allow_mask(keep, window=0)[1] == torch.eye(5, dtype=torch.bool))


def test_encoder_self_attention_weights_are_zero_outside_the_band_and_on_padding():
    model, batch, window = model_for(window=1), mixed_batch(), 1
    keep = batch.src != PAD
    layer = model.encoder_layers[0]
    with torch.no_grad():
        h = layer.norm_attn(model.embed_tokens(batch.src, model.embed, model.encoder_positions))
        _, weights = layer.attn(h, h, h, encoder_allow_mask(keep, window), need_weights=True)  # (B, S, S)
    pos = torch.arange(batch.src.size(1))
    outside = (pos[:, None] - pos[None, :]).abs() > window  # (S, S)
    assert torch.all(weights[:, outside] == 0)
    real_query_padding_key = keep[:, :, None] & ~keep[:, None, :]  # (B, S, S)
    assert torch.all(weights[real_query_padding_key] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))
    with torch.no_grad():  # a padding query far from any real key still attends to itself
        assert torch.isfinite(model.encode(batch.src).memory).all()


@pytest.mark.parametrize("window", [6, 9])  # 6 = S - 1, the smallest window that covers all
def test_a_window_covering_the_source_equals_full_attention(window):
    batch = mixed_batch()
    assert batch.src.size(1) == 7
    full = model_for(window=None)
    banded = TransformerSeq2Seq(V, dim=32, heads=4, layers=2, ff_dim=64, window=window).eval()
    banded.load_state_dict(full.state_dict())
    with torch.no_grad():
        expected = full(batch.src, batch.tgt_in).logits
        torch.testing.assert_close(banded(batch.src, batch.tgt_in).logits, expected)
        narrow = TransformerSeq2Seq(V, dim=32, heads=4, layers=2, ff_dim=64, window=5).eval()
        narrow.load_state_dict(full.state_dict())
        assert not torch.allclose(narrow(batch.src, batch.tgt_in).logits, expected)


@pytest.mark.parametrize("layers", [1, 2])
def test_restricted_encoder_sees_only_its_window(layers):
    """Changing source token j changes memory at i exactly when |i - j| <= layers * window."""
    window, length = 2, 11
    model = model_for(window=window, layers=layers)
    generator = torch.Generator().manual_seed(0)
    src = random_symbols(1, length, generator=generator)
    pos = torch.arange(length)
    with torch.no_grad():
        memory = model.encode(src).memory[0]  # (S, D)
        for j in range(length):
            changed = src.clone()
            changed[0, j] = FIRST_SYMBOL + (src[0, j] - FIRST_SYMBOL + 1) % VOCAB
            moved = (model.encode(changed).memory[0] - memory).abs().amax(-1)  # (S,)
            reach = (pos - j).abs() <= layers * window
            assert torch.all(moved[~reach] == 0), f"j={j}: memory moved outside the window"
            assert torch.all(moved[reach] > 1e-4), f"j={j}: memory did not move inside the window"


# --- the seq2seq protocol -------------------------------------------------------------------


@pytest.mark.parametrize("window", [None, 1])
def test_forward_equals_the_step_by_step_path(window):
    model, batch = model_for(window=window), mixed_batch()
    with torch.no_grad():
        logits, weights = stepwise(model, batch.src, batch.tgt_in)
        forward = model(batch.src, batch.tgt_in)
        with_weights = model(batch.src, batch.tgt_in, need_weights=True)
    assert forward.weights is None
    torch.testing.assert_close(forward.logits, logits)
    torch.testing.assert_close(with_weights.logits, logits)
    torch.testing.assert_close(with_weights.weights, weights)


@pytest.mark.parametrize("window", [None, 2])
def test_padding_does_not_change_any_sequence(window):
    assert_padding_invariant(model_for(window=window), mixed_batch())


def test_decoder_is_causal():
    model, batch = model_for(), mixed_batch()
    generator = torch.Generator().manual_seed(1)
    steps = batch.tgt_in.size(1)
    with torch.no_grad():
        logits = model(batch.src, batch.tgt_in).logits  # (B, T, V)
        for t in range(steps - 1):
            tgt_in = batch.tgt_in.clone()
            tgt_in[:, t + 1 :] = random_symbols(len(batch), steps - t - 1, generator=generator)
            changed = model(batch.src, tgt_in).logits
            torch.testing.assert_close(changed[:, : t + 1], logits[:, : t + 1])
            assert not torch.allclose(changed[:, t + 1 :], logits[:, t + 1 :])


def test_cross_attention_weights_skip_padding_and_sum_to_one():
    model, batch = model_for(), mixed_batch()
    with torch.no_grad():
        weights = model(batch.src, batch.tgt_in, need_weights=True).weights  # (B, T, S)
    assert weights.shape == (*batch.tgt_in.shape, batch.src.size(1))
    keep = batch.src != PAD
    assert torch.all(weights.masked_select(~keep[:, None, :].expand_as(weights)) == 0)
    assert torch.all(weights.masked_select(keep[:, None, :].expand_as(weights)) > 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))


def test_start_state_is_the_empty_prefix_and_step_appends():
    model, batch = model_for(), mixed_batch()
    with torch.no_grad():
        encoded = model.encode(batch.src)
        state = model.start(encoded)
        assert state.prefix.shape == (len(batch), 0) and state.prefix.dtype == torch.long
        assert [cache.keys.size(2) for cache in state.layers] == [0] * len(model.decoder_layers)
        step = model.step(torch.full((len(batch),), SOS), state, encoded)
    assert step.state.prefix.tolist() == [[SOS]] * len(batch)
    assert [cache.keys.size(2) for cache in step.state.layers] == [1] * len(model.decoder_layers)
    assert step.logits.shape == (len(batch), V) and step.weights.shape == batch.src.shape
