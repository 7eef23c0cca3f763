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
