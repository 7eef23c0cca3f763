"""Stage `calibrate` (pipelines/calibration/dvc.yaml): each architecture family's
learning-rate schedule, chosen on validation data.

Trains every candidate schedule of `calibration.candidates` on every variant listed for a
family under `calibration.variants`, on `calibration.task`'s train split, with the study's
protocol (fitting.fit_to_rule: stopping rule, cap, kept weights), and scores the kept weights
on the validation split. Writes reports/calibration/calibration.json (every run and the
choice) and calibration.md. The study then trains at the choice, which params.yaml's
`train.schedules` states (tests/test_calibration.py holds the two together).
"""

from __future__ import annotations

import argparse
import time

from attnbench import paths
from attnbench.config import Params, load_params
from attnbench.data.files import SplitFile, check_ids, read_split, read_vocabulary
from attnbench.data.tasks import Vocabulary
from attnbench.errors import ConfigError, TrainingDiverged
from attnbench.execution import parallel, runtime
from attnbench.report import calibration as page
from attnbench.stages import base_parser, stage_entry
from attnbench.tracking.artifacts import write_json
from attnbench.training.fitting import fit_to_rule
from attnbench.training.lit import quiet_lightning


def with_schedule(params: Params, family: str, candidate: str) -> Params:
    """`params` with `family` training at the candidate schedule."""
    schedule = params.calibration.candidates[candidate]
    train = params.train.model_copy(update={"schedules": {**params.train.schedules, family: schedule}})
    return params.model_copy(update={"train": train})


def calibration_run(params: Params, family: str, candidate: str, variant: str,
                    splits: dict[str, SplitFile], vocab: Vocabulary) -> dict:
    """One variant at one candidate schedule; a diverging loss scores 0 (and says so)."""
    started = time.perf_counter()
    seed = params.calibration.seed
    name = f"calibration {family}/{candidate}/{variant}"
    try:
        fitted = fit_to_rule(with_schedule(params, family, candidate), variant, seed,
                             splits["train"].examples, splits["val"].examples, vocab, name)
        outcome = fitted.outcome
    except TrainingDiverged as exc:
        outcome = {"steps": None, "stopped": f"diverged: {exc}", "val": [], "kept_step": None,
                   "kept_val_seq_acc": 0.0}
    print(f"{name}: val exact match {outcome['kept_val_seq_acc']:.3f} after {outcome['steps']} steps "
          f"({outcome['stopped']}), {time.perf_counter() - started:.0f} s", flush=True)
    return {"family": family, "candidate": candidate, "variant": variant, **outcome}


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    calibration = params.calibration
    if calibration is None:
        raise ConfigError(f"{args.params} has no calibration section: nothing to calibrate")
    runtime.setup_process(params.runtime.threads, params.runtime.accelerator)
    task = calibration.task
    folder = paths.data_dir(task)
    splits = {split: read_split(paths.split_file(folder, split)) for split in ("train", "val")}
    vocab = read_vocabulary(folder)
    for split, split_file in splits.items():
        check_ids(paths.split_file(folder, split), split_file.examples, vocab)
    task_params = params.for_task(task)
    jobs = [(task_params, family, candidate, variant, splits, vocab)
            for family, variants in calibration.variants.items()
            for candidate in calibration.candidates for variant in variants]
    with quiet_lightning(info=runtime.is_terminal()):
        runs = parallel.run_jobs(calibration_run, jobs, parallel.worker_count(params.runtime.workers, len(jobs)))
    for run in runs:
        run["steps"] = run["steps"] or 0  # a diverged run: scored 0, counted as no steps
    summary = page.summarise(runs)
    chosen = page.choose(summary)
    result = {
        "task": task, "seed": calibration.seed, "lr": params.train.lr, "max_steps": task_params.train.max_steps,
        "candidates": {name: s.model_dump() for name, s in calibration.candidates.items()},
        "runs": runs, "summary": summary, "chosen": chosen,
        "schedules": {family: calibration.candidates[name].model_dump() for family, name in chosen.items()},
    }
    write_json(paths.CALIBRATION_JSON, result)
    paths.CALIBRATION_MD.write_text(page.render(result))
    for family, name in chosen.items():
        print(f"calibrate: {family} trains at {name} ({page.describe(result['candidates'][name], params.train.lr)})")


parser = base_parser(__doc__)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
