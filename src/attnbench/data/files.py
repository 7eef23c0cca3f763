"""Prepared data files and padding (the LightningDataModule is in datamodule.py).

Each split is a TSV file with the header `split<TAB>source<TAB>target`; sequences are
space-separated token ids. Plain text keeps the files byte-stable and readable. The task's
symbols for those ids sit beside them in vocab.json: {"source": [...], "target": [...]}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from attnbench.data.tasks import EOS, PAD, SOS, Example, Vocabulary
from attnbench.errors import DataFileError
from attnbench.tracking.artifacts import md5_bytes

HEADER = "split\tsource\ttarget"
VOCABULARY = "vocab.json"


def write_vocabulary(folder: Path, vocab: Vocabulary) -> None:
    path = Path(folder) / VOCABULARY
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f' "{side}": {json.dumps(list(symbols))}' for side, symbols in
             (("source", vocab.source), ("target", vocab.target))]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def read_vocabulary(folder: str | Path) -> Vocabulary:
    """The task's symbols; a missing or malformed file is named."""
    path = Path(folder) / VOCABULARY
    try:
        raw = json.loads(path.read_text())
        vocab = Vocabulary(tuple(raw["source"]), tuple(raw["target"]))
    except FileNotFoundError:
        raise DataFileError(f"{path}: vocabulary file not found (run `dvc repro` to prepare the data)") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DataFileError(f"{path}: corrupt vocabulary file ({type(exc).__name__}: {exc})") from None
    if not vocab.source or not vocab.target or not all(
            isinstance(symbol, str) for symbol in (*vocab.source, *vocab.target)):
        raise DataFileError(f"{path}: corrupt vocabulary file (expected two non-empty lists of symbols)")
    return vocab

def write_examples(path: Path, examples: list[Example]) -> None:
    lines = [HEADER]
    for ex in examples:
        lines.append(f"{ex.split}\t{' '.join(map(str, ex.source))}\t{' '.join(map(str, ex.target))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class SplitFile:
    examples: list[Example]
    md5: str  # of the file's bytes: the MLflow tag that ties a run to its data


def read_examples(path: str | Path) -> list[Example]:
    return read_split(path).examples


def read_split(path: str | Path) -> SplitFile:
    """Parse one split file, read once; any problem names the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: data file not found (run `dvc repro` to prepare the data)")
    try:
        raw = path.read_bytes()
        lines = raw.decode().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read data file ({exc})") from None
    if not lines or lines[0] != HEADER:
        raise DataFileError(f"{path}: corrupt data file (expected header {HEADER!r})")
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            split, source, target = line.split("\t")
            example = Example(split, tuple(map(int, source.split())), tuple(map(int, target.split())))
        except ValueError:
            raise DataFileError(f"{path}: corrupt data file at line {number}: {line[:60]!r}") from None
        if not example.source or not example.target or example.target[-1] != EOS:
            raise DataFileError(f"{path}: corrupt data file at line {number}: {line[:60]!r}")
        examples.append(example)
    if not examples:
        raise DataFileError(f"{path}: data file holds no examples")
    return SplitFile(examples, md5_bytes(raw))


def check_ids(path: str | Path, examples: list[Example], vocab: Vocabulary) -> None:
    """Every id of the split is a special token or one of its vocabulary's symbols."""
    top_source = max(max(ex.source) for ex in examples)
    top_target = max(max(ex.target) for ex in examples)
    if top_source >= vocab.source_size or top_target >= vocab.target_size:
        raise DataFileError(f"{path}: token ids beyond its vocabulary (largest source id {top_source}, "
                            f"target id {top_target}; vocab.json has {vocab.source_size} and "
                            f"{vocab.target_size}): data and vocabulary do not match (run `dvc repro`)")


@dataclass
class Batch:
    src: Tensor  # (B, S) source ids, PAD-padded
    tgt_in: Tensor  # (B, T) SOS + target[:-1], decoder input under teacher forcing
    tgt_out: Tensor  # (B, T) target ending in EOS, PAD-padded

    def __len__(self) -> int:
        return self.src.size(0)


def _pad(rows: list[tuple[int, ...]]) -> Tensor:
    out = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate(examples: list[Example]) -> Batch:
    return Batch(
        src=_pad([ex.source for ex in examples]),
        tgt_in=_pad([(SOS,) + ex.target[:-1] for ex in examples]),
        tgt_out=_pad([ex.target for ex in examples]),
    )
