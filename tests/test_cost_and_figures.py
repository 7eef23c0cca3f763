"""The cost pipeline's slope fit and mechanism table, and the report's figure writers."""

from __future__ import annotations

import numpy as np
import pytest

from attnbench.config import load_params
from attnbench.report import figures
from attnbench.report.stats import curves_from_rows
from attnbench.cost import build_variant, loglog_slope
from conftest import REPO


@pytest.mark.parametrize("exponent", [1.0, 1.5, 2.0])
def test_slope_of_a_power_law_is_its_exponent(exponent):
    lengths = [16, 32, 64, 128, 256]
    assert loglog_slope(lengths, [3e-4 * n**exponent for n in lengths]) == pytest.approx(exponent)


def test_slope_matches_numpy_least_squares_on_noisy_data():
    rng = np.random.default_rng(0)
    lengths = [16, 32, 64, 128, 256, 512]
    values = [n**1.3 * float(rng.uniform(0.8, 1.2)) for n in lengths]
    expected = np.polyfit(np.log(lengths), np.log(values), 1)[0]
    assert loglog_slope(lengths, values) == pytest.approx(expected)


def test_every_study_variant_has_its_mechanism_in_config_and_model():
    params = load_params(REPO / "params.yaml")
    by_hand = {
        "rnn": "recurrent", "lstm": "recurrent", "bahdanau": "global attention",
        "luong_dot": "global attention", "luong_general": "global attention",
        "luong_concat": "global attention", "local_m": "local attention",
        "local_p": "local attention", "hard": "hard attention", "transformer": "self-attention",
        "transformer_local": "restricted self-attention", "transformer_nope": "self-attention",
        "transformer_alibi": "self-attention", "transformer_rope": "self-attention",
    }
    names = params.study.variants
    assert {name: params.variants[name].mechanism.family for name in names} == by_hand
    assert {name: build_variant(params, name).mechanism.family for name in names} == by_hand


def fake_curves():
    rows = [{"task": "copy", "variant": v, "seed": s, "length": n,
             "split": "in_distribution" if n <= 5 else "extrapolation", "n": 8,
             "seq_acc": max(0.0, 1 - 0.1 * n - 0.05 * s), "tok_acc": 1.0, "per": 0.1 * n}
            for v in ("lstm", "bahdanau") for s in (0, 1, 2) for n in range(3, 8)]
    return curves_from_rows(rows)


def test_accuracy_figure_is_a_byte_stable_png_without_a_version_stamp(tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        figures.accuracy_by_length(fake_curves(), ["copy"], ["lstm", "bahdanau"], {"copy": 5}, path)
    first, second = (p.read_bytes() for p in paths)
    assert first.startswith(b"\x89PNG") and first == second
    assert b"Software" not in first and b"Matplotlib" not in first


def test_heatmap_shows_the_weights_and_says_whether_the_output_is_right(tmp_path):
    weights = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.4]]
    example = {"source": [3, 4, 5], "target": [3, 4, 5, 2], "prediction": [3, 4, 5, 2], "weights": weights,
               "source_symbols": ["c", "a", "t"], "target_symbols": ["K", "AE", "T", "</s>"],
               "prediction_symbols": ["K", "AE", "T", "</s>"]}
    fig, ax = figures.plt.subplots()
    image = figures.heatmap(ax, example, "copy: bahdanau")
    assert np.array_equal(np.asarray(image.get_array()), np.array(weights))
    assert [label.get_text() for label in ax.get_xticklabels()] == ["c", "a", "t"]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["K", "AE", "T", "</s>"]
    assert ax.get_title() == "copy: bahdanau (correct)"
    figures.heatmap(ax, {**example, "prediction": [3, 5, 4, 2]}, "copy: hard")
    assert ax.get_title() == "copy: hard (wrong)"
    figures.plt.close(fig)
    path = tmp_path / "heatmaps.png"
    figures.attention_heatmaps({"bahdanau": example, "hard": example}, "copy", path)
    assert path.read_bytes().startswith(b"\x89PNG")
