"""The LightningDataModule over one task's training and validation examples."""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from attnbench.data.files import collate
from attnbench.data.tasks import Example
from attnbench.execution import runtime

VAL_BATCH_SIZE = 256


def train_loader(examples: list[Example], batch_size: int, seed: int) -> DataLoader:
    """Shuffled full batches; the order depends on `seed` alone (its own generator)."""
    return DataLoader(examples, batch_size=batch_size, shuffle=True, drop_last=True,
                      collate_fn=collate, generator=runtime.seeded_generator(seed))


class SeqDataModule(pl.LightningDataModule):
    """Examples already read (the stage reads each file once, before any run starts)."""

    def __init__(self, train: list[Example], val: list[Example], batch_size: int, seed: int):
        super().__init__()
        self.train_examples, self.val_examples = train, val
        self.batch_size = batch_size
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.train_examples, self.batch_size, self.seed)

    def val_dataloader(self) -> DataLoader:
        """In order, with a generator of its own: each iteration draws its base seed from the
        loader's generator (torch's global one if None), so validating would shift the random
        stream training draws from (hard attention's samples)."""
        return DataLoader(self.val_examples, batch_size=VAL_BATCH_SIZE, collate_fn=collate,
                          generator=runtime.seeded_generator(self.seed))
