"""T5's relative position bias, Raffel et al. 2020 §2.1: a learned scalar per head and per
bucket of the offset j - i, added to the scores (shared by all layers of a stack there;
one per scheme instance here). Buckets: half of them (bidirectional: per direction) are
exact offsets 0 .. max_exact-1; the rest grow logarithmically up to max_distance, beyond
which all offsets share the last bucket:

    bucket(n) = n                                                      n < max_exact
              = max_exact + floor(log(n / max_exact) / log(max_distance / max_exact)
                                  * (buckets - max_exact))             capped at buckets - 1

with n = |j - i| (bidirectional: buckets halved, and j > i uses the upper half) or
n = max(i - j, 0) (causal). Defaults as in T5: 32 buckets, max_distance 128.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from attnbench.models.positions import PositionScheme


def relative_buckets(offset: Tensor, causal: bool, buckets: int = 32, max_distance: int = 128) -> Tensor:
    """offset = j - i (key minus query position), any shape -> bucket ids, same shape."""
    bucket = torch.zeros_like(offset)
    if causal:
        n = (-offset).clamp(min=0)
    else:
        buckets //= 2
        bucket = bucket + (offset > 0).long() * buckets
        n = offset.abs()
    max_exact = buckets // 2
    scaled = torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + (scaled * (buckets - max_exact)).long()).clamp(max=buckets - 1)
    return bucket + torch.where(n < max_exact, n, large)


class T5Bias(PositionScheme):
    def __init__(self, heads: int, buckets: int = 32, max_distance: int = 128):
        super().__init__()
        self.buckets, self.max_distance = buckets, max_distance
        self.table = nn.Embedding(buckets, heads)  # b[bucket, h]

    def offset_bias(self, offset: Tensor, causal: bool) -> Tensor:
        ids = relative_buckets(offset, causal, self.buckets, self.max_distance)  # (...) j - i
        return self.table(ids).movedim(-1, 0)  # (H, ...)
