"""Lightning's side of training: one LightningModule that trains any sequence-to-sequence
network it is given, the one Trainer every Lightning fit uses, and Lightning kept quiet."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from attnbench.config import Params, ReinforceConfig, Schedule, TrainConfig
from attnbench.data.files import Batch
from attnbench.errors import TrainingDiverged
from attnbench.execution import progress
from attnbench.models.outputs import Seq2SeqOutput
from attnbench.training.decode import greedy_decode, score
from attnbench.training.objective import lr_factor, make_optimizer, teacher_forced, token_accuracy


def reinforce_terms(out: Seq2SeqOutput, nll: Tensor, real: Tensor, baseline: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Xu et al. 2015 eq. 12, per token. The reward of a sequence is its mean log-likelihood
    log p(y | s, a) / |y| (per token, so sequences of every length share one baseline).

    Returns (score-function loss, mean entropy, batch reward); minimising the first
    follows (r - b) * d log p(s) / dW.
    """
    tokens = real.sum(dim=1).clamp_min(1)  # (B,)
    reward = -(nll.sum(dim=1) / tokens).detach()  # (B,)
    advantage = reward - baseline  # (B,)
    score_loss = -(advantage[:, None] * out.log_prob * real).sum() / real.sum()
    entropy = (out.entropy * real).sum() / real.sum()
    return score_loss, entropy, reward.mean()


class Seq2SeqModule(pl.LightningModule):
    def __init__(self, model: nn.Module, train: TrainConfig, name: str = "model",
                 reinforce: ReinforceConfig | None = None, schedule: Schedule = Schedule()):
        super().__init__()
        self.model = model
        self.train_cfg = train
        self.schedule = schedule  # the variant family's (train.schedule(arch))
        self.reinforce = reinforce
        self.run_name = name
        self.loss_history: list[tuple[int, float]] = []  # (step, loss) at each logging step
        self.register_buffer("reward_baseline", torch.tensor(float("nan")))

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        forward = teacher_forced(self.model, batch)
        out, nll, real, loss = forward.out, forward.nll, forward.real, forward.loss
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"{self.run_name}: training loss became {loss.item()} at step {self.global_step}; "
                "lower train.lr or set train.grad_clip > 0"
            )
        logging_step = self.is_logging_step()
        if logging_step or self.trainer.progress_bar_callback is not None:
            self.log("train/loss", loss, prog_bar=True)
        if logging_step:  # the extra metrics cost ~0.5 ms a step: only where they are kept
            self.log("train/tok_acc", token_accuracy(out.logits, batch.tgt_out))
            self.loss_history.append((self.global_step, loss.item()))
        if self.reinforce is not None and out.log_prob is not None:
            loss = loss + self._reinforce_loss(out, nll, real, logging_step)
        return loss

    def is_logging_step(self) -> bool:
        """The steps whose values Lightning sends to the logger (every log_every_n_steps)."""
        return (self.global_step + 1) % self.trainer.log_every_n_steps == 0

    def _reinforce_loss(self, out: Seq2SeqOutput, nll: Tensor, real: Tensor, logging_step: bool) -> Tensor:
        if torch.isnan(self.reward_baseline):  # first batch: start the baseline at its reward
            self.reward_baseline = (-(nll.sum(1) / real.sum(1))).mean().detach()
        score_loss, entropy, reward = reinforce_terms(out, nll, real, self.reward_baseline)
        decay = self.reinforce.baseline_decay
        self.reward_baseline = decay * self.reward_baseline + (1 - decay) * reward
        if logging_step:
            self.log("train/reward", reward)
            self.log("train/attention_entropy", entropy)
        return self.reinforce.weight * score_loss - self.reinforce.entropy_weight * entropy

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        forward = teacher_forced(self.model, batch)
        out, loss = forward.out, forward.loss
        decoded = greedy_decode(self.model, batch.src, max_len=batch.tgt_out.size(1))
        scores = score(decoded.tokens, batch.tgt_out)
        size = len(batch)
        self.log("val/loss", loss, batch_size=size)
        self.log("val/tok_acc", token_accuracy(out.logits, batch.tgt_out), batch_size=size)
        self.log("val/seq_acc", scores.seq_correct.float().mean(), prog_bar=True, batch_size=size)

    def configure_optimizers(self):
        """The study's optimiser at the schedule's peak; a non-constant schedule steps its
        factor (objective.lr_factor) after every optimiser step, over the Trainer's max_steps."""
        optimizer = make_optimizer(self.model.parameters(), self.train_cfg, lr=self.schedule.lr)
        if self.schedule.is_constant:
            return optimizer
        total, schedule = self.trainer.max_steps, self.schedule
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(schedule, step, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class ReportSteps(pl.Callback):
    """Hands the step reached to the stage's progress bar (progress.report_step); reads
    nothing of the model, so it changes no byte."""

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        progress.report_step(trainer.global_step)


def build_trainer(params: Params, workdir: str, logger=False, max_steps: int | None = None,
                  progress_bar: bool = False, callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    """The study's Trainer (train stage, canary, benchmark): deterministic, on runtime.accelerator
    (one device), clipping at train.grad_clip, validation every train.val_every_n_steps when a
    fit has validation data; `callbacks` (the stopping rule, stopping.py) as given, and the
    step reporter of the stage's progress bar."""
    train = params.train
    steps = max_steps or train.max_steps
    return pl.Trainer(
        callbacks=[*(callbacks or []), ReportSteps()],
        accelerator=params.runtime.accelerator,
        devices=1,
        max_steps=steps,
        val_check_interval=min(train.val_every_n_steps, steps),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        gradient_clip_val=train.grad_clip or None,
        deterministic=True,
        logger=logger,
        log_every_n_steps=params.tracking.log_every_n_steps,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        default_root_dir=workdir,
    )


LIGHTNING_LOGGERS = ("pytorch_lightning", "pytorch_lightning.utilities.rank_zero",
                     "lightning.pytorch", "lightning_fabric")


@contextlib.contextmanager
def quiet_lightning(info: bool = False) -> Iterator[None]:
    """Lightning's warnings that do not apply here off, and its info lines too unless `info`;
    both restored on exit. The warnings: single-process data loading (on purpose, for exact
    batches), pytree's LeafSpec (Lightning 2.6 on torch 2.13), a fit without validation data."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    if not info:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
