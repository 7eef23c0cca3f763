"""Benchmark section 10 times the same computation on both sides: the windowed and masked
models it builds train to the same weights, and each really takes its own path."""

import pytest
import torch

from attnbench.bench.windowed import pinned_model
from attnbench.cost.curves import exact_length_batch
from attnbench.training.objective import train_step


@pytest.mark.parametrize("name", ["local_p", "transformer_local"])
def test_pinned_windowed_and_masked_models_train_alike(params, name, monkeypatch):
    from attnbench.models import transformer

    batch = exact_length_batch(9, 3, params.data.vocab_size)
    models = {}
    for windowed in (True, False):
        calls = []
        real = transformer.banded_attention
        monkeypatch.setattr(transformer, "banded_attention", lambda *a: calls.append(1) or real(*a))
        model = pinned_model(params, name, windowed)
        # plain SGD: Adam's first step is about lr * sign(g), which would magnify float noise
        train_step(model, batch, torch.optim.SGD(model.parameters(), lr=0.5), params.train.grad_clip)
        if name == "local_p":  # in training only the windowed path leaves the full weights unformed
            out = model.attention(torch.randn(3, 2, params.model.hidden_dim), torch.randn(3, 9, params.model.hidden_dim),
                                  torch.ones(3, 9, dtype=torch.bool))
            assert (out.weights is None) == windowed
        else:
            assert bool(calls) == windowed
        models[windowed] = model
    for (key, a), b in zip(models[True].state_dict().items(), models[False].state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=key)
