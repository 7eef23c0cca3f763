"""Which variants of a study the papers compare, found from their mechanisms (not names).

    fixed context vs attention      (Bahdanau et al. 2015, Fig. 2)
    local vs global, same score     (Luong et al. 2015, Table 1)
    hard vs soft, same score        (Xu et al. 2015)
    restricted vs full self-attention (Vaswani et al. 2017, Table 1)
"""

from __future__ import annotations

from dataclasses import dataclass

from attnbench.attention.mechanism import GLOBAL, HARD, LOCAL, RESTRICTED_SELF, SELF
from attnbench.config import Params, RNNVariant, TransformerVariant


@dataclass(frozen=True)
class Pair:
    kind: str  # "local vs global", "hard vs soft", "restricted vs full"
    variant: str
    reference: str


def _same_recurrent_setup(cfg: RNNVariant, ref: RNNVariant) -> bool:
    return cfg.cell == ref.cell and not ref.input_feeding and ref.mechanism is GLOBAL


def pairs(params: Params) -> list[Pair]:
    configs = {name: params.variants[name] for name in params.study.variants}
    found = []
    for name, cfg in configs.items():
        for other, ref in configs.items():
            if other == name or type(ref) is not type(cfg):
                continue
            if isinstance(cfg, RNNVariant) and _same_recurrent_setup(cfg, ref):
                if cfg.mechanism is LOCAL and ref.attention == cfg.local_score:
                    found.append(Pair("local vs global", name, other))
                # hard attention samples from the soft score it subclasses
                if cfg.mechanism is HARD and ref.attention_class in cfg.attention_class.__bases__:
                    found.append(Pair("hard vs soft", name, other))
            if (isinstance(cfg, TransformerVariant) and cfg.mechanism is RESTRICTED_SELF
                    and ref.mechanism is SELF
                    and (cfg.layers, cfg.heads, cfg.ff_dim, cfg.positions, cfg.encoder)
                    == (ref.layers, ref.heads, ref.ff_dim, ref.positions, ref.encoder)):
                found.append(Pair("restricted vs full", name, other))
    return found
