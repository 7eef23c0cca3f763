"""One LightningModule that trains any sequence-to-sequence network it is given."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnbench.config import ReinforceConfig, TrainConfig
from attnbench.data import Batch
from attnbench.decode import greedy_decode, score
from attnbench.errors import TrainingDiverged
from attnbench.models.outputs import Seq2SeqOutput
from attnbench.tasks import PAD


def token_accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Teacher-forced accuracy over real target positions. logits (B, T, V), target (B, T)."""
    real = target != PAD
    return ((logits.argmax(-1) == target) & real).sum() / real.sum()


def token_nll(logits: Tensor, target: Tensor) -> Tensor:
    """-log p(y_t) per position, 0 on padding. logits (B, T, V), target (B, T) -> (B, T)."""
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD, reduction="none")


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


def make_optimizer(parameters, train: TrainConfig) -> torch.optim.Optimizer:
    """The study's optimiser, for every training path (stage, canary, bench, cost).

    Adam runs fused: the unfused step's exp_avg_sq.sqrt() goes through MKL's vector maths,
    whose sqrt gives other bits on Intel than on AMD even under MKL_CBWR=COMPATIBLE
    (measured); the fused kernel is ATen code, pinned to AVX2 like the rest (numerics.py).
    """
    if train.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=train.lr)
    return torch.optim.Adam(parameters, lr=train.lr, fused=True)


class Seq2SeqModule(pl.LightningModule):
    def __init__(self, model: nn.Module, train: TrainConfig, name: str = "model",
                 reinforce: ReinforceConfig | None = None):
        super().__init__()
        self.model = model
        self.train_cfg = train
        self.reinforce = reinforce
        self.run_name = name
        self.loss_history: list[tuple[int, float]] = []  # (step, loss) at each logging step
        self.register_buffer("reward_baseline", torch.tensor(float("nan")))

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        out = self.model(batch.src, batch.tgt_in)
        real = batch.tgt_out != PAD  # (B, T)
        nll = token_nll(out.logits, batch.tgt_out)  # (B, T)
        loss = nll.sum() / real.sum()
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
        out = self.model(batch.src, batch.tgt_in)
        loss = token_nll(out.logits, batch.tgt_out).sum() / (batch.tgt_out != PAD).sum()
        decoded = greedy_decode(self.model, batch.src, max_len=batch.tgt_out.size(1))
        scores = score(decoded.tokens, batch.tgt_out)
        size = len(batch)
        self.log("val/loss", loss, batch_size=size)
        self.log("val/tok_acc", token_accuracy(out.logits, batch.tgt_out), batch_size=size)
        self.log("val/seq_acc", scores.seq_correct.float().mean(), prog_bar=True, batch_size=size)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model.parameters(), self.train_cfg)
