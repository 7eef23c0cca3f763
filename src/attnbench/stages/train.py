"""Stage `train@{variant}`: every task and seed of one variant (or of one --task), side by
side on `runtime.workers` processes (parallel.run_jobs).

Writes models/{variant}/{task}/seed{n}.pt (plain state_dicts) and the training curves to
reports/train/{variant}/{task}.json; records each seed as one MLflow run.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

from attnbench import paths
from attnbench.config import Params, load_params
from attnbench.data.files import SplitFile, check_ids, read_split, read_vocabulary
from attnbench.data.tasks import Vocabulary
from attnbench.execution import executor, runtime
from attnbench.stages import base_parser, check_in_study, stage_entry
from attnbench.tracking import runs as tracking
from attnbench.tracking.artifacts import check_writable, md5_bytes, weights_bytes, write_json, write_weights
from attnbench.training.fitting import fit_to_rule
from attnbench.training.lit import quiet_lightning


def train_seed(params: Params, task: str, variant: str, seed: int,
               splits: dict[str, SplitFile], vocab: Vocabulary) -> tuple[dict, int, bytes]:
    """Train one seed until the stopping rule ends it and record it in MLflow; returns its
    curves and how it stopped (steps, reason, kept step), the model's number of trainable
    parameters, and the weights it keeps (train.keep) as weights_bytes, which the stage
    writes. Runs on a worker (executor.run_jobs), reading nothing but its arguments.
    `params` are the task's (Params.for_task)."""
    from pytorch_lightning.loggers import MLFlowLogger

    client, experiment_id = tracking.connect(params.tracking.experiment)
    name = tracking.run_name(task, variant, seed)
    tags = tracking.base_tags("train", **tracking.run_tags(
        task, variant, seed, **{tracking.TAG_DATA_MD5: splits["train"].md5}))
    with tracking.store_errors(f"starting run {name}"):
        run_id = tracking.create_run(client, experiment_id, name, tags)
    started = time.perf_counter()
    with tracking.run_guard(client, run_id, name):
        tracking.log_params(client, run_id, tracking.run_params(params, task, variant, seed))
        logger = MLFlowLogger(
            experiment_name=params.tracking.experiment,
            tracking_uri=tracking.tracking_uri(),
            run_id=run_id,
        )
        fitted = fit_to_rule(params, variant, seed, splits["train"].examples, splits["val"].examples,
                             vocab, name, logger=logger)
        model, outcome = fitted.model, fitted.outcome
        weights = weights_bytes(model)
        md5 = md5_bytes(weights)
        tracking.set_tags(client, run_id, {
            tracking.TAG_WEIGHTS_MD5: md5, tracking.TAG_STEPS: str(outcome["steps"]),
            tracking.TAG_STOPPED: outcome["stopped"], tracking.TAG_KEPT_STEP: str(outcome["kept_step"])})
        tracking.replace_earlier(client, experiment_id, run_id, tracking.run_tags(
            task, variant, seed, **{tracking.TAG_WEIGHTS_MD5: md5}))
        with tempfile.TemporaryDirectory() as tmp:
            artifact = Path(tmp) / paths.weights_file(task, variant, seed).name
            artifact.write_bytes(weights)
            client.log_artifact(run_id, str(artifact), artifact_path="weights")
    kept_acc = outcome["kept_val_seq_acc"]
    print(f"train {name}: {outcome['steps']} steps ({outcome['stopped']}), kept step {outcome['kept_step']}"
          + (f" (val seq_acc {kept_acc:.3f})" if kept_acc is not None else "")
          + f", {time.perf_counter() - started:.0f} s, weights md5 {md5}", flush=True)
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"seed": seed, "loss": fitted.module.loss_history, **outcome}, parameters, weights


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    check_in_study(params, args)
    runtime.setup_process(params.runtime.threads, params.runtime.accelerator)
    tasks = [args.task] if args.task else list(params.study.tasks)
    # read once, and before any run is created, so that a bad file fails first
    splits = {task: {split: read_split(paths.split_file(paths.data_dir(task), split))
                     for split in ("train", "val")} for task in tasks}
    vocabs = {task: read_vocabulary(paths.data_dir(task)) for task in tasks}
    for task in tasks:
        for split in ("train", "val"):
            check_ids(paths.split_file(paths.data_dir(task), split), splits[task][split].examples, vocabs[task])
    jobs = [(params.for_task(task), task, args.variant, seed, splits[task], vocabs[task])
            for task in tasks for seed in params.study.seeds]
    check_writable([paths.variant_models(args.variant), paths.variant_train_curves(args.variant)])
    with quiet_lightning(info=runtime.is_terminal()):
        trained = executor.run_jobs(
            train_seed, jobs, params, args.variant,
            first=functools.partial(tracking.ensure_experiment, params.tracking.experiment))
    for (_, task, _, seed, _, _), (_, _, weights) in zip(jobs, trained, strict=True):
        write_weights(weights, paths.weights_file(task, args.variant, seed))
    for task in tasks:
        mine = [result for job, result in zip(jobs, trained, strict=True) if job[1] == task]
        write_json(
            paths.train_curves(task, args.variant),
            {"task": task, "variant": args.variant, "curves": [curve for curve, _, _ in mine],
             "parameters": mine[0][1]},
        )


parser = base_parser(__doc__, per_variant=True)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
