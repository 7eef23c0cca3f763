"""params.yaml survives `dvc exp run -S key=value`, which rewrites it through DVC's YAML
round-trip: the diff must be the one changed line, not a reflowed file."""

from __future__ import annotations

import difflib
import shutil

import pytest
from dvc.utils.serialize import modify_yaml

from conftest import REPO


@pytest.mark.parametrize("path, value", [
    (("train", "max_steps"), 60),
    (("variants", "local_m", "window"), 5),
    (("variants", "hard", "reinforce", "weight"), 0.5),
    (("data", "n_test_per_length"), 200),
])
def test_one_parameter_changes_one_line(tmp_path, path, value):
    copy = tmp_path / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", copy)
    with modify_yaml(copy) as data:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    before, after = (REPO / "params.yaml").read_text().splitlines(), copy.read_text().splitlines()
    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 2, changed


@pytest.mark.parametrize("under_experiment", [False, True])
def test_a_bad_value_from_dvc_exp_run_says_how_to_undo_it(tmp_path, under_experiment):
    """`dvc exp run -S train.lr=abc` writes the value into params.yaml and leaves it there when
    validate refuses it: the one error line then names the way back (only under an experiment,
    DVC_EXP_NAME set, where DVC wrote the file)."""
    import os
    import subprocess
    import sys

    copy = tmp_path / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", copy)
    with modify_yaml(copy) as data:
        data["train"]["lr"] = "abc"
    env = {key: value for key, value in os.environ.items() if key != "DVC_EXP_NAME"}
    if under_experiment:
        env["DVC_EXP_NAME"] = "sunny-ludo"
    done = subprocess.run([sys.executable, "-m", "attnbench.stages", "validate", "--params", str(copy)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    [line] = done.stderr.strip().splitlines()
    assert done.returncode == 1 and line.startswith("error: ") and "train.lr" in line, line
    assert ("`git checkout params.yaml` restores the committed one" in line) == under_experiment, line
