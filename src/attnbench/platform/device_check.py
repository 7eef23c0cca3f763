"""The GPU check: does the study's training path run on CUDA, byte for byte run to run, and
how long does a training step take there against one CPU thread of the same host?

    python -m attnbench.platform.device_check [--params params.yaml] [--json FILE]

Needs a CUDA device (run it where one is lent; no test depends on it). Three parts:
1. determinism: every variant's canary (canary.py: 30 Adam steps through the study's
   Lightning Trainer, here with runtime.accelerator: gpu) in two separate processes; equal
   weights md5s mean the GPU path is exact run to run on this card and software;
2. speed: one training step at the study's batch size and longest training length, GPU
   against one CPU thread, measured alternately (timing.compare), as ms per step;
3. the cost benchmark's step on the GPU at longer lengths (cost.measure), to show it runs there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from attnbench.config import Params, load_params

COST_LENGTHS = (16, 64, 256)


def on_gpu(params: Params) -> Params:
    return params.model_copy(update={"runtime": params.runtime.model_copy(update={"accelerator": "gpu"})})


def canary_md5s(params: Params) -> dict[str, str]:
    """{variant: weights md5 after the canary's steps on the GPU, or 'error: ...'}."""
    import torch

    from attnbench.execution import runtime
    from attnbench.platform import canary
    from attnbench.training.lit import quiet_lightning

    runtime.check_gpu()
    torch.set_num_threads(params.runtime.threads)
    md5s = {}
    with quiet_lightning():
        for variant in params.study.variants:
            try:
                md5s[variant] = canary.train_variant(on_gpu(params), variant)
            except Exception as exc:  # one variant's failure is a finding, not the end of the check
                md5s[variant] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return md5s


def md5s_in_subprocess(params_path: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "attnbench.platform.device_check", "--params", params_path,
                          "--md5s"], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"device check: the canary process failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def step_times(params: Params, length: int, batch_size: int) -> dict[str, dict[str, float]]:
    """{variant: {gpu_ms, cpu_ms}}: median ms per training step, both devices alternated."""
    import torch

    from attnbench.cost.curves import step_call
    from attnbench.cost.timing import compare

    torch.set_num_threads(params.runtime.threads)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    result = {}
    for variant in params.study.variants:
        timings = compare({"gpu": step_call(params, variant, length, batch_size, cuda),
                           "cpu": step_call(params, variant, length, batch_size, cpu)},
                          rounds=5, warmup=2, min_round_s=0.2)
        result[variant] = {f"{d}_ms": 1000 * timings[d].median for d in ("gpu", "cpu")}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--md5s", action="store_true", help="print this process's GPU canary md5s as JSON")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    if args.md5s:
        print(json.dumps(canary_md5s(params), sort_keys=True))
        return

    import torch

    from attnbench.cost.curves import loglog_slope, measure
    from attnbench.execution import runtime
    from attnbench.platform import canary

    runtime.check_gpu()
    card = torch.cuda.get_device_name(0)
    print(f"device check on {card}, torch {torch.__version__} (CUDA {torch.version.cuda}); "
          f"CPU: {canary.platform_line()}")
    first, second = md5s_in_subprocess(args.params), md5s_in_subprocess(args.params)
    golden = canary.read_golden(canary.GOLDEN)["md5"]
    length, batch = params.data.train_lengths.max, params.train.batch_size
    times = step_times(params, length, batch)
    print(f"\n{'variant':18} {'GPU run 1 = run 2':>17} {'= CPU golden':>12} "
          f"{'GPU ms':>8} {'CPU ms':>8} {'CPU/GPU':>8}   (step at length {length}, batch {batch})")
    for variant in params.study.variants:
        a, b, t = first[variant], second[variant], times[variant]
        same = "error" if a.startswith("error") else "yes" if a == b else "NO"
        print(f"{variant:18} {same:>17} {'yes' if a == golden.get(variant) else 'no':>12} "
              f"{t['gpu_ms']:8.1f} {t['cpu_ms']:8.1f} {t['cpu_ms'] / t['gpu_ms']:8.2f}"
              + (f"   {a}" if a.startswith("error") else ""))
    cost = measure(params, params.study.variants, COST_LENGTHS, params.cost.batch_size, rounds=3,
                   device=torch.device("cuda"))
    print(f"\ncost step on the GPU (batch {params.cost.batch_size}), ms at lengths {COST_LENGTHS}, "
          "log-log time slope:")
    for variant, rows in cost.items():
        ms = [1000 * r["step_s"] for r in rows]
        print(f"{variant:18} " + " ".join(f"{m:8.1f}" for m in ms)
              + f"   slope {loglog_slope(COST_LENGTHS, ms):.2f}")
    deterministic = all(first[v] == second[v] and not first[v].startswith("error") for v in first)
    print(f"\n{'every variant' if deterministic else 'NOT every variant'} trained to the same bytes "
          "in both GPU runs")
    if args.json:
        args.json.write_text(json.dumps({"card": card, "torch": torch.__version__, "cpu": canary.platform_line(),
                                         "md5_run1": first, "md5_run2": second, "step_ms": times,
                                         "cost": cost}, indent=1, sort_keys=True))
    sys.exit(0 if deterministic else 1)


if __name__ == "__main__":
    main()
