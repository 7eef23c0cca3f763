"""The LightningDataModule over one task's prepared files."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from attnbench.data import collate, read_examples, split_path
from attnbench.tasks import Example


class SeqDataModule(pl.LightningDataModule):
    """Reads the prepared files once; shuffling draws from its own seeded generator."""

    def __init__(self, data_dir: str | Path, batch_size: int, seed: int):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.seed = seed
        self.splits: dict[str, list[Example]] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "val"):
            if split not in self.splits:
                self.splits[split] = read_examples(split_path(self.data_dir, split))

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.splits["train"],
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            collate_fn=collate,
            generator=generator,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["val"], batch_size=256, collate_fn=collate)
