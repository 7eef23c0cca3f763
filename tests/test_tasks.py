from collections import Counter

import pytest

from attnbench.data.tasks import EOS, FIRST_SYMBOL, TASKS, generate_splits, make_example

SETTINGS = dict(vocab_size=6, train_lengths=(3, 6), test_max_length=9, n_train=300, n_val=40,
                n_test_per_length=10, seed=7)


@pytest.mark.parametrize(
    "task, source, expected",
    [("copy", (3, 4, 5), (3, 4, 5)), ("reverse", (3, 4, 5), (5, 4, 3)), ("reverse", (7,), (7,)),
     ("sort", (5, 3, 9, 3), (3, 3, 5, 9)), ("sort", (4,), (4,))],
)
def test_task_outputs(task, source, expected):
    example = make_example(task, "train", source)
    assert example.target == expected + (EOS,)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_generation_is_deterministic_and_seeded(task):
    first = generate_splits(task, **SETTINGS)
    assert first == generate_splits(task, **SETTINGS)
    assert first != generate_splits(task, **{**SETTINGS, "seed": 8})


@pytest.mark.parametrize("task", sorted(TASKS))
def test_targets_follow_the_task(task):
    for examples in generate_splits(task, **SETTINGS).values():
        for ex in examples:
            assert ex.target == TASKS[task](ex.source) + (EOS,)
            assert all(FIRST_SYMBOL <= tok < FIRST_SYMBOL + 6 for tok in ex.source)


def test_split_lengths_and_labels():
    splits = generate_splits("copy", **SETTINGS)
    assert len(splits["train"]) == 300 and len(splits["val"]) == 40
    assert {ex.length for ex in splits["train"]} == {3, 4, 5, 6}
    counts = Counter(ex.length for ex in splits["test"])
    assert counts == {n: 10 for n in range(3, 10)}
    for ex in splits["test"]:
        assert ex.split == ("in_distribution" if ex.length <= 6 else "extrapolation")


def test_no_sequence_shared_between_splits():
    splits = generate_splits("reverse", **SETTINGS)
    train = {ex.source for ex in splits["train"]}
    held_out = [ex.source for ex in splits["val"] + splits["test"]]
    assert len(held_out) == len(set(held_out))
    assert not train & set(held_out)


def test_too_few_distinct_sequences_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot draw a new sequence of length 1"):
        generate_splits("copy", **{**SETTINGS, "train_lengths": (1, 2), "vocab_size": 2})
