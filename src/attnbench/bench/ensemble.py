"""Section 8: the seeds of one variant trained as one batched ensemble, against one by one.

torch.func stacks the seeds' weights (`stack_module_state`) and maps one loss-and-gradient
call over them (`vmap(grad(...))`), so every operation runs once for all seeds. It would pay
where a step is bound by per-operation overhead. The study keeps separate models per seed
unless this wins (issue 9); the table is the evidence. RNN variants cannot be mapped as
built: `pack_padded_sequence` needs each batch's lengths on the host, a data-dependent step
vmap refuses, so the section says so instead of timing them.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

from attnbench.bench.table import Report, ms, times
from attnbench.config import Params
from attnbench.cost.curves import build_variant, exact_length_batch
from attnbench.cost.timing import compare, ratio
from attnbench.data.tasks import PAD
from attnbench.training.objective import teacher_forced


def _ensemble_gradients(models, batches):
    """A callable computing every seed's gradients in one vmapped call, or the reason it cannot."""
    weights, buffers = stack_module_state(models)  # each (E, ...)
    skeleton = copy.deepcopy(models[0]).to("meta")
    src, tgt_in, tgt_out = (torch.stack([getattr(b, f) for b in batches]) for f in ("src", "tgt_in", "tgt_out"))

    def loss(weights_, buffers_, src_, tgt_in_, tgt_out_):
        logits = functional_call(skeleton, (weights_, buffers_), (src_, tgt_in_)).logits  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), tgt_out_.flatten(), ignore_index=PAD)

    call = functools.partial(vmap(grad(loss)), weights, buffers, src, tgt_in, tgt_out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except RuntimeError as error:
            return None, str(error).split(".")[0], []
    looped = sorted({m.group(1) for w in caught
                     if (m := re.search(r"batching rule for (aten::\w+)", str(w.message)))})
    return call, "", looped


def ensemble_section(params: Params, variants: Sequence[str], seeds: int, length: int,
                     batch_size: int, rounds: int) -> Report:
    """Forward + backward of `seeds` models: one vmapped call vs a loop over the models."""
    rows, headline, refused = [], [], []
    batches = [exact_length_batch(length, batch_size, params.data.vocab_size, seed=s) for s in range(seeds)]
    for variant in variants:
        models = [build_variant(params, variant, seed=s).train() for s in range(seeds)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fallbacks are collected and printed below
            ensemble, why_not, looped = _ensemble_gradients(models, batches)
        if ensemble is None:
            rows.append([variant, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"])
            headline.append(f"{variant} cannot be mapped")
            refused.append(f"{variant}: vmap refused it ({why_not[:100]}...)")
            continue

        def one_by_one() -> None:
            for model, batch in zip(models, batches):
                model.zero_grad(set_to_none=True)
                teacher_forced(model, batch).loss.backward()

        if looped:
            refused.append(f"{variant}: vmap has no batching rule for {', '.join(looped)}, so it "
                           "loops over the seeds there")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = compare({"one by one": one_by_one, "ensemble": ensemble}, rounds=rounds, warmup=1)
        med, low = ratio(result["one by one"], result["ensemble"])
        headline.append(f"{variant} {times(med)}")
        rows.append([variant, ms(result["one by one"].median), ms(result["one by one"].min),
                     ms(result["ensemble"].median), ms(result["ensemble"].min), times(med), times(low)])
    return Report(
        title=f"8. {seeds} seeds as one vmapped ensemble vs one by one (batch {batch_size} each, "
              f"L={length}, fwd + bwd)",
        headline="One by one / ensemble (ratio of medians; > 1 = the ensemble wins): " + "; ".join(headline),
        headers=["variant", "one-by-one med", "one-by-one min", "ensemble med", "ensemble min",
                 "speedup med", "speedup min"],
        rows=rows,
        notes=[f"Times in ms for all {seeds} models: forward, cross-entropy and backward (no optimiser "
               "step); each seed has its own initial weights and batch.",
               "ensemble = torch.func.vmap(grad(loss)) over stack_module_state of the seeds' models.",
               *refused],
    )
