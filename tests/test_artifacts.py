import pytest
import torch

from attnbench.errors import DataFileError
from attnbench.tracking.artifacts import load_weights, save_weights, write_json


def test_weights_bytes_do_not_depend_on_the_path(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.LSTM(4, 8)
    md5_a = save_weights(model, tmp_path / "a" / "seed0.pt")
    md5_b = save_weights(model, tmp_path / "other_name.pt")
    assert md5_a == md5_b
    assert (tmp_path / "a" / "seed0.pt").read_bytes() == (tmp_path / "other_name.pt").read_bytes()


def test_weights_roundtrip_and_md5(tmp_path):
    torch.manual_seed(0)
    model, fresh = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    md5 = save_weights(model, tmp_path / "w.pt")
    assert load_weights(fresh, tmp_path / "w.pt") == md5
    torch.testing.assert_close(fresh.weight, model.weight)


@pytest.mark.parametrize("content", [b"", b"not a zip file", None])
def test_bad_weights_file_names_the_file(tmp_path, content):
    path = tmp_path / "seed0.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataFileError, match="seed0.pt"):
        load_weights(torch.nn.Linear(3, 2), path)


@pytest.mark.parametrize("keep", [0.001, 0.1, 0.5, 0.9, 0.999])
def test_a_truncated_weights_file_names_the_file(tmp_path, keep):
    torch.manual_seed(0)
    model = torch.nn.LSTM(4, 8)
    save_weights(model, tmp_path / "whole.pt")
    whole = (tmp_path / "whole.pt").read_bytes()
    (tmp_path / "seed0.pt").write_bytes(whole[: max(1, int(len(whole) * keep))])
    with pytest.raises(DataFileError, match="seed0.pt: corrupt or incompatible weights file"):
        load_weights(torch.nn.LSTM(4, 8), tmp_path / "seed0.pt")


def test_weights_of_another_architecture_are_refused(tmp_path):
    save_weights(torch.nn.Linear(3, 2), tmp_path / "w.pt")
    with pytest.raises(DataFileError, match="incompatible"):
        load_weights(torch.nn.Linear(4, 2), tmp_path / "w.pt")


def test_json_is_sorted_and_rounded(tmp_path):
    write_json(tmp_path / "x.json", {"b": 1 / 3, "a": [2 / 3]})
    assert (tmp_path / "x.json").read_text() == '{\n "a": [\n  0.666667\n ],\n "b": 0.333333\n}\n'


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    import pytest

    from attnbench.tracking.artifacts import prune, replacing, write_json

    path = tmp_path / "out" / "a.json"
    write_json(path, {"x": 1})
    before = path.read_bytes()
    with pytest.raises(RuntimeError), replacing(path) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]
    write_json(path.parent / "b.json", {"y": 2})
    prune(path.parent, [path])
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]
