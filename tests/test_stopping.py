"""The training protocol: the stopping rule ends a run for the reason it states, keeps the
weights of the best validation, and validating (however often) changes no training byte."""

from __future__ import annotations

import pytorch_lightning as pl
import pytest
import torch
from torch import nn

from attnbench.config import StopRule
from attnbench.data.tasks import draw_splits
from attnbench.training import stopping
from attnbench.training.fitting import fit_to_rule
from attnbench.training.lit import quiet_lightning
from attnbench.training.stopping import STOPPED_AT_CAP, STOPPED_AT_TARGET, STOPPED_ON_PLATEAU, ValidationRecord


class ScriptedValidation(pl.LightningModule):
    """A real fit whose validation exact match follows a script, one value per validation;
    it remembers its weights at each validation, to check which ones the record keeps."""

    def __init__(self, script: list[float]):
        super().__init__()
        self.model = nn.Linear(2, 1)
        self.script = script
        self.weights_at: dict[int, dict[str, torch.Tensor]] = {}

    def training_step(self, batch, batch_idx):
        return self.model(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log(stopping.MONITOR, self.script[len(self.weights_at)])
        self.weights_at[self.global_step] = {k: v.clone() for k, v in self.model.state_dict().items()}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def scripted_fit(script: list[float], rule: StopRule | None, max_steps: int = 40, every: int = 5):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 2)), batch_size=1)
    module = ScriptedValidation(script)
    record = ValidationRecord()
    stopper = stopping.early_stopping(rule) if rule else None
    trainer = pl.Trainer(max_steps=max_steps, val_check_interval=every, check_val_every_n_epoch=None,
                         num_sanity_val_steps=0, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[record, *([stopper] if stopper else [])])
    with quiet_lightning():
        trainer.fit(module, loader, loader)
    return trainer, module, record, stopping.stop_reason(stopper)


def test_a_run_stops_at_the_first_validation_above_the_target():
    # values a float32 metric holds exactly: 254/256 of a validation set is above 0.99
    trainer, _, record, reason = scripted_fit([0.5, 0.75, 0.9921875, 1.0, 1.0, 1.0, 1.0, 1.0],
                                              StopRule(target=0.99, patience=3, min_delta=0.01))
    assert (reason, trainer.global_step) == (STOPPED_AT_TARGET, 15)
    assert record.history == [(5, 0.5), (10, 0.75), (15, 0.9921875)]


def test_a_run_stops_after_patience_validations_without_a_gain_above_min_delta():
    # 0.625 at step 10 is the rule's best; +0.004 and +0.008 are below min_delta, 0.25 a drop
    script = [0.5, 0.625, 0.62890625, 0.6328125, 0.25, 0.875, 0.875, 0.875]
    trainer, module, record, reason = scripted_fit(script, StopRule(target=0.99, patience=3, min_delta=0.01))
    assert (reason, trainer.global_step) == (STOPPED_ON_PLATEAU, 25)
    # the weights kept are those of the best validation (0.633 at step 20), not the last
    model = nn.Linear(2, 1)
    assert record.restore_best(model) == 20
    assert all(torch.equal(model.state_dict()[k], v) for k, v in module.weights_at[20].items())
    assert not torch.equal(module.weights_at[25]["weight"], module.weights_at[20]["weight"])


def test_without_the_rule_firing_a_run_trains_to_the_cap_and_ties_keep_the_earliest():
    trainer, _, record, reason = scripted_fit([0.5, 0.75, 0.75, 0.75], StopRule(target=0.99, patience=5),
                                              max_steps=20)
    assert (reason, trainer.global_step) == (STOPPED_AT_CAP, 20)
    assert record.best_step == 10
    _, _, _, reason = scripted_fit([0.5, 0.75, 0.75, 0.75], None, max_steps=20)
    assert reason == STOPPED_AT_CAP


def fit_weights(params, variant: str, every: int) -> dict[str, torch.Tensor]:
    """The weights after params.train.max_steps real training steps of `variant` on copy,
    validating every `every` steps (keep: last, no stopping rule)."""
    task_params = params.model_copy(update={"train": params.train.model_copy(
        update={"val_every_n_steps": every, "stop": None, "keep": "last"})})
    splits, vocab = draw_splits("copy", task_params.data)
    with quiet_lightning():
        model = fit_to_rule(task_params, variant, 0, splits["train"], splits["val"], vocab, variant).model
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("variant", ["hard", "bahdanau"])
def test_how_often_validation_runs_changes_no_training_byte(params, variant, tmp_path, monkeypatch):
    """hard draws its samples from torch's global generator: a validation that drew from it
    too (a DataLoader without a generator of its own does, for its base seed) shifted them."""
    monkeypatch.chdir(tmp_path)
    params = params.model_copy(update={"train": params.train.model_copy(update={"max_steps": 12})})
    often, rarely = fit_weights(params, variant, every=2), fit_weights(params, variant, every=12)
    assert often.keys() == rarely.keys()
    moved = [k for k in often if not torch.equal(often[k], rarely[k])]
    assert not moved, f"validating every 2 instead of 12 steps moved {moved}"
