"""The platform canary: does this machine compute the committed study's bytes?

Trains every variant of params.yaml for a few dozen steps on one fixed tiny batch, through
the study's own training path (Seq2SeqModule in the train stage's Lightning Trainer), and
compares the md5 of each variant's weights with golden values made on the machine that ran
the committed study. Equal md5s mean this machine's kernels compute the same floats.

    python -m attnbench.platform.canary           # compare with tests/golden/canary.json
    python -m attnbench.platform.canary --write   # record this machine's md5s as golden
    python -m attnbench.platform.canary --matrix  # the proof: vary what the host would choose
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from attnbench.platform import numerics
from attnbench.platform.canary_weights import (  # noqa: F401 - the canary's names, re-exported
    GOLDEN, SEED, SOURCE_LENGTHS, STEPS, TASK, canary_batch, fingerprint, mismatch, platform_line,
    run_canary, train_variant)
from attnbench.config import load_params


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
    out = subprocess.run([sys.executable, "-m", "attnbench.platform.canary", "--params", params_path, "--print"],
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
    parser.add_argument("--variants", nargs="+", metavar="VARIANT",
                        help="only these variants of the study (default: every one)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    if args.matrix:
        sys.exit(matrix(args.params, read_golden(args.golden)))
    if args.variants and (unknown := sorted(set(args.variants) - set(params.study.variants))):
        sys.exit(f"error: --variants {' '.join(unknown)}: not in study.variants of {args.params}")
    if args.variants and args.write:
        sys.exit("error: --write records every variant; drop --variants")
    # the golden values' fingerprint stays the whole study's; only the training is narrowed
    narrowed = params.study.model_copy(update={"variants": args.variants}) if args.variants else params.study
    measured = run_canary(params.model_copy(update={"study": narrowed}))
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
