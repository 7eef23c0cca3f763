import pytest
import torch
import torch.nn.functional as F

from attnbench.config import ModelConfig, RNNVariant, TransformerVariant
from attnbench.data.files import collate
from attnbench.data.tasks import PAD, generate_splits, vocab_total
from attnbench.models import build_model
from attnbench.models.rnn_seq2seq import module_step, top_hidden
from attnbench.training.decode import greedy_decode, score
from conftest import assert_padding_invariant

VOCAB = 6
SIZES = ModelConfig(embed_dim=8, hidden_dim=16)
VARIANTS = {
    "rnn": RNNVariant(arch="rnn", cell="rnn", attention="none"),
    "lstm": RNNVariant(arch="rnn", cell="lstm", attention="none"),
    "bahdanau": RNNVariant(arch="rnn", cell="lstm", attention="additive"),
    "gru_additive": RNNVariant(arch="rnn", cell="gru", attention="additive"),
    "luong_dot": RNNVariant(arch="rnn", attention="dot"),
    "luong_general": RNNVariant(arch="rnn", attention="general"),
    "luong_concat": RNNVariant(arch="rnn", attention="concat"),
    "luong_general_feed": RNNVariant(arch="rnn", attention="general", input_feeding=True),
    "local_m": RNNVariant(arch="rnn", attention="local_m", window=2),
    "local_p": RNNVariant(arch="rnn", attention="local_p", window=2),
    "hard": RNNVariant(arch="rnn", attention="hard"),
}
LUONG = ["luong_dot", "luong_general", "luong_concat", "local_m", "local_p"]


def model_for(name, seed=0):
    torch.manual_seed(seed)
    return build_model(VARIANTS[name], SIZES, vocab_total(VOCAB)).eval()


def mixed_batch(seed=0, n=12):
    examples = generate_splits("reverse", VOCAB, (2, 7), 7, n, 2, 1, seed=seed)["train"]
    return collate(examples)


def stepwise_logits(model, src, tgt_in):
    """Reference: teacher forcing as an explicit loop over model.step."""
    encoded = model.encode(src)
    state = model.start(encoded)
    logits = []
    for t in range(tgt_in.size(1)):
        step = model.step(tgt_in[:, t], state, encoded)
        state = step.state
        logits.append(step.logits)
    return torch.stack(logits, 1)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_forward_equals_the_step_by_step_path(name):
    model, batch = model_for(name), mixed_batch()
    torch.testing.assert_close(model(batch.src, batch.tgt_in).logits, stepwise_logits(model, batch.src, batch.tgt_in))


@pytest.mark.parametrize("name", LUONG)
def test_luong_batched_training_path_equals_step_by_step(name):
    """The batched path (one RNN call, one attention over all steps) is what training uses."""
    model, batch = model_for(name).train(), mixed_batch()
    assert model.luong and not model.input_feeding
    batched = model(batch.src, batch.tgt_in)
    stepwise = model.forward_stepwise(model.encode(batch.src), batch.tgt_in)
    torch.testing.assert_close(batched.logits, stepwise.logits)
    torch.testing.assert_close(batched.weights, stepwise.weights)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_padding_does_not_change_any_sequence(name):
    assert_padding_invariant(model_for(name), mixed_batch())


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_an_unpadded_batch_encodes_as_the_packed_path_does(cell, monkeypatch):
    """Without padding the encoder runs unpacked (linear backward); states, final state and
    gradients equal the packed path's. Only a padded batch is packed."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from attnbench.models import rnn_seq2seq

    packed_calls = []
    monkeypatch.setattr(rnn_seq2seq, "pack_padded_sequence",
                        lambda *a, **k: packed_calls.append(1) or pack_padded_sequence(*a, **k))

    torch.manual_seed(0)
    model = build_model(RNNVariant(arch="rnn", cell=cell, attention="none"), SIZES, vocab_total(VOCAB))
    src = torch.randint(3, vocab_total(VOCAB), (4, 9))
    keep = src != PAD
    memory, final = model.run_encoder(model.embed(src), keep)
    assert not packed_calls
    model.run_encoder(model.embed(src), keep & (torch.arange(9) < 7))  # two padding positions
    assert len(packed_calls) == 1
    packed = pack_padded_sequence(model.embed(src), keep.sum(1), batch_first=True, enforce_sorted=False)
    packed_out, packed_final = model.encoder(packed)
    reference = pad_packed_sequence(packed_out, batch_first=True)[0]
    torch.testing.assert_close(memory, reference)
    torch.testing.assert_close(top_hidden(final), top_hidden(packed_final))
    weights = list(model.encoder.parameters())
    for a, b in zip(torch.autograd.grad(memory.sum() + top_hidden(final).sum(), weights),
                    torch.autograd.grad(reference.sum() + top_hidden(packed_final).sum(), weights), strict=True):
        torch.testing.assert_close(a, b)


def test_fixed_context_is_the_encoders_last_real_state():
    model, batch = model_for("lstm"), mixed_batch()
    encoded = model.encode(batch.src)
    last = (batch.src != PAD).sum(1) - 1
    torch.testing.assert_close(top_hidden(encoded.final), encoded.memory[torch.arange(len(batch)), last])


def test_attention_weights_over_the_source_skip_padding():
    model, batch = model_for("bahdanau"), mixed_batch()
    weights = model(batch.src, batch.tgt_in).weights  # (B, T, S)
    keep = batch.src != PAD
    assert torch.all(weights.masked_select(~keep[:, None, :].expand_as(weights)) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))
    assert model_for("lstm")(batch.src, batch.tgt_in).weights is None


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_greedy_equals_teacher_forced_argmax_on_its_own_output(name):
    """Free-running decoding must be the same computation as teacher forcing fed with the
    decoder's own previous outputs (any model, trained or not)."""
    model, batch = model_for(name, seed=3), mixed_batch()
    steps = batch.tgt_out.size(1)
    decoded = greedy_decode(model, batch.src, max_len=steps)
    for i in range(len(batch)):
        tokens = decoded.tokens[i]
        n = int((batch.src[i] != PAD).sum())
        stop = int((tokens != PAD).sum())
        tgt_in = torch.cat([torch.tensor([1]), tokens[: stop - 1]])[None]  # SOS + own outputs
        teacher = model(batch.src[i : i + 1, :n], tgt_in).logits.argmax(-1)[0]
        assert teacher.tolist() == tokens[:stop].tolist()


FITS = {  # variant -> (config, learning rate, steps)
    "lstm": (VARIANTS["lstm"], 1e-2, 400),
    "bahdanau": (VARIANTS["bahdanau"], 1e-2, 400),
    "transformer": (TransformerVariant(arch="transformer", layers=1, heads=2, ff_dim=64), 3e-3, 200),
}


@pytest.mark.parametrize("name", sorted(FITS))
def test_a_perfect_model_decodes_greedily_like_teacher_forcing(name):
    """Overfit a tiny fixed batch of copy; then greedy output == teacher-forced argmax == target."""
    variant, lr, steps = FITS[name]
    examples = generate_splits("copy", VOCAB, (3, 5), 5, 16, 2, 1, seed=0)["train"]
    batch = collate(examples)
    torch.manual_seed(0)
    model = build_model(variant, ModelConfig(embed_dim=16, hidden_dim=32), vocab_total(VOCAB))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        logits = model(batch.src, batch.tgt_in).logits
        loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        teacher = model(batch.src, batch.tgt_in).logits.argmax(-1).masked_fill(batch.tgt_out == PAD, PAD)
    decoded = greedy_decode(model, batch.src, max_len=batch.tgt_out.size(1))
    assert torch.equal(teacher, batch.tgt_out), "the model did not fit the batch"
    assert torch.equal(decoded.tokens, teacher)
    assert bool(score(decoded.tokens, batch.tgt_out).seq_correct.all())
    if decoded.weights is not None:
        assert decoded.weights.shape == (len(batch), batch.tgt_out.size(1), batch.src.size(1))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_decoder_step_is_the_modules_step_byte_for_byte(cell):
    """The step-wise decoders call the cell function on nn.RNN/LSTM/GRU's own weights; it
    must give the floats of the module itself, forward and gradients, so the committed
    study does not move."""
    torch.manual_seed(0)
    model = build_model(RNNVariant(arch="rnn", cell=cell, attention="additive"), SIZES, vocab_total(VOCAB))
    inputs = torch.randn(5, model.decoder.input_size)  # (B, I)
    state = torch.randn(5, SIZES.hidden_dim)  # (B, H)
    if cell == "lstm":
        state = (state, torch.randn(5, SIZES.hidden_dim))
    weights = list(model.decoder.parameters())
    results = []
    for step in (model.decoder_step, lambda x, s: module_step(model.decoder, x, s)):
        new_state = step(inputs, state)
        parts = new_state if isinstance(new_state, tuple) else (new_state,)
        loss = sum((part * torch.linspace(-1, 1, part.numel()).view_as(part)).sum() for part in parts)
        results.append([*parts, *torch.autograd.grad(loss, weights)])
    for cell_value, module_value in zip(*results, strict=True):
        assert torch.equal(cell_value, module_value)
