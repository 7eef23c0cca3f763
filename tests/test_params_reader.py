"""The params reader and `validate` refuse, each in one line naming the cause, every value a
later stage would fail on after DVC had removed its outputs (issue 23's fuzz findings)."""

from __future__ import annotations

import os

import pytest

from attnbench.config import PARAMS_MAX_BYTES, load_params
from attnbench.errors import ConfigError
from conftest import REPO

STUDY = (REPO / "params.yaml").read_text()


@pytest.mark.parametrize("text, message", [
    (STUDY.replace("  lr: 3.0e-3", "  lr: .inf", 1), "train.lr: Input should be a finite number"),
    (STUDY.replace("  lr: 3.0e-3", "  lr: 1.0e400", 1), "train.lr: Input should be a finite number"),
    (STUDY.replace("seeds: [0, 1, 2]", "seeds: [0, 18446744073709551616]"),
     "study.seeds.1: Input should be less than or equal to 4294967295"),
    (STUDY + "\ntrain:\n  lr: 0.1\n", "key 'train' given twice (first at line"),
    ("a: &x [1, 2]\nb: *x\n", "line 2: YAML aliases (*name) are not allowed"),
])
def test_the_reader_refuses_what_would_fail_later(tmp_path, text, message):
    assert text != STUDY
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_params(path)
    assert len(str(refused.value).splitlines()) == 1 and message in str(refused.value), refused.value


def test_the_reader_refuses_files_that_are_not_a_page_of_yaml(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * PARAMS_MAX_BYTES + "\n")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # would block a plain read forever
    for path, message in ((big, f"more than a params file's {PARAMS_MAX_BYTES}"),
                          (fifo, "not a regular file"), (tmp_path, "not a regular file")):
        with pytest.raises(ConfigError, match=message):
            load_params(path)


def test_validate_draws_the_data_and_asks_for_a_gpu_before_any_stage_runs(raw_params, tmp_path):
    import yaml

    from attnbench.config import parse_params
    from attnbench.stages.validate import check_accelerator, check_data

    raw_params["data"].update(vocab_size=2, train_lengths={"min": 3, "max": 3}, test_max_length=3,
                              n_test_per_length=50)
    raw_params["study"]["tasks"] = ["copy"]
    with pytest.raises(ConfigError, match="data of copy: cannot draw a new sequence of length 3 over 2 symbols"):
        check_data(parse_params(raw_params))
    if not any(os.path.exists(f"/dev/nvidia{i}") for i in range(8)):
        with pytest.raises(ConfigError, match="runtime.accelerator is gpu, but this machine has no CUDA device"):
            check_accelerator("gpu")
    check_accelerator("cpu")
    assert yaml  # the smoke profile parses with the strict reader too
