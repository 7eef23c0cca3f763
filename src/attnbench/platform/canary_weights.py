"""The canary's computation, a library for the canary's command line (canary.py) and for
the workers of a cluster proving their platform (cluster.py): every variant trained for a
few dozen steps on one fixed tiny batch, through the study's own training path
(Seq2SeqModule in the train stage's Lightning Trainer), and the md5 of its weights."""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from pathlib import Path

from attnbench.config import Params
from attnbench.platform import numerics

STEPS = 30
SEED = 0
TASK = "reverse"
SOURCE_LENGTHS = (4, 16, 7, 12, 5, 10, 14, 8)  # one batch, padded: masks are exercised too
GOLDEN = Path("tests/golden/canary.json")


def fingerprint(params: Params) -> str:
    """md5 of everything besides the platform that decides the canary's bytes."""
    spec = {
        "steps": STEPS, "seed": SEED, "task": TASK, "lengths": SOURCE_LENGTHS,
        "vocab_size": params.data.vocab_size, "model": params.model.model_dump(),
        # the canary fits without validation: neither the stopping rule nor `keep` acts
        "train": params.train.model_dump(exclude={"max_steps", "val_every_n_steps", "batch_size", "stop", "keep"}),
        "log_every_n_steps": params.tracking.log_every_n_steps,
        "variants": {name: params.variants[name].model_dump() for name in params.study.variants},
    }
    return hashlib.md5(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def canary_batch(vocab_size: int) -> list:
    from attnbench.data.tasks import FIRST_SYMBOL, make_example

    rng = random.Random(SEED)
    return [
        make_example(TASK, "train", tuple(rng.randrange(FIRST_SYMBOL, FIRST_SYMBOL + vocab_size)
                                          for _ in range(length)))
        for length in SOURCE_LENGTHS
    ]


def train_variant(params: Params, variant: str) -> str:
    """STEPS optimiser steps of one variant on the canary batch; the md5 of its weights."""
    from torch.utils.data import DataLoader

    from attnbench.data.files import collate
    from attnbench.data.tasks import vocab_total
    from attnbench.execution import runtime
    from attnbench.models import build_model
    from attnbench.tracking.artifacts import weights_md5
    from attnbench.training.lit import Seq2SeqModule, build_trainer

    examples = canary_batch(params.data.vocab_size)
    runtime.seed_all(SEED)
    model = build_model(params.variants[variant], params.model, vocab_total(params.data.vocab_size))
    config = params.variants[variant]
    module = Seq2SeqModule(model, params.train, name=variant, reinforce=config.reinforce_settings,
                           schedule=params.train.schedule(config.arch))
    loader = DataLoader(examples, batch_size=len(examples), collate_fn=collate)
    with tempfile.TemporaryDirectory() as workdir:
        build_trainer(params, workdir, max_steps=STEPS).fit(module, train_dataloaders=loader)
    return weights_md5(model)


def run_canary(params: Params) -> dict[str, str]:
    """{variant: weights md5} for every variant of the study."""
    import torch

    from attnbench.training.lit import quiet_lightning

    torch.set_num_threads(params.runtime.threads)
    with quiet_lightning():
        return {variant: train_variant(params, variant) for variant in params.study.variants}


def platform_line() -> str:
    s = numerics.settings()
    return (f"{s['cpu']} ({s['machine']}, AVX-512 {'yes' if s['cpu_avx512'] == 'true' else 'no'}), "
            f"torch {s['torch']}, MKL {s['mkl']} branch {s['mkl_cbwr']}, ATen {s['aten_cpu_capability']}, "
            f"oneDNN {'on' if s['onednn_enabled'] == 'true' else 'off'}, {s['threads']} thread(s)")


def mismatch(golden: dict, params: Params, measured: dict[str, str]) -> str | None:
    """One message saying what differs and on which platform; None when all agree."""
    if golden.get("fingerprint") != fingerprint(params):
        return ("platform canary: the golden md5s were made for other model, train or variant "
                "settings than params.yaml's; restore params.yaml, or rerun `python -m "
                "attnbench.platform.canary --write` on the machine that made the committed study")
    expected = golden["md5"]
    differ = sorted(v for v in measured if measured[v] != expected.get(v))
    if not differ:
        return None
    causes = numerics.outside_promise() + numerics.dispatch_mismatches()
    why = f"; likely cause: {'; '.join(causes)}" if causes else ""
    return (f"platform canary: {len(differ)} of {len(measured)} variants trained to other weights "
            f"than the committed golden values ({', '.join(differ)}) on {platform_line()}"
            f"{why}. This machine will not reproduce the committed study byte for byte "
            f"(golden values made on {golden.get('made_on', 'unknown')})")
