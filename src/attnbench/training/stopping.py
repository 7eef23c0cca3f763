"""When a training run stops, and which weights it keeps.

The rule (`train.stop`, the same for every variant of a task) is Lightning's EarlyStopping
on validation exact match, checked after every validation (every `train.val_every_n_steps`):

    stop at validation k  if  acc_k > target                                  ("target")
                          or  acc_j - min_delta <= best_{j-1}  for the last
                              `patience` validations j (none improved)         ("plateau")
    otherwise train on to train.max_steps                                      ("max_steps")

`ValidationRecord` keeps every validation's (step, acc) and a copy of the weights at the
best one (strictly higher than every earlier one: the earliest wins a tie); with
`train.keep: best` those are the weights the run saves and evaluation scores.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, EarlyStopping
from pytorch_lightning.callbacks.early_stopping import EarlyStoppingReason
from torch import Tensor

from attnbench.config import StopRule

MONITOR = "val/seq_acc"
STOPPED_AT_TARGET, STOPPED_ON_PLATEAU, STOPPED_AT_CAP = "target", "plateau", "max_steps"
REASONS = {EarlyStoppingReason.STOPPING_THRESHOLD: STOPPED_AT_TARGET,
           EarlyStoppingReason.PATIENCE_EXHAUSTED: STOPPED_ON_PLATEAU}


def early_stopping(rule: StopRule) -> EarlyStopping:
    """The rule as Lightning's callback, checked after each validation (not at epoch ends)."""
    return EarlyStopping(monitor=MONITOR, mode="max", stopping_threshold=rule.target,
                         patience=rule.patience, min_delta=rule.min_delta,
                         check_on_train_epoch_end=False, strict=True)


def stop_reason(stopper: EarlyStopping | None) -> str:
    """Why a fit ended: the rule's reason, or the step cap when the rule never fired."""
    if stopper is None:
        return STOPPED_AT_CAP
    return REASONS.get(stopper.stopping_reason, STOPPED_AT_CAP)


class ValidationRecord(Callback):
    """(step, val exact match) after every validation, and the weights of the best one."""

    def __init__(self) -> None:
        self.history: list[tuple[int, float]] = []
        self.best_step: int | None = None
        self.best_value = -math.inf
        self.best_state: dict[str, Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = float(trainer.callback_metrics[MONITOR])
        self.history.append((trainer.global_step, value))
        if value > self.best_value:
            self.best_step, self.best_value = trainer.global_step, value
            self.best_state = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}

    def restore_best(self, model) -> int | None:
        """Load the best validation's weights into `model`; returns its step (None: no validation ran)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return self.best_step
