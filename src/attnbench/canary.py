"""The platform canary: does this machine compute the committed study's bytes?

Trains every variant of params.yaml for a few dozen steps on one fixed tiny batch, through
the study's own training path (Seq2SeqModule in the train stage's Lightning Trainer), and
compares the md5 of each variant's weights with golden values made on the machine that ran
the committed study. Equal md5s mean this machine's kernels compute the same floats.

    python -m attnbench.canary                    # compare with tests/golden/canary.json
    python -m attnbench.canary --write            # record this machine's md5s as golden
    python -m attnbench.canary --matrix           # the proof: vary what the host would choose
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from attnbench import numerics
from attnbench.config import Params, load_params

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
    from attnbench.tasks import FIRST_SYMBOL, make_example

    rng = random.Random(SEED)
    return [
        make_example(TASK, "train", tuple(rng.randrange(FIRST_SYMBOL, FIRST_SYMBOL + vocab_size)
                                          for _ in range(length)))
        for length in SOURCE_LENGTHS
    ]


def train_variant(params: Params, variant: str) -> str:
    """STEPS optimiser steps of one variant on the canary batch; the md5 of its weights."""
    from torch.utils.data import DataLoader

    from attnbench import runtime
    from attnbench.artifacts import weights_md5
    from attnbench.data import collate
    from attnbench.lit import Seq2SeqModule, build_trainer
    from attnbench.models import build_model
    from attnbench.tasks import vocab_total

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

    from attnbench.lit import quiet_lightning

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
                "attnbench.canary --write` on the machine that made the committed study")
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


def read_golden(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {path}: cannot read the canary's golden values ({exc})")


# ---- the proof: what the host would otherwise choose must not move the pinned bytes -----
HOST_CHOICES = {
    "host defaults": {},
    "MKL at AVX-512": {"MKL_ENABLE_INSTRUCTIONS": "AVX512"},
    "MKL at AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "MKL at SSE4.2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "oneDNN at AVX-512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "oneDNN at AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "oneDNN at SSE4.1": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
}
FORCED = {  # a pinned setting forced to another value: the canary must notice
    "ATen forced to DEFAULT": {"ATEN_CPU_CAPABILITY": "default"},
    "MKL CNR forced to AUTO": {"MKL_CBWR": "AUTO"},
}
SHOWN_ONLY = {  # shown, not judged: whether the study's ops differ here at all
    "ATen forced to AVX-512": {"ATEN_CPU_CAPABILITY": "avx512"},
}


def run_in_subprocess(extra_env: dict[str, str], params_path: str) -> dict[str, str]:
    """The canary's md5s in a fresh process whose only dispatch variables are `extra_env`."""
    out = subprocess.run([sys.executable, "-m", "attnbench.canary", "--params", params_path, "--print"],
                         env=numerics.child_environment(**extra_env), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def matrix(params_path: str, golden: dict) -> int:
    """Rerun the canary under each setting; 1 if any row goes against its expectation."""
    rows = [(name, extra, "holds") for name, extra in HOST_CHOICES.items()]
    rows += [(name, extra, "differs") for name, extra in FORCED.items()]
    rows += [(name, extra, "-") for name, extra in SHOWN_ONLY.items()]
    failures = 0
    print(f"{'setting':26} {'expected':>8} {'variants at golden md5':>23}  differ")
    for name, extra, expected in rows:
        measured = run_in_subprocess(extra, params_path)
        differ = [v for v in measured if measured[v] != golden["md5"].get(v)]
        failures += (expected == "holds" and bool(differ)) or (expected == "differs" and not differ)
        print(f"{name:26} {expected:>8} {len(measured) - len(differ):>13} of {len(measured):<7}  "
              f"{', '.join(differ) or '-'}")
    print("every host choice kept the golden bytes and every forced pin was noticed"
          if not failures else f"{failures} row(s) against expectation")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--golden", type=Path, default=GOLDEN)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="record this machine's md5s as golden")
    mode.add_argument("--matrix", action="store_true", help="rerun under each dispatch setting")
    mode.add_argument("--print", action="store_true", help="print this process's md5s as JSON")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    if args.matrix:
        sys.exit(matrix(args.params, read_golden(args.golden)))
    measured = run_canary(params)
    if args.print:
        print(json.dumps(measured, sort_keys=True))
    elif args.write:
        args.golden.parent.mkdir(parents=True, exist_ok=True)
        args.golden.write_text(json.dumps(
            {"fingerprint": fingerprint(params), "made_on": platform_line(), "steps": STEPS,
             "md5": measured}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.golden}: {len(measured)} variants on {platform_line()}")
    else:
        message = mismatch(read_golden(args.golden), params, measured)
        if message:
            sys.exit(message)
        print(f"platform canary: all {len(measured)} variants match the golden md5s on {platform_line()}")


if __name__ == "__main__":
    main()
