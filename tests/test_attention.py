import pytest
import torch

from attnbench.attention import REGISTRY, AdditiveAttention, build_attention, masked_softmax

B, TQ, S, H = 3, 4, 6, 8


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(B, TQ, H, generator=g)
    keys = torch.randn(B, S, H, generator=g)
    lengths = torch.tensor([6, 3, 1])
    keep = torch.arange(S)[None, :] < lengths[:, None]  # (B, S)
    return query, keys, keep, lengths


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_padding_gets_exactly_zero_and_rows_sum_to_one(name):
    torch.manual_seed(0)
    attention = build_attention(name, H, H, 5)
    query, keys, keep, _ = inputs()
    out = attention(query, keys, keep)
    assert out.weights.shape == (B, TQ, S) and out.context.shape == (B, TQ, H)
    assert torch.all(out.weights.masked_select(~keep[:, None, :].expand(-1, TQ, -1)) == 0)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, TQ))
    assert out.log_prob is None


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_padding_values_cannot_leak_into_the_context(name):
    torch.manual_seed(0)
    attention = build_attention(name, H, H, 5)
    query, keys, keep, _ = inputs()
    garbage = keys.masked_fill(~keep[..., None], 1e4)  # huge values where padded
    torch.testing.assert_close(attention(query, garbage, keep).context, attention(query, keys, keep).context)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_batched_equals_each_sequence_alone(name):
    """A padded batch must give each sequence exactly what it gets unpadded."""
    torch.manual_seed(0)
    attention = build_attention(name, H, H, 5)
    query, keys, keep, lengths = inputs()
    batched = attention(query, keys, keep)
    for i, n in enumerate(lengths.tolist()):
        alone = attention(query[i : i + 1], keys[i : i + 1, :n], keep[i : i + 1, :n])
        torch.testing.assert_close(batched.weights[i, :, :n], alone.weights[0])
        torch.testing.assert_close(batched.context[i], alone.context[0])


def test_additive_score_matches_the_formula_by_hand():
    torch.manual_seed(0)
    attention = AdditiveAttention(H, H, 5)
    query, keys, keep, _ = inputs()
    out = attention(query, keys, keep)
    W, U, b, v = attention.W_a.weight, attention.U_a.weight, attention.U_a.bias, attention.v_a.weight[0]
    for i in range(B):
        for t in range(TQ):
            n = int(keep[i].sum())
            e = torch.stack([v @ torch.tanh(W @ query[i, t] + U @ keys[i, j] + b) for j in range(n)])
            alpha = torch.exp(e) / torch.exp(e).sum()
            torch.testing.assert_close(out.weights[i, t, :n], alpha)
            torch.testing.assert_close(out.context[i, t], (alpha[:, None] * keys[i, :n]).sum(0))


def test_precomputed_key_projection_is_the_same_computation():
    torch.manual_seed(0)
    attention = AdditiveAttention(H, H, 5)
    query, keys, keep, _ = inputs()
    projected = attention.project_keys(keys)
    torch.testing.assert_close(
        attention(query, keys, keep, projected_keys=projected).weights, attention(query, keys, keep).weights
    )


def test_masked_softmax_matches_torch_softmax_on_the_kept_prefix():
    scores = torch.randn(2, 3, 5)
    keep = torch.tensor([[True, True, True, False, False], [True] * 5])
    weights = masked_softmax(scores, keep)
    torch.testing.assert_close(weights[0, :, :3], torch.softmax(scores[0, :, :3], -1))
    torch.testing.assert_close(weights[1], torch.softmax(scores[1], -1))
