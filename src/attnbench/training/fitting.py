"""One run of the study's training protocol, for the train stage and the calibration: the
variant's model on a task's splits, fitted by the study's Trainer under the stopping rule
(stopping.py) at its family's learning-rate schedule, holding the weights `train.keep` picks."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from torch import nn

from attnbench.config import Params
from attnbench.data.datamodule import SeqDataModule
from attnbench.data.tasks import Example, Vocabulary
from attnbench.execution import runtime
from attnbench.models import build_for_task
from attnbench.training import stopping
from attnbench.training.lit import Seq2SeqModule, build_trainer
from attnbench.training.stopping import ValidationRecord


@dataclass
class Fitted:
    model: nn.Module  # holding the kept weights
    module: Seq2SeqModule  # its loss_history
    # steps, stopped (target | plateau | max_steps), val [(step, acc)], kept_step, kept_val_seq_acc
    outcome: dict


def fit_to_rule(params: Params, variant: str, seed: int, train: list[Example], val: list[Example],
                vocab: Vocabulary, name: str, logger=False) -> Fitted:
    """Seed, build and fit one variant until the stopping rule (or max_steps) ends it, then
    keep the best validation's weights (train.keep: best) or the last. `params` are the
    task's (Params.for_task)."""
    config = params.variants[variant]
    runtime.seed_all(seed)
    model = build_for_task(config, params.model, vocab)
    module = Seq2SeqModule(model, params.train, name=name, reinforce=config.reinforce_settings,
                           schedule=params.train.schedule(config.arch))
    datamodule = SeqDataModule(train, val, params.train.batch_size, seed)
    record = ValidationRecord()
    stopper = stopping.early_stopping(params.train.stop) if params.train.stop else None
    with tempfile.TemporaryDirectory() as workdir:
        trainer = build_trainer(params, workdir, logger=logger, progress_bar=runtime.shows_progress(),
                                callbacks=[record, *([stopper] if stopper else [])])
        trainer.fit(module, datamodule=datamodule)
    outcome = {"steps": trainer.global_step, "stopped": stopping.stop_reason(stopper), "val": record.history}
    kept_step = record.restore_best(model) if params.train.keep == "best" else None
    outcome["kept_step"] = trainer.global_step if kept_step is None else kept_step
    outcome["kept_val_seq_acc"] = dict(record.history).get(outcome["kept_step"])
    return Fitted(model, module, outcome)
