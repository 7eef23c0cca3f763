"""The cost pipeline's slope fit and mechanism table, and the report's figure writers."""

from __future__ import annotations

import numpy as np
import pytest

from attnbench.config import load_params
from attnbench.cost.curves import build_variant, loglog_slope
from attnbench.report import figures, heatmaps
from conftest import REPO, curves_of


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
        "transformer_causal": "self-attention", "transformer_t5": "self-attention",
    }
    names = params.study.variants
    assert {name: params.variants[name].mechanism.family for name in names} == by_hand
    assert {name: build_variant(params, name).mechanism.family for name in names} == by_hand


def fake_curves():
    rows = [{"task": "copy", "variant": v, "seed": s, "length": n,
             "split": "in_distribution" if n <= 5 else "extrapolation", "n": 100,
             "seq_acc": max(0.0, 1 - 0.1 * n - 0.05 * s), "tok_acc": 1.0, "per": 0.1 * n}
            for v in ("lstm", "bahdanau") for s in (0, 1, 2) for n in range(3, 8)]
    return curves_of(rows)


def test_accuracy_figure_is_a_byte_stable_png_without_a_version_stamp(tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        figures.accuracy_by_length(fake_curves(), ["copy"], {"a": ["lstm"], "b": ["bahdanau"]}, {"copy": 5}, path)
    first, second = (p.read_bytes() for p in paths)
    assert first.startswith(b"\x89PNG") and first == second
    assert b"Software" not in first and b"Matplotlib" not in first


def test_accuracy_figure_panels_hold_at_most_five_variants_each_in_its_own_colour(params, monkeypatch):
    """The study's 16 variants as small multiples by family: no panel over 5 lines, the
    colours distinct within a panel, and a variant's style the same in every panel."""
    from attnbench.config import load_params
    from conftest import REPO

    study = load_params(REPO / "params.yaml")
    groups = figures.variant_groups({v: study.variants[v] for v in study.study.variants})
    assert list(groups) == ["fixed context vector", "RNN, global attention", "RNN, local and hard attention",
                            "Transformers, bidirectional encoder",
                            "Transformers, causal encoder"]
    assert sorted(v for members in groups.values() for v in members) == sorted(study.study.variants)
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path: drawn.append(fig))
    curves = {(task, v): fake_curves()[("copy", "lstm")] for task in ("copy", "g2p") for v in study.study.variants}
    figures.accuracy_by_length(curves, ["copy", "g2p"], groups, {"copy": 5, "g2p": 5}, None)
    [fig] = drawn
    styles = {}
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if line.get_label() in study.study.variants]
        assert 1 <= len(lines) <= 5
        edges = [line for line in ax.get_lines() if line.get_linestyle() == ":" and line.get_color() == "grey"]
        assert len(edges) == 1, "one dotted line at the longest training length, however many variants"
        colours = [line.get_color() for line in lines]
        assert len(set(map(str, colours))) == len(colours)
        for line in lines:
            style = (str(line.get_color()), str(line.get_linestyle()))
            assert styles.setdefault(line.get_label(), style) == style
    assert len(styles) == len(study.study.variants)
    figures.plt.close(fig)


def test_heatmap_shows_the_weights_and_says_whether_the_output_is_right(tmp_path):
    weights = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.4]]
    example = {"source": [3, 4, 5], "target": [3, 4, 5, 2], "prediction": [3, 4, 5, 2], "weights": weights,
               "source_symbols": ["c", "a", "t"], "target_symbols": ["K", "AE", "T", "</s>"],
               "prediction_symbols": ["K", "AE", "T", "</s>"]}
    fig, ax = figures.plt.subplots()
    image = heatmaps.heatmap(ax, example, "copy: bahdanau")
    assert np.array_equal(np.asarray(image.get_array()), np.array(weights))
    assert [label.get_text() for label in ax.get_xticklabels()] == ["c", "a", "t"]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["K", "AE", "T", "</s>"]
    assert ax.get_title() == "copy: bahdanau (correct)"
    heatmaps.heatmap(ax, {**example, "prediction": [3, 5, 4, 2]}, "copy: hard")
    assert ax.get_title() == "copy: hard (wrong)"
    figures.plt.close(fig)
    path = tmp_path / "heatmaps.png"
    heatmaps.attention_heatmaps({"bahdanau": example, "hard": example}, "copy", path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_measure_stops_a_variant_at_its_max_length_and_times_encoders_alone(params):
    from attnbench.cost.curves import ENCODER, measure, summarise

    measured = measure(params, ["lstm", "transformer_local"], [4, 8, 16, 32], batch_size=2, rounds=1,
                       max_length={"lstm": 16}, encoder_only=["transformer_local"])
    assert list(measured) == ["lstm", "transformer_local", "transformer_local" + ENCODER]
    assert [r["length"] for r in measured["lstm"]] == [4, 8, 16]
    assert [r["length"] for r in measured["transformer_local" + ENCODER]] == [4, 8, 16, 32]
    params = params.model_copy(update={"cost": params.cost.model_copy(update={"fit_from_length": 16})})
    summary = {s["variant"]: s for s in summarise(params, measured)}
    assert summary["lstm"]["fitted_lengths"] == [4, 16]  # short of two lengths >= 16: its three longest
    assert summary["transformer_local"]["fitted_lengths"] == [16, 32]
    encoder = summary["transformer_local" + ENCODER]
    assert (encoder["mechanism"], encoder["expected_exponent"]) == ("restricted self-attention (encoder)", 1)


def test_the_encoder_row_times_backward_through_the_encoder_only(params):
    """The encoder step leaves gradients on the encoder and none on the decoder."""
    from attnbench.cost.curves import encoder_step_call

    step = encoder_step_call(params, "transformer_local", 8, 2)
    model = next(c.cell_contents for c in step.__closure__ if hasattr(c.cell_contents, "encoder_layers"))
    step()
    assert all(p.grad is not None for p in model.encoder_layers.parameters())
    assert all(p.grad is None for p in model.decoder_layers.parameters())


def test_cost_page_marks_unmeasured_lengths_and_the_fitted_range(params):
    from attnbench.report.cost import render

    cost = params.cost.model_copy(update={"lengths": [16, 32, 64], "fit_from_length": 32, "max_length": {"hard": 32}})
    params = params.model_copy(update={"cost": cost})
    rows = lambda lengths: [{"length": n, "step_s": 1e-3 * n, "step_s_min": 1e-3 * n, "peak_bytes": 2**20 * n}
                            for n in lengths]
    measured = {"lstm": rows([16, 32, 64]), "hard": rows([16, 32])}
    summary = [{"variant": "lstm", "mechanism": "recurrent", "complexity": "O(n·d²)", "expected_exponent": 1,
                "fitted_lengths": [32, 64], "time_exponent": 1.0, "memory_exponent": 1.0},
               {"variant": "hard", "mechanism": "hard attention", "complexity": "O(n·m·d)", "expected_exponent": 2,
                "fitted_lengths": [16, 32], "time_exponent": 1.0, "memory_exponent": 1.0}]
    page = render(params, measured, summary)
    assert "| hard | 16.0 | 32.0 | — |" in page
    assert "| hard | hard attention | O(n·m·d) | 2 | 16–32 | 1.00 | 1.00 |" in page
    assert "hard to n=32" in page


@pytest.mark.parametrize("cost, message", [
    ({"max_length": {"nonesuch": 64}}, "cost: unknown variant 'nonesuch'"),
    ({"encoder_only": ["lstm"]}, "cost.encoder_only: lstm is not a Transformer variant"),
    ({"max_length": {"lstm": 8}, "lengths": [4, 16, 32], "fit_from_length": 16},
     "max_length.lstm .8. leaves fewer than two lengths"),
])
def test_cost_settings_naming_what_cannot_be_measured_are_refused(raw_params, cost, message):
    from attnbench.config import parse_params
    from attnbench.errors import ConfigError

    raw_params["cost"] = {**raw_params.get("cost", {}), **cost}
    with pytest.raises(ConfigError, match=message):
        parse_params(raw_params)


def test_the_window_sentence_compares_slopes_over_the_common_fitted_lengths():
    from attnbench.report.cost import window_against_full

    def row(name, mechanism, expected, slope, fitted=(512, 2048)):
        return {"variant": name, "mechanism": mechanism, "expected_exponent": expected,
                "time_exponent": slope, "fitted_lengths": list(fitted)}
    summary = [row("lstm", "recurrent", 1, 1.02), row("local_m", "local attention", 1, 0.99),
               row("transformer", "self-attention", 2, 1.85), row("luong_general", "global attention", 2, 1.42),
               row("hard", "hard attention", 2, 1.9, fitted=(128, 512))]
    assert window_against_full(summary) == [
        "", "Over n = 512–2048, the windowed mechanisms grow as local_m n^0.99; the quadratic ones "
        "measured there as luong_general n^1.42, transformer n^1.85."]
