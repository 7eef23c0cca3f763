import hashlib

import pytest
import torch

from attnbench.data.datamodule import SeqDataModule
from attnbench.data.files import collate, read_examples, read_split, write_examples
from attnbench.data.tasks import EOS, PAD, SOS, generate_splits, make_example
from attnbench.errors import DataFileError
from attnbench.paths import split_file


def test_roundtrip(tmp_path):
    examples = generate_splits("reverse", 6, (3, 5), 7, 50, 10, 4, seed=1)["test"]
    write_examples(tmp_path / "test.tsv", examples)
    assert read_examples(tmp_path / "test.tsv") == examples


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DataFileError, match=r"train\.tsv: data file not found"):
        read_examples(split_file(tmp_path, "train"))


@pytest.mark.parametrize(
    "content, where",
    [
        ("garbage\n", "expected header"),
        ("split\tsource\ttarget\ntrain\t3 4\t3 x 2\n", "line 2"),
        ("split\tsource\ttarget\ntrain\t3 4\t3 4\n", "line 2"),  # target without EOS
        ("split\tsource\ttarget\ntrain\t3 4\n", "line 2"),  # a column missing
    ],
)
def test_corrupt_file_names_file_and_line(tmp_path, content, where):
    path = tmp_path / "val.tsv"
    path.write_text(content)
    with pytest.raises(DataFileError) as info:
        read_examples(path)
    assert str(path) in str(info.value) and where in str(info.value)


def test_collate_pads_and_shifts():
    batch = collate([make_example("copy", "train", (3, 4, 5)), make_example("reverse", "train", (6,))])
    assert batch.src.tolist() == [[3, 4, 5], [6, PAD, PAD]]
    assert batch.tgt_out.tolist() == [[3, 4, 5, EOS], [6, EOS, PAD, PAD]]
    assert batch.tgt_in.tolist() == [[SOS, 3, 4, 5], [SOS, 6, PAD, PAD]]


def test_split_file_round_trip_and_md5_of_its_bytes(tmp_path):
    examples = generate_splits("copy", 6, (3, 5), 6, 16, 2, 1, seed=0)["train"]
    path = split_file(tmp_path, "train")
    write_examples(path, examples)
    read = read_split(path)
    assert read.examples == examples
    assert read.md5 == hashlib.md5(path.read_bytes()).hexdigest()


def test_shuffling_depends_on_the_seed_only():
    splits = generate_splits("copy", 6, (3, 5), 6, 64, 8, 2, seed=0)

    def first_batches(seed):
        dm = SeqDataModule(splits["train"], splits["val"], batch_size=8, seed=seed)
        torch.manual_seed(123 + seed)  # the global RNG must not matter
        return [b.src.tolist() for b in dm.train_dataloader()][:3]

    assert first_batches(0) == first_batches(0)
    assert first_batches(0) != first_batches(1)
