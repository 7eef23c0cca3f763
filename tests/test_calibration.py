"""Each architecture family's learning-rate schedule: the formula as PyTorch's own schedulers
give it, stepped by the real Trainer, chosen by the calibration's rule, and the one the study
trains at (params.yaml's train.schedules states the committed calibration's choice)."""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch

from attnbench import paths
from attnbench.config import Schedule, load_params, parse_params
from attnbench.data.files import SplitFile
from attnbench.data.tasks import draw_splits
from attnbench.report.calibration import choose, summarise
from attnbench.stages.calibrate import calibration_run
from attnbench.training.fitting import fit_to_rule
from attnbench.training.objective import lr_factor
from conftest import REPO


def torch_schedule_lrs(peak: float, warmup: int, total: int) -> list[float]:
    """The oracle: PyTorch's LinearLR warm-up then CosineAnnealingLR, chained by SequentialLR."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1),
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup),
    ], milestones=[warmup])
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_warmup_cosine_is_pytorchs_linear_warmup_then_cosine_annealing():
    schedule = Schedule(warmup_steps=20, decay="cosine")
    ours = [3e-3 * lr_factor(schedule, step, 100) for step in range(100)]
    assert ours == pytest.approx(torch_schedule_lrs(3e-3, 20, 100), rel=1e-9, abs=1e-15)
    assert ours[19] == pytest.approx(3e-3) and ours[0] == pytest.approx(3e-3 / 20)
    assert [lr_factor(Schedule(), step, 100) for step in (0, 50, 99)] == [1.0, 1.0, 1.0]


class RecordLR(pl.Callback):
    def __init__(self):
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_the_trainer_steps_the_familys_schedule_and_a_constant_one_adds_no_scheduler(params, monkeypatch):
    """The learning rate each real optimiser step used is peak * lr_factor(step) over the
    Trainer's max_steps; a constant family runs without a scheduler (its bytes as before)."""
    import attnbench.training.fitting as fitting

    schedule = Schedule(lr=2e-2, warmup_steps=8, decay="cosine")
    params = params.model_copy(update={"train": params.train.model_copy(
        update={"max_steps": 24, "stop": None, "schedules": {"transformer": schedule}})})
    splits, vocab = draw_splits("copy", params.data)
    seen = {}

    def build_recording_trainer(*args, callbacks, **kwargs):
        recorder = RecordLR()
        seen["recorder"] = recorder
        seen["trainer"] = trainer = build_trainer(*args, callbacks=[*callbacks, recorder], **kwargs)
        return trainer

    build_trainer = fitting.build_trainer
    monkeypatch.setattr(fitting, "build_trainer", build_recording_trainer)
    fit_to_rule(params, "transformer_local", 0, splits["train"], splits["val"], vocab, "scheduled")
    assert seen["recorder"].lrs == pytest.approx([2e-2 * lr_factor(schedule, t, 24) for t in range(24)], rel=1e-12)
    assert len(seen["trainer"].lr_scheduler_configs) == 1
    fit_to_rule(params, "bahdanau", 0, splits["train"], splits["val"], vocab, "constant")  # rnn: not named
    assert seen["recorder"].lrs == [params.train.lr] * 24
    assert seen["trainer"].lr_scheduler_configs == []


def run(family, candidate, variant, score, steps):
    return {"family": family, "candidate": candidate, "variant": variant, "kept_val_seq_acc": score, "steps": steps}


def test_the_calibration_chooses_the_best_mean_then_fewer_steps_then_the_first_listed():
    runs = [run("rnn", "a", "x", 0.90, 2000), run("rnn", "a", "y", 0.70, 2000),   # mean 0.80
            run("rnn", "b", "x", 0.80, 1000), run("rnn", "b", "y", 0.86, 1000),   # mean 0.83
            run("transformer", "a", "z", 1.0, 1500), run("transformer", "b", "z", 1.0, 750),
            run("transformer", "c", "z", 1.0, 750)]
    summary = summarise(runs)
    assert [row["score"] for row in summary["rnn"]] == pytest.approx([0.80, 0.83])
    assert choose(summary) == {"rnn": "b", "transformer": "b"}


def test_a_diverging_candidate_scores_zero_instead_of_ending_the_calibration(raw_params):
    raw_params["train"].update(max_steps=4, lr=1.0e30, grad_clip=0)
    raw_params["calibration"] = {"task": "copy", "seed": 5, "variants": {"rnn": ["lstm"]},
                                 "candidates": {"constant": {}}}
    params = parse_params(raw_params)
    splits, vocab = draw_splits("copy", params.data)
    files = {name: SplitFile(examples, "unused") for name, examples in splits.items()}
    result = calibration_run(params, "rnn", "constant", "lstm", files, vocab)
    assert result["kept_val_seq_acc"] == 0.0 and result["stopped"].startswith("diverged: ")


def test_the_study_trains_at_the_committed_calibrations_choice():
    """params.yaml's train.schedules is what the committed reports/calibration chose, for the
    candidates, task and seed params.yaml lists now: rerun `make calibrate` after changing them."""
    params = load_params(REPO / "params.yaml")
    calibration = json.loads((REPO / paths.CALIBRATION_JSON).read_text())
    assert calibration["candidates"] == {name: s.model_dump() for name, s in params.calibration.candidates.items()}
    assert (calibration["task"], calibration["seed"]) == (params.calibration.task, params.calibration.seed)
    assert {run["variant"] for run in calibration["runs"]} == {v for vs in params.calibration.variants.values() for v in vs}
    for family, schedule in calibration["schedules"].items():
        assert params.train.schedule(family).model_dump() == schedule, (
            f"train.schedules.{family} is not the calibration's choice ({calibration['chosen'][family]})")
