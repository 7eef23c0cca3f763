"""Stage `train@{task}-{variant}`: every seed of one (task, variant) in one process.

Writes models/{task}/{variant}/seed{n}.pt (plain state_dicts) and the training curves to
reports/train/{task}/{variant}.json; records each seed as one MLflow run.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

from attnbench import runtime, tracking
from attnbench.artifacts import md5_bytes, save_weights, write_json
from attnbench.config import Params, load_params
from attnbench.data import read_examples, split_path
from attnbench.datamodule import SeqDataModule
from attnbench.errors import ConfigError
from attnbench.lit import Seq2SeqModule
from attnbench.models import build_model
from attnbench.stages import base_parser, stage_entry
from attnbench.tasks import vocab_total


def build_trainer(params: Params, logger, workdir: str):
    import pytorch_lightning as pl

    train = params.train
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=train.max_steps,
        val_check_interval=min(train.val_every_n_steps, train.max_steps),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        gradient_clip_val=train.grad_clip or None,
        deterministic=True,
        logger=logger,
        log_every_n_steps=params.tracking.log_every_n_steps,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=runtime.is_terminal(),
        default_root_dir=workdir,
    )


def train_seed(params: Params, task: str, variant: str, seed: int, data_dir: Path, out_dir: Path,
               client, experiment_id: str, data_md5: str) -> dict:
    """Train one seed, save its weights, record it in MLflow; returns its curves."""
    from pytorch_lightning.loggers import MLFlowLogger

    name = tracking.run_name(task, variant, seed)
    tags = tracking.base_tags(
        "train", **{tracking.TAG_TASK: task, tracking.TAG_VARIANT: variant,
                    tracking.TAG_SEED: str(seed), tracking.TAG_DATA_MD5: data_md5}
    )
    run_id = tracking.create_run(client, experiment_id, name, tags)
    started = time.perf_counter()
    with tracking.run_guard(client, run_id):
        tracking.log_params(client, run_id, tracking.run_params(params, task, variant, seed))
        runtime.seed_all(seed)
        model = build_model(params.variants[variant], params.model, vocab_total(params.data.vocab_size))
        module = Seq2SeqModule(model, params.train, name=name,
                               reinforce=params.variants[variant].reinforce_settings)
        datamodule = SeqDataModule(data_dir, params.train.batch_size, seed)
        logger = MLFlowLogger(
            experiment_name=params.tracking.experiment,
            tracking_uri=tracking.tracking_uri(),
            run_id=run_id,
        )
        with tempfile.TemporaryDirectory() as workdir:
            trainer = build_trainer(params, logger, workdir)
            trainer.fit(module, datamodule=datamodule)
        weights_path = out_dir / f"seed{seed}.pt"
        md5 = save_weights(model, weights_path)
        client.set_tag(run_id, tracking.TAG_WEIGHTS_MD5, md5)
        client.log_artifact(run_id, str(weights_path), artifact_path="weights")
        val_seq_acc = float(trainer.callback_metrics.get("val/seq_acc", float("nan")))
    print(f"train {name}: {params.train.max_steps} steps, val seq_acc {val_seq_acc:.3f}, "
          f"{time.perf_counter() - started:.0f} s, weights md5 {md5}")
    return {"seed": seed, "loss": module.loss_history}


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.task not in params.study.tasks or args.variant not in params.study.variants:
        raise ConfigError(f"{args.task}/{args.variant} is not part of the study in {args.params}")
    runtime.setup_process(params.runtime.threads)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")  # Lightning 2.6.6 on torch 2.13
    if not runtime.is_terminal():
        logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)

    data_dir = Path(f"data/{args.task}")
    for split in ("train", "val"):  # fail on a bad file before any run is created
        read_examples(split_path(data_dir, split))
    data_md5 = md5_bytes(split_path(data_dir, "train").read_bytes())
    out_dir = Path(f"models/{args.task}/{args.variant}")

    client, experiment_id = tracking.connect(params.tracking.experiment)
    curves = [
        train_seed(params, args.task, args.variant, seed, data_dir, out_dir, client,
                   experiment_id, data_md5)
        for seed in params.study.seeds
    ]
    model = build_model(params.variants[args.variant], params.model, vocab_total(params.data.vocab_size))
    write_json(
        f"reports/train/{args.task}/{args.variant}.json",
        {"task": args.task, "variant": args.variant, "curves": curves,
         "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)},
    )


parser = base_parser(__doc__)
parser.add_argument("--task", required=True)
parser.add_argument("--variant", required=True)
run = stage_entry(main, parser)

if __name__ == "__main__":
    run()
