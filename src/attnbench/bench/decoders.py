"""Section 7: the step-wise decoders (`bahdanau`, `hard`) against their previous implementation.

Teacher forcing of these decoders loops over steps in Python, because the context of step i
depends on the state s_{i-1}. Each step used to call the nn.LSTM module on a length-1
sequence (`rnn_seq2seq.module_step`); it now calls the cell function on the module's own
weights (`RNNSeq2Seq.decoder_step`), the same floats without the module's per-call work.
Both candidates train a model of the same seed on the same batch; their losses after every
timed step must stay equal, bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from attnbench.bench.table import Report, ms, times, verdict
from attnbench.config import Params
from attnbench.cost.curves import build_variant, exact_length_batch
from attnbench.cost.timing import compare, ratio
from attnbench.models.rnn_seq2seq import module_step
from attnbench.training.objective import make_optimizer, train_step

TARGET = 2.0  # issue 9: the step-wise decoders at least 2x faster per training step


def decoder_section(params: Params, variants: Sequence[str], length: int, batch_size: int,
                    rounds: int, min_round_s: float) -> Report:
    """ms per training step (fwd + cross-entropy + bwd + clip + Adam) of each implementation."""
    batch = exact_length_batch(length, batch_size, params.data.vocab_size)
    rows, headline = [], []
    for variant in variants:
        models = {"module call": build_variant(params, variant).train(),
                  "cell function": build_variant(params, variant).train()}
        previous = models["module call"]
        previous.decoder_step = functools.partial(module_step, previous.decoder)  # the old path
        losses: dict[str, list] = {name: [] for name in models}

        def step(name: str) -> None:
            model = models[name]
            losses[name].append(train_step(model, batch, optimizers[name], params.train.grad_clip))

        optimizers = {name: make_optimizer(m.parameters(), params.train) for name, m in models.items()}
        # The same seed and batch: the two must train identically. Sampling (hard) draws
        # from torch's global generator, so each candidate gets it in the same state.
        result = compare({name: functools.partial(_seeded, step, name) for name in models},
                         rounds=rounds, warmup=1, min_round_s=min_round_s)
        same = all(a.item() == b.item() for a, b in zip(*losses.values()))
        med, low = ratio(result["module call"], result["cell function"])
        headline.append(f"{variant} {times(med)} ({verdict(med, TARGET, at_least=True)})")
        rows.append([variant, str(length), ms(result["module call"].median), ms(result["module call"].min),
                     ms(result["cell function"].median), ms(result["cell function"].min),
                     times(med), times(low), "yes" if same else "NO"])
    return Report(
        title=f"7. Step-wise decoders: cell function vs module call per step (batch {batch_size}, "
              f"L={length}, training step)",
        headline=f"Module call / cell function (ratio of medians; target >= {TARGET:.0f}x): "
                 + "; ".join(headline),
        headers=["variant", "L", "module med", "module min", "cell med", "cell min",
                 "speedup med", "speedup min", "same losses"],
        rows=rows,
        notes=["Times in ms per training step: forward, cross-entropy, backward, gradient clipping "
               "and fused Adam, as the study runs it (hard: without its REINFORCE term).",
               "same losses: every timed step of the two candidates gave the same loss, bit for bit "
               "(tests/test_models.py checks the step's forward and gradients byte for byte)."],
    )


def _seeded(step, name: str) -> None:
    """Every call of either candidate starts torch's generator at the same state."""
    import torch

    torch.manual_seed(0)
    step(name)
