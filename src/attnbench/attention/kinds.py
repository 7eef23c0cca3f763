"""What params.yaml may name as an RNN variant's `attention`, known without importing torch:
each name's mechanism family and where the decoder applies it. config.py validates with
this table; the classes in registry.py carry the same facts as class attributes, and
tests/test_attention.py checks that the two agree."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from attnbench.attention.mechanism import GLOBAL, HARD, LOCAL, Mechanism


class Placement(Enum):
    """Where an RNN decoder applies its attention."""

    BEFORE_STEP = "before_step"  # c_i from s_{i-1}, fed into the RNN step (Bahdanau et al. 2015)
    AFTER_STEP = "after_step"  # c_t from h_t, then h~_t = tanh(W_c [c_t; h_t]) (Luong et al. 2015)


@dataclass(frozen=True)
class Kind:
    mechanism: Mechanism
    placement: Placement


KINDS: dict[str, Kind] = {
    "additive": Kind(GLOBAL, Placement.BEFORE_STEP),
    "dot": Kind(GLOBAL, Placement.AFTER_STEP),
    "general": Kind(GLOBAL, Placement.AFTER_STEP),
    "concat": Kind(GLOBAL, Placement.AFTER_STEP),
    "local_m": Kind(LOCAL, Placement.AFTER_STEP),
    "local_p": Kind(LOCAL, Placement.AFTER_STEP),
    "hard": Kind(HARD, Placement.BEFORE_STEP),
}
