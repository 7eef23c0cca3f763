"""One LightningModule that trains any sequence-to-sequence network it is given."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnbench.config import TrainConfig
from attnbench.data import Batch
from attnbench.decode import greedy_decode, score
from attnbench.errors import TrainingDiverged
from attnbench.tasks import PAD


def token_accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Teacher-forced accuracy over real target positions. logits (B, T, V), target (B, T)."""
    real = target != PAD
    return ((logits.argmax(-1) == target) & real).sum() / real.sum()


class Seq2SeqModule(pl.LightningModule):
    def __init__(self, model: nn.Module, train: TrainConfig, name: str = "model"):
        super().__init__()
        self.model = model
        self.train_cfg = train
        self.run_name = name
        self.loss_history: list[tuple[int, float]] = []  # (step, loss) at each logging step

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        out = self.model(batch.src, batch.tgt_in)
        loss = F.cross_entropy(out.logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"{self.run_name}: training loss became {loss.item()} at step {self.global_step}; "
                "lower train.lr or set train.grad_clip > 0"
            )
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/tok_acc", token_accuracy(out.logits, batch.tgt_out))
        if self.global_step % self.trainer.log_every_n_steps == 0:
            self.loss_history.append((self.global_step, loss.item()))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        out = self.model(batch.src, batch.tgt_in)
        loss = F.cross_entropy(out.logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)
        decoded = greedy_decode(self.model, batch.src, max_len=batch.tgt_out.size(1))
        scores = score(decoded.tokens, batch.tgt_out)
        size = len(batch)
        self.log("val/loss", loss, batch_size=size)
        self.log("val/tok_acc", token_accuracy(out.logits, batch.tgt_out), batch_size=size)
        self.log("val/seq_acc", scores.seq_correct.float().mean(), prog_bar=True, batch_size=size)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.train_cfg.optimizer == "sgd":
            return torch.optim.SGD(self.model.parameters(), lr=self.train_cfg.lr)
        return torch.optim.Adam(self.model.parameters(), lr=self.train_cfg.lr)
