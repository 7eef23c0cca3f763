"""Speed benchmarks, measured side by side in one run: `python -m attnbench.bench` (`make bench`).

Sections, one module each (each prints one table and a headline with the measured ratio
against its target):
  1. throughput.py  training step time of every variant at several source lengths (cost.measure)
  2. luong.py       batched Luong decoder vs a step-by-step loop of the same model (>= 3x / >= 8x)
  3. sdpa.py        fused scaled_dot_product_attention vs naive attention, fwd+bwd (>= 2x, L >= 256)
  4. fit_loop.py    Lightning `fit` vs a hand-written PyTorch loop, same arithmetic (<= 1.10x)
  5. pinning.py     pinned numerics vs the host's own kernels, every variant
  6. study.py       the real train stage, serial vs parallel seeds (>= 1.8x), and import shares
  7. decoders.py    the step-wise decoders (bahdanau, hard): cell function vs module call (>= 2x)
  8. ensemble.py    a variant's seeds as one vmapped ensemble vs one by one (kept only if it wins)
  9. kv_cache.py    Transformer greedy decoding with the key/value cache vs recomputing the prefix
 10. windowed.py    the windowed local-attention paths vs the masked ones, one training step
 11. cluster.py     the smoke study on a local Dask cluster vs the local pool: the executor's overhead

Rules: one intra-op thread; compared candidates run alternately (A, B, A, B, ...) after a
warm-up (timing.compare); each is reported as the median and the minimum time per call over
the rounds. Every number printed is measured in this run.
"""

LONG = 256  # source lengths from here on get fewer rounds; section 3's target starts here
