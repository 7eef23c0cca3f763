"""Which variants of a study the papers compare, found from their configs (not names).

    fixed context vs attention      (Bahdanau et al. 2015, Fig. 2)
    local vs global, same score     (Luong et al. 2015, Table 1)
    hard vs soft, same score        (Xu et al. 2015)
    restricted vs full self-attention (Vaswani et al. 2017, Table 1)
"""

from __future__ import annotations

from dataclasses import dataclass

from attnbench.config import Params, RNNVariant, TransformerVariant


@dataclass(frozen=True)
class Pair:
    kind: str  # "local vs global", "hard vs soft", "restricted vs full"
    variant: str
    reference: str


def pairs(params: Params) -> list[Pair]:
    names = params.study.variants
    configs = {name: params.variants[name] for name in names}
    found = []
    for name, cfg in configs.items():
        for other, ref in configs.items():
            if other == name or type(ref) is not type(cfg):
                continue
            if isinstance(cfg, RNNVariant) and cfg.cell == ref.cell and not ref.input_feeding:
                if cfg.attention in ("local_m", "local_p") and ref.attention == (cfg.score or "general"):
                    found.append(Pair("local vs global", name, other))
                if cfg.attention == "hard" and ref.attention == "additive":
                    found.append(Pair("hard vs soft", name, other))
            if (isinstance(cfg, TransformerVariant) and cfg.window is not None and ref.window is None
                    and (cfg.layers, cfg.heads, cfg.ff_dim) == (ref.layers, ref.heads, ref.ff_dim)):
                found.append(Pair("restricted vs full", name, other))
    return found
