"""attention/dot_product.py, masks.py and window.py: the Transformer's attention, checked
against PyTorch's own kernel and the written-out formula."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from attnbench.attention.dot_product import attend, band_offsets, banded_attention, naive_attention
from attnbench.attention.masks import causal_allow_mask, encoder_allow_mask
from attnbench.attention.window import gather_window, window_slots
from attnbench.models.positions.alibi import ALiBi
from attnbench.models.positions.t5_bias import T5Bias

ATTENTION = Path(__file__).resolve().parents[1] / "src" / "attnbench" / "attention"


def heads(batch=3, heads=4, length=9, dim=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, dim, generator=gen) for _ in range(3)]  # (B, H, S, dh)


def padded_keep(lengths, length):
    return torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]  # (B, S)


@pytest.mark.parametrize("scheme", [None, ALiBi(4), T5Bias(4)], ids=["no bias", "alibi", "t5"])
@pytest.mark.parametrize("window", [0, 1, 3, 12])
def test_banded_attention_equals_the_masked_formula(scheme, window):
    """Gathering the band must give what masking the full score matrix gives, bias included,
    with padded sources (padding queries attend to themselves) and a band wider than S."""
    q, k, v = heads()
    keep = padded_keep([9, 5, 1], 9)
    pos = torch.arange(9)
    full_bias = None if scheme is None else scheme.bias(pos, pos, causal=False)  # (H, S, S)
    band_bias = None if scheme is None else scheme.offset_bias(band_offsets(window), causal=False)  # (H, W)
    expected, _ = naive_attention(q, k, v, encoder_allow_mask(keep, window)[:, None], full_bias)
    torch.testing.assert_close(banded_attention(q, k, v, keep, window, band_bias), expected)


def test_attend_with_a_bias_takes_the_fused_kernel_and_equals_the_formula():
    q, k, v = heads(length=6)
    bias = ALiBi(4).bias(torch.arange(6), torch.arange(6), causal=True)  # (H, T, T)
    allow = causal_allow_mask(6)  # (1, T, T)
    fused, none = attend(q, k, v, allow, bias)
    written, weights = attend(q, k, v, allow, bias, need_weights=True)
    assert none is None and weights.shape == (3, 4, 6, 6)
    torch.testing.assert_close(fused, written)
    assert torch.all(weights.triu(1) == 0), "a causal query put weight on a later key"


def test_window_slots_clamp_the_index_and_mark_what_lies_outside():
    positions, index, inside = window_slots(torch.tensor([-2, 3]), width=4, length=5)
    assert positions.tolist() == [[-2, -1, 0, 1], [3, 4, 5, 6]]
    assert index.tolist() == [[0, 0, 0, 1], [3, 4, 4, 4]]
    assert inside.tolist() == [[False, False, True, True], [True, True, False, False]]


def test_gather_window_takes_the_rows_it_is_given():
    x = torch.arange(2 * 5 * 3).view(2, 5, 3)  # (B, S, F)
    index = torch.tensor([[[4, 0]], [[1, 1]]])  # (B, Tq=1, W=2)
    assert gather_window(x, index).tolist() == [[[x[0, 4].tolist(), x[0, 0].tolist()]],
                                                [[x[1, 1].tolist(), x[1, 1].tolist()]]]


def test_attention_imports_nothing_above_it():
    """attention/ is a bottom layer: position biases come in as tensors, so no module here may
    import models/, tasks or anything but attention/ itself (and torch)."""
    for path in ATTENTION.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("attnbench"):
                    assert name.startswith("attnbench.attention"), f"{path.name} imports {name}"
