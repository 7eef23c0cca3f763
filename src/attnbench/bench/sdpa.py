"""Section 3: the fused scaled_dot_product_attention against written-out attention."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from attnbench.bench import LONG
from attnbench.bench.table import Report, ms, times, verdict
from attnbench.cost.timing import compare, peak_memory_bytes, ratio

def attention_section(lengths: Sequence[int], rounds: int, min_round_s: float, batch: int = 4,
                      heads: int = 4, head_dim: int = 16, target: float = 2.0) -> Report:
    """Causal self-attention forward + backward, fused kernel vs written-out softmax."""
    from attnbench.attention.dot_product import naive_attention, sdpa_attention
    from attnbench.attention.masks import causal_allow_mask

    rows, judged, misses = [], [], 0
    for length in lengths:
        gen = torch.Generator().manual_seed(length)
        q, k, v = (torch.randn(batch, heads, length, head_dim, generator=gen, requires_grad=True)
                   for _ in range(3))  # (B, H, L, dh) each
        grad_out = torch.randn(batch, heads, length, head_dim, generator=gen)  # (B, H, L, dh)
        allow = causal_allow_mask(length)[:, None]  # (1, 1, L, L)

        def fwd_bwd(attend: Callable[[], Tensor]) -> Callable[[], None]:
            def call() -> None:
                for x in (q, k, v):
                    x.grad = None
                attend().backward(grad_out)

            return call

        candidates = {
            "sdpa": fwd_bwd(lambda: sdpa_attention(q, k, v, allow)),  # (B, H, L, dh)
            "naive": fwd_bwd(lambda: naive_attention(q, k, v, allow)[0]),  # (B, H, L, dh)
        }
        grads = {}
        for name, call in candidates.items():
            call()
            grads[name] = [x.grad.clone() for x in (q, k, v)]
        with torch.no_grad():
            fused, written = sdpa_attention(q, k, v, allow), naive_attention(q, k, v, allow)[0]
        torch.testing.assert_close(fused, written, rtol=1e-4, atol=1e-5)
        for g_fused, g_written in zip(grads["sdpa"], grads["naive"], strict=True):
            torch.testing.assert_close(g_fused, g_written, rtol=1e-4, atol=1e-4)
        max_diff = (fused - written).abs().max().item()

        memory = {name: peak_memory_bytes(call) for name, call in candidates.items()}
        result = compare(candidates, rounds=rounds, warmup=1, min_round_s=min_round_s)
        med, low = ratio(result["naive"], result["sdpa"])
        check = f">= {target:.0f}x {verdict(med, target, at_least=True)}" if length >= LONG else "-"
        if length >= LONG:
            judged.append(f"L={length} {times(med)}")
            misses += med < target
        mem = [f"{memory[n] / 2**20:.1f}" if memory[n] is not None else "n/a" for n in ("sdpa", "naive")]
        rows.append([str(length), ms(result["sdpa"].median), ms(result["sdpa"].min),
                     ms(result["naive"].median), ms(result["naive"].min), times(med), times(low),
                     *mem, f"{max_diff:.1e}", check])
    state = "not judged" if not judged else "MET" if not misses else "NOT MET"
    detail = "; ".join(judged) or "no length >= 256 run"
    return Report(
        title=f"3. SDPA vs naive attention, causal self-attention fwd + bwd "
              f"(B={batch}, heads={heads}, dh={head_dim})",
        headline=f"Naive / SDPA (ratio of medians), target >= {target:.0f}x at L >= {LONG}: {state} ({detail})",
        headers=["L", "sdpa med", "sdpa min", "naive med", "naive min", "speedup med", "speedup min",
                 "sdpa peak MiB", "naive peak MiB", "max |dout|", "target"],
        rows=rows,
        notes=["Times in ms per call. Outputs and input gradients checked allclose before timing.",
               "Peak MiB: most memory the torch CPU allocator held above its starting level during one "
               "fwd + bwd call (torch.profiler allocation events, summed in time order); includes the "
               "three input gradients (3 x B*H*L*dh*4 bytes).",
               "The mask is a boolean (1, 1, L, L) tensor, as the model passes it (not is_causal=True)."],
    )
