"""Sizes the machine cannot hold or finish are refused before any work, with the estimate."""

import pytest

from attnbench.config import load_params, parse_params
from attnbench.cost.curves import build_variant
from attnbench.errors import ConfigError
from attnbench.platform.limits import check_fits, parameter_count
from conftest import REPO, smoke_raw


@pytest.mark.parametrize("name", list(load_params(REPO / "params.yaml").study.variants))
def test_the_parameter_estimate_is_a_close_lower_bound(name):
    params = load_params(REPO / "params.yaml")
    actual = sum(p.numel() for p in build_variant(params, name).parameters())
    assert 0.6 * actual <= parameter_count(params, name) <= actual


def test_the_default_study_and_the_smoke_profile_fit():
    check_fits(load_params(REPO / "params.yaml"))
    check_fits(parse_params(smoke_raw()))


@pytest.mark.parametrize(("section", "key", "value", "says"), [
    ("model", "hidden_dim", 10**9, "GiB of memory"),
    ("data", "n_test_per_length", 10**9, "GiB"),
    ("train", "max_steps", 10**12, "days on this machine"),
])
def test_impossible_sizes_are_refused_with_the_estimate(section, key, value, says):
    raw = smoke_raw()
    raw[section][key] = value
    with pytest.raises(ConfigError, match=says) as error:
        check_fits(parse_params(raw))
    assert len(str(error.value).splitlines()) == 1
