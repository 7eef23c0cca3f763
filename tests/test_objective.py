"""The one training objective: its loss against PyTorch's own mean cross-entropy, and the
hand-written step (benchmark, cost pipeline) against the Lightning fit (stages, canary)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnbench.bench.fit_loop import hand_fit, lightning_fit, max_weight_diff
from attnbench.config import load_params
from attnbench.cost import curves as cost
from attnbench.data.tasks import PAD, generate_splits
from attnbench.training.lit import quiet_lightning
from attnbench.training.objective import teacher_forced
from conftest import REPO


@pytest.fixture(scope="module")
def params():
    return load_params(REPO / "params.yaml")


def test_loss_is_pytorch_mean_cross_entropy_over_real_tokens(params):
    model = cost.build_variant(params, "bahdanau")
    batch = cost.exact_length_batch(5, 4, params.data.vocab_size)
    batch.tgt_out[0, 3:] = PAD  # padding must not count
    forward = teacher_forced(model, batch)
    expected = F.cross_entropy(forward.out.logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)
    torch.testing.assert_close(forward.loss, expected)
    assert int(forward.real.sum()) == batch.tgt_out.numel() - 3


@pytest.mark.parametrize("variant", ["lstm", "bahdanau"])
def test_hand_loop_trains_to_the_lightning_fits_bytes(params, variant, tmp_path):
    """Same initial weights, data order, clipping and fused Adam: identical weights, so the
    step the benchmark and the cost pipeline time is the step the study trains with."""
    # a clip small enough to act on every step, so that both paths must clip alike
    train = params.train.model_copy(update={"batch_size": 8, "grad_clip": 0.05})
    small = params.model_copy(update={"train": train})
    examples = generate_splits("copy", params.data.vocab_size, (3, 6), 6, 40, 2, 1, seed=0)["train"]
    template = cost.build_variant(small, variant, seed=0)
    with quiet_lightning():
        by_lightning = lightning_fit(template, small, examples, steps=12, seed=0, workdir=str(tmp_path))
    by_hand = hand_fit(template, small, examples, steps=12, seed=0)
    assert max_weight_diff(by_lightning, by_hand) == 0.0
    assert max_weight_diff(by_hand, template) > 0  # it trained


def test_cost_measures_every_variant_at_every_length(params):
    measured = cost.measure(params, ["rnn", "transformer"], [4, 8], batch_size=2, rounds=2)
    assert list(measured) == ["rnn", "transformer"]
    for rows in measured.values():
        assert [r["length"] for r in rows] == [4, 8]
        assert all(0 < r["step_s_min"] <= r["step_s"] for r in rows)
        assert all(r["peak_bytes"] is None or r["peak_bytes"] > 0 for r in rows)
