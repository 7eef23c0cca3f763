"""What every training path minimises, and one optimisation step of it.

Teacher-forced token cross-entropy over the real (non-padding) target positions:

    loss = -sum_{b,t} [y_bt != PAD] log p(y_bt | y_b<t, x_b)  /  sum_{b,t} [y_bt != PAD]

The Lightning module (train stage, canary) computes its loss with `teacher_forced`; the
benchmark and the cost pipeline time `train_step`, the same arithmetic without a Trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnbench.config import Schedule, TrainConfig
from attnbench.data.files import Batch
from attnbench.data.tasks import PAD
from attnbench.models.outputs import Seq2SeqOutput


def token_nll(logits: Tensor, target: Tensor) -> Tensor:
    """-log p(y_t) per position, 0 on padding. logits (B, T, V), target (B, T) -> (B, T)."""
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD, reduction="none")


def token_accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Teacher-forced accuracy over real target positions. logits (B, T, V), target (B, T)."""
    real = target != PAD
    return ((logits.argmax(-1) == target) & real).sum() / real.sum()


@dataclass
class TeacherForced:
    """One teacher-forced forward pass and its loss."""

    out: Seq2SeqOutput  # logits (B, T, V), and the hard attention's log_prob/entropy
    nll: Tensor  # (B, T) -log p(y_t), 0 on padding
    real: Tensor  # (B, T) bool, True = real target token
    loss: Tensor  # () mean nll over real tokens


def teacher_forced(model: nn.Module, batch: Batch) -> TeacherForced:
    """Run the model on (src, tgt_in) and score its logits against tgt_out."""
    return scored(model(batch.src, batch.tgt_in), batch.tgt_out)


def scored(out: Seq2SeqOutput, target: Tensor) -> TeacherForced:
    """The loss of teacher-forced logits (B, T, V) against target (B, T)."""
    real = target != PAD  # (B, T)
    nll = token_nll(out.logits, target)  # (B, T)
    return TeacherForced(out, nll, real, nll.sum() / real.sum())


def make_optimizer(parameters, train: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """The study's optimiser, for every training path (stage, canary, bench, cost).

    Adam runs fused: the unfused step's exp_avg_sq.sqrt() goes through MKL's vector maths,
    whose sqrt gives other bits on Intel than on AMD even under MKL_CBWR=COMPATIBLE
    (measured); the fused kernel is ATen code, pinned to AVX2 like the rest (numerics.py).
    """
    lr = lr or train.lr
    if train.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    return torch.optim.Adam(parameters, lr=lr, fused=True)


def lr_factor(schedule: Schedule, step: int, total: int) -> float:
    """lr(step) / peak under `schedule` (config.Schedule) for a run of `total` steps:
    min(1, (t + 1) / W) * d(t), d(t) = 1 or (1 + cos(pi * max(0, t - W) / (T - W))) / 2."""
    warmup = schedule.warmup_steps
    factor = min(1.0, (step + 1) / warmup) if warmup else 1.0
    if schedule.decay == "cosine":
        progress = max(0, step - warmup) / max(1, total - warmup)
        factor *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer,
               grad_clip: float = 0.0) -> Tensor:
    """One optimisation step without a Trainer: zero grads, loss, backward, clip the global
    norm to grad_clip (0 = off, as Lightning's gradient_clip_val), step. Returns the loss.

    Cross-entropy only: the REINFORCE term of hard attention lives in the Lightning module.
    """
    optimizer.zero_grad(set_to_none=True)
    loss = teacher_forced(model, batch).loss
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()
