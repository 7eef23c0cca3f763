"""Every mechanism against its formula, its masks, and its equivalences."""

import math

import pytest
import torch

from attnbench.attention.base import masked_softmax
from attnbench.attention.kinds import KINDS
from attnbench.attention.registry import REGISTRY, SCORES, build_attention
from attnbench.config import RNNVariant

B, TQ, S, H = 3, 4, 6, 8
WINDOW = 2
SETTINGS = {"local_m": {"window": WINDOW}, "local_p": {"window": WINDOW}}


def make(name, seed=0, **extra):
    torch.manual_seed(seed)
    variant = RNNVariant(arch="rnn", attention=name, **{**SETTINGS.get(name, {}), **extra})
    return build_attention(variant, H)


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(B, TQ, H, generator=g)
    keys = torch.randn(B, S, H, generator=g)
    lengths = torch.tensor([6, 3, 1])
    keep = torch.arange(S)[None, :] < lengths[:, None]  # (B, S)
    positions = torch.arange(TQ).expand(B, TQ)
    return query, keys, keep, lengths, positions


def attend(attention, query, keys, keep, positions, **kwargs):
    return attention(query, keys, keep, positions=positions, **kwargs)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_padding_gets_exactly_zero_weight(name):
    attention = make(name).eval()
    query, keys, keep, _, positions = inputs()
    out = attend(attention, query, keys, keep, positions)
    assert out.weights.shape == (B, TQ, S) and out.context.shape == (B, TQ, H)
    assert torch.all(out.weights.masked_select(~keep[:, None, :].expand(-1, TQ, -1)) == 0)
    assert torch.isfinite(out.context).all()


@pytest.mark.parametrize("name", sorted(set(REGISTRY) - {"local_p"}))
def test_rows_sum_to_one(name):
    out = attend(make(name).eval(), *[t for i, t in enumerate(inputs()) if i != 3])
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, TQ))


def test_local_p_rows_are_the_window_softmax_times_the_gaussian():
    attention = make("local_p").eval()  # eval: the full weights
    query, keys, keep, _, positions = inputs()
    out = attend(attention, query, keys, keep, positions)
    assert torch.all(out.weights.sum(-1) <= 1 + 1e-6)
    # Luong et al. 2015 eq. 9, from the weights, not the module's own centers():
    # p_t = S · sigmoid(v_p^T tanh(W_p h_t)), S the source length
    _, _, _, lengths, _ = inputs()
    gate = torch.sigmoid(torch.tanh(query @ attention.W_p.weight.T) @ attention.v_p.weight.T)[..., 0]  # (B, TQ)
    p = lengths[:, None].float() * gate  # (B, TQ)
    distance = torch.arange(S)[None, None, :] - p[:, :, None]
    allowed = keep[:, None, :] & (distance.abs() <= WINDOW)
    align = masked_softmax(attention.score(query, attention.project_keys(keys)), allowed)
    expected = align * torch.exp(-(distance**2) / (2 * (WINDOW / 2) ** 2))
    torch.testing.assert_close(out.weights, expected)


@pytest.mark.parametrize("name", sorted(SCORES))
def test_padding_values_cannot_leak_into_the_context(name):
    attention = make(name)
    query, keys, keep, _, positions = inputs()
    garbage = keys.masked_fill(~keep[..., None], 1e4)
    torch.testing.assert_close(attention(query, garbage, keep).context, attention(query, keys, keep).context)


@pytest.mark.parametrize("name", sorted(SCORES))
def test_batched_equals_each_sequence_alone(name):
    attention = make(name)
    query, keys, keep, lengths, _ = inputs()
    batched = attention(query, keys, keep)
    for i, n in enumerate(lengths.tolist()):
        alone = attention(query[i : i + 1], keys[i : i + 1, :n], keep[i : i + 1, :n])
        torch.testing.assert_close(batched.weights[i, :, :n], alone.weights[0])
        torch.testing.assert_close(batched.context[i], alone.context[0])


def hand_scores(name, attention, q, k):
    """The papers' formulas, one (query, key) pair at a time."""
    if name == "additive":  # Bahdanau: v_a^T tanh(W_a s + U_a h + b)
        return attention.v_a.weight[0] @ torch.tanh(attention.W_a.weight @ q + attention.U_a.weight @ k + attention.U_a.bias)
    if name == "dot":  # Luong: h_t^T h_s
        return q @ k
    if name == "general":  # Luong: h_t^T W_a h_s
        return q @ attention.W_a.weight @ k
    if name == "concat":  # Luong: v_a^T tanh(W_a [h_t; h_s])
        return attention.v_a.weight[0] @ torch.tanh(attention.W_a.weight @ torch.cat([q, k]))
    raise KeyError(name)


def hand_additive_probs(attention, query, keys, keep):
    """Bahdanau's attention distribution by hand: softmax of hand_scores over the real keys,
    0 on padding. (B, TQ, S)"""
    probs = torch.zeros(query.size(0), query.size(1), keys.size(1))
    for i in range(query.size(0)):
        n = int(keep[i].sum())
        for t in range(query.size(1)):
            e = torch.stack([hand_scores("additive", attention, query[i, t], keys[i, j]) for j in range(n)])
            probs[i, t, :n] = torch.softmax(e, 0)
    return probs


@pytest.mark.parametrize("name", sorted(SCORES))
def test_score_matches_the_formula_by_hand(name):
    attention = make(name)
    query, keys, keep, _, _ = inputs()
    out = attention(query, keys, keep)
    for i in range(B):
        n = int(keep[i].sum())
        for t in range(TQ):
            e = torch.stack([hand_scores(name, attention, query[i, t], keys[i, j]) for j in range(n)])
            alpha = torch.softmax(e, 0)
            torch.testing.assert_close(out.weights[i, t, :n], alpha)
            torch.testing.assert_close(out.context[i, t], (alpha[:, None] * keys[i, :n]).sum(0))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_precomputed_key_projection_is_the_same_computation(name):
    attention = make(name).eval()
    query, keys, keep, _, positions = inputs()
    projected = attention.project_keys(keys)
    torch.testing.assert_close(
        attend(attention, query, keys, keep, positions, projected_keys=projected).weights,
        attend(attention, query, keys, keep, positions).weights,
    )


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_local_m_with_a_window_covering_the_source_equals_global(score):
    local = make("local_m", window=S, score=score).eval()
    global_ = make(score)
    global_.load_state_dict(local.scorer.state_dict())
    query, keys, keep, _, positions = inputs()
    torch.testing.assert_close(attend(local, query, keys, keep, positions).weights,
                               global_(query, keys, keep).weights)


def test_local_m_attends_only_inside_its_window():
    query, keys, keep, lengths, positions = inputs()
    out = attend(make("local_m").eval(), query, keys, keep, positions)
    for i, n in enumerate(lengths.tolist()):
        for t in range(TQ):
            center = min(t, n - 1)
            outside = [s for s in range(S) if abs(s - center) > WINDOW]
            assert torch.all(out.weights[i, t, outside] == 0)
            assert out.weights[i, t, max(0, center - WINDOW) : center + WINDOW + 1].sum() > 0.99


def test_local_p_window_follows_the_predicted_position():
    """Steer p_t through the real predictor: with W_p = I and v_p = 5·1, a query of all +1
    gives p_t ~ S and one of all -1 gives p_t ~ 0; the window must move with it."""
    attention = make("local_p").eval()  # eval: the full weights
    with torch.no_grad():
        attention.W_p.weight.copy_(torch.eye(H))
        attention.v_p.weight.fill_(5.0)
    _, keys, _, _, positions = inputs()
    full = torch.ones(B, S, dtype=torch.bool)
    late, early = torch.ones(B, TQ, H), -torch.ones(B, TQ, H)
    centres = []
    for query in (late, early):
        out = attend(attention, query, keys, full, positions)
        p = attention.centers(query, full, None)  # (B, TQ)
        distance = (torch.arange(S)[None, None, :] - p[:, :, None]).abs()
        assert torch.all(out.weights[distance > WINDOW] == 0)
        assert torch.all(out.weights[distance <= WINDOW] > 0)
        centres.append(out.weights.argmax(-1).float().mean())
    assert centres[0] >= S - 1 - WINDOW and centres[1] <= WINDOW


def test_local_p_centre_is_the_source_length_times_a_sigmoid():
    """p_t = S * sigmoid(v_p^T tanh(W_p h_t)) (Luong eq. 9), at points where it is known:
    a zero predictor gives S/2; a saturated one gives S (query along +1) or 0 (along -1)."""
    attention = make("local_p")
    _, _, keep, lengths, _ = inputs()
    ones = torch.ones(B, TQ, H)
    expected_half = (lengths[:, None] / 2).expand(B, TQ).float()
    with torch.no_grad():
        attention.W_p.weight.zero_()
    torch.testing.assert_close(attention.centers(ones, keep, None), expected_half)
    with torch.no_grad():
        attention.W_p.weight.copy_(10 * torch.eye(H))
        attention.v_p.weight.fill_(10.0)
    torch.testing.assert_close(attention.centers(ones, keep, None), lengths[:, None].expand(B, TQ).float())
    torch.testing.assert_close(attention.centers(-ones, keep, None), torch.zeros(B, TQ), atol=1e-6, rtol=0)
    with torch.no_grad():  # an unsaturated point: W_p = I/2, v_p = 1/H: p = S * sigmoid(tanh(1/2))
        attention.W_p.weight.copy_(0.5 * torch.eye(H))
        attention.v_p.weight.fill_(1.0 / H)
    gate = 1.0 / (1.0 + math.exp(-math.tanh(0.5)))
    torch.testing.assert_close(attention.centers(ones, keep, None), gate * lengths[:, None].expand(B, TQ).float())


def test_local_p_gradient_reaches_the_position_predictor():
    attention = make("local_p")
    query, keys, keep, _, positions = inputs()
    attend(attention, query, keys, keep, positions).context.sum().backward()
    assert attention.W_p.weight.grad.abs().sum() > 0 and attention.v_p.weight.grad.abs().sum() > 0


def test_hard_samples_are_one_hot_with_their_log_probability():
    attention = make("hard", reinforce={"expected_context_prob": 0.0}).train()
    query, keys, keep, _, positions = inputs()
    out = attend(attention, query, keys, keep, positions)
    assert torch.all((out.weights == 0) | (out.weights == 1))
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, TQ))
    probs = hand_additive_probs(attention, query, keys, keep)
    chosen = out.weights.argmax(-1)
    assert torch.isfinite(out.log_prob).all()
    torch.testing.assert_close(out.log_prob, probs.gather(-1, chosen[..., None]).squeeze(-1).log())
    torch.testing.assert_close(out.context, keys[torch.arange(B)[:, None], chosen])
    torch.testing.assert_close(out.entropy, -(probs * probs.clamp_min(1e-30).log()).sum(-1))


def test_hard_samples_follow_the_distribution():
    attention = make("hard", reinforce={"expected_context_prob": 0.0}).train()
    query, keys, keep, _, positions = inputs()
    q, k, m = query[:1, :1].expand(4000, 1, H), keys[:1].expand(4000, S, H), keep[:1].expand(4000, S)
    counts = attend(attention, q, k, m, positions[:1, :1].expand(4000, 1)).weights[:, 0].mean(0)
    probs = hand_additive_probs(attention, query[:1, :1], keys[:1], keep[:1])[0, 0]
    torch.testing.assert_close(counts, probs, atol=0.03, rtol=0)


def test_hard_eval_takes_the_argmax_and_soft_sequences_take_the_expectation():
    attention = make("hard")
    query, keys, keep, _, positions = inputs()
    probs = hand_additive_probs(attention, query, keys, keep)
    evaluated = attend(attention.eval(), query, keys, keep, positions)
    assert torch.equal(evaluated.weights.argmax(-1), probs.argmax(-1))
    soft_rows = torch.tensor([True, False, True])
    mixed = attend(attention.train(), query, keys, keep, positions, sequence_state=soft_rows)
    torch.testing.assert_close(mixed.weights[soft_rows], probs[soft_rows])
    assert torch.all(mixed.log_prob[soft_rows] == 0)


def test_masked_softmax_matches_torch_softmax_on_the_kept_prefix():
    scores = torch.randn(2, 3, 5)
    keep = torch.tensor([[True, True, True, False, False], [True] * 5])
    weights = masked_softmax(scores, keep[:, None, :])
    torch.testing.assert_close(weights[0, :, :3], torch.softmax(scores[0, :, :3], -1))
    torch.testing.assert_close(weights[1], torch.softmax(scores[1], -1))


def test_hard_gradients_stay_finite_with_padding():
    attention = make("hard", reinforce={"expected_context_prob": 0.0}).train()
    query, keys, keep, _, positions = inputs()
    out = attend(attention, query, keys, keep, positions)
    (out.log_prob.sum() + out.entropy.sum() + out.context.sum()).backward()
    for parameter in attention.parameters():
        assert torch.isfinite(parameter.grad).all()


def test_the_torch_free_table_config_validates_with_agrees_with_the_classes():
    assert set(KINDS) == set(REGISTRY)
    for name, kind in KINDS.items():
        assert (REGISTRY[name].mechanism, REGISTRY[name].placement) == (kind.mechanism, kind.placement), name


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
@pytest.mark.parametrize("name", ["local_m", "local_p"])
@pytest.mark.parametrize("window", [1, 2, 7])
def test_the_windowed_path_equals_the_masked_one(name, score, window):
    """Gathering only the 2D + 1 keys of each window gives the masked full computation:
    weights (padding included), context and gradients, to float tolerance."""
    attention = make(name, seed=4, score=score, window=window).eval()
    query, keys, keep, _, positions = inputs(seed=5)
    query.requires_grad_(True)
    keys.requires_grad_(True)
    windowed = attention.forward_windowed(query, keys, keep, positions=positions)
    masked = attention.forward_masked(query, keys, keep, positions=positions)
    torch.testing.assert_close(windowed.weights, masked.weights, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(windowed.context, masked.context, atol=1e-6, rtol=1e-5)
    probe = torch.linspace(-1, 1, windowed.context.numel()).view_as(windowed.context)
    grads = [torch.autograd.grad((out.context * probe).sum(), [query, keys, *attention.parameters()])
             for out in (windowed, masked)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_in_training_the_windowed_path_does_not_form_the_full_weights():
    attention = make("local_m").train()
    query, keys, keep, _, positions = inputs()
    out = attention.forward_windowed(query, keys, keep, positions=positions)
    assert out.weights is None
    torch.testing.assert_close(out.context, attention.eval()(query, keys, keep, positions=positions).context)


@pytest.mark.parametrize("name", ["local_m", "local_p"])
def test_long_sources_take_the_windowed_path_and_short_ones_the_masked(name):
    """forward switches at WINDOWED_FROM source positions: in training only the windowed path
    leaves the full weights unformed."""
    from attnbench.attention.window import WINDOWED_FROM

    attention = make(name).train()
    for length, windowed in ((WINDOWED_FROM - 1, False), (WINDOWED_FROM, True)):
        keys = torch.randn(2, length, H)
        keep = torch.ones(2, length, dtype=torch.bool)
        positions = torch.arange(3)[None].expand(2, -1)
        out = attention(torch.randn(2, 3, H), keys, keep, positions=positions)
        assert (out.weights is None) == windowed, length
