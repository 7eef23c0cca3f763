"""The training objective: cross-entropy, REINFORCE for hard attention, and that every
variant of the study can fit a tiny batch through the real Lightning Trainer."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from attnbench.config import ModelConfig, RNNVariant, TrainConfig, load_params
from attnbench.data.files import collate
from attnbench.data.tasks import PAD, generate_splits, vocab_total
from attnbench.models import build_model
from attnbench.training.decode import greedy_decode, score
from attnbench.training.lit import Seq2SeqModule, reinforce_terms
from attnbench.training.objective import token_nll
from conftest import REPO

VOCAB = 6


def hard_model(seed=0):
    torch.manual_seed(seed)
    variant = RNNVariant(arch="rnn", attention="hard", reinforce={"expected_context_prob": 0.0})
    return build_model(variant, ModelConfig(embed_dim=8, hidden_dim=16), vocab_total(VOCAB)).train()


def batch_of(task="copy", n=16, seed=0):
    return collate(generate_splits(task, VOCAB, (3, 5), 5, n, 2, 1, seed=seed)["train"])


def scorer_grads(loss, model):
    model.zero_grad()
    loss.backward()
    scorer = model.attention
    return [p.grad for p in (scorer.W_a.weight, scorer.U_a.weight, scorer.v_a.weight)]


def test_without_reinforce_no_gradient_reaches_the_hard_scorer():
    model, batch = hard_model(), batch_of()
    out = model(batch.src, batch.tgt_in)
    nll = token_nll(out.logits, batch.tgt_out)
    for grad in scorer_grads(nll.sum() / (batch.tgt_out != PAD).sum(), model):
        assert grad is None or torch.all(grad == 0)


def test_reinforce_gradient_reaches_the_hard_scorer():
    model, batch = hard_model(), batch_of()
    out = model(batch.src, batch.tgt_in)
    real = batch.tgt_out != PAD
    nll = token_nll(out.logits, batch.tgt_out)
    score_loss, _, _ = reinforce_terms(out, nll, real, baseline=torch.tensor(-5.0))
    for grad in scorer_grads(score_loss, model):
        assert grad is not None and grad.abs().sum() > 0


def test_reinforce_terms_match_the_estimator_by_hand():
    model, batch = hard_model(), batch_of(n=4)
    out = model(batch.src, batch.tgt_in)
    real = batch.tgt_out != PAD
    nll = token_nll(out.logits, batch.tgt_out).detach()
    baseline = torch.tensor(-1.5)
    score_loss, entropy, reward = reinforce_terms(out, nll, real, baseline)
    expected, tokens = 0.0, int(real.sum())
    rewards = []
    for i in range(4):
        n = int(real[i].sum())
        r = -float(nll[i, :n].sum()) / n  # mean log-likelihood of sequence i
        rewards.append(r)
        expected += -(r - baseline.item()) * float(out.log_prob[i, :n].sum())
    assert score_loss.item() == pytest.approx(expected / tokens, rel=1e-5)
    assert reward.item() == pytest.approx(sum(rewards) / 4, rel=1e-5)
    assert entropy.item() == pytest.approx(float((out.entropy * real).sum()) / tokens, rel=1e-5)


def study_variants():
    return load_params(REPO / "params.yaml").variants


@pytest.mark.parametrize("name", sorted(study_variants()))
def test_every_variant_overfits_a_tiny_copy_batch(name):
    """A wiring bug (a wrong mask or target shift) stops a model from fitting the batch; a detached
    context does not (lstm fits it without attention): the gradient test below catches that."""
    pl.seed_everything(0, workers=True, verbose=False)
    variant = study_variants()[name]
    model = build_model(variant, ModelConfig(embed_dim=16, hidden_dim=32), vocab_total(VOCAB))
    train = TrainConfig(max_steps=300, batch_size=16, lr=1e-2, grad_clip=1.0, val_every_n_steps=300)
    module = Seq2SeqModule(model, train, name=name, reinforce=variant.reinforce_settings)
    examples = generate_splits("copy", VOCAB, (3, 5), 5, 16, 2, 1, seed=0)["train"]
    loader = DataLoader(examples * 300, batch_size=16, collate_fn=collate)  # the same batch, again
    trainer = pl.Trainer(max_steps=300, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         gradient_clip_val=1.0, deterministic=True, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loader)
    batch = collate(examples)
    model.eval()
    decoded = greedy_decode(model, batch.src, max_len=batch.tgt_out.size(1))
    accuracy = score(decoded.tokens, batch.tgt_out).seq_correct.float().mean().item()
    assert accuracy == 1.0, f"{name} reached {accuracy:.2f} greedy exact match"


@pytest.mark.parametrize("name", sorted(study_variants()))
def test_every_parameter_of_every_variant_gets_a_gradient(name):
    """The overfit test above cannot see a detached context: `lstm`, with no attention at all,
    fits the same batch. Here one teacher-forced loss must reach every parameter tensor, the
    attention's included, so that a `.detach()` on the context (or a score left out of the
    graph) leaves some parameter without gradient and fails."""
    from attnbench.training.objective import teacher_forced

    torch.manual_seed(0)
    variant = study_variants()[name]
    model = build_model(variant, ModelConfig(embed_dim=16, hidden_dim=32), vocab_total(VOCAB)).train()
    teacher_forced(model, batch_of()).loss.backward()
    without = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert without == [], f"{name}: no gradient reaches {without}"
