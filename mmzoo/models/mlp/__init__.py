"""Plugin: `mlp` (Bengio 2003, makemore part 2) and `mlp-bn` (part 3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmzoo.hookspecs import hookimpl
from mmzoo.registry import ModelSpec, Recipe


@dataclass(frozen=True)
class MLPConfig:
    block_size: int = 3  # characters of context
    n_embd: int = 10
    n_hidden: int = 200


@dataclass(frozen=True)
class MLPBNConfig:
    # Wider than the lecture's 10/200 (preset "lecture"), which stops near 2.105 val
    # even after 200k steps; this width beats 2.10 in well under 90 s on 2 cores.
    block_size: int = 3
    n_embd: int = 24
    n_hidden: int = 256
    n_layers: int = 1  # Linear -> BatchNorm -> Tanh blocks
    norm: str = "batch"  # after each hidden Linear: batch, layer, group or none
    norm_groups: int = 4  # groups for norm=group; must divide n_hidden
    init_gain: float = 5 / 3  # Kaiming gain of the hidden Linears: std = gain / sqrt(fan_in)
    last_layer_scale: float = 0.1  # the head's weights x this at init: a first loss near -log(1/V)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="mlp",
            params=11_897,  # at the default config; tests/test_catalog.py checks it
            family="mlp",
            summary="Bengio et al. 2003 MLP over the last 3 characters (makemore part 2)",
            config=MLPConfig,
            build="mmzoo.models.mlp.model:MLP",
            recipe=Recipe(steps=30_000, batch_size=256, lr=1e-2, eval_every=3000),
        )
    )
    register(
        ModelSpec(
            name="mlp-bn",
            params=26_531,  # at the default config; tests/test_catalog.py checks it
            family="mlp",
            summary="MLP with BatchNorm and Kaiming init (makemore part 3)",
            config=MLPBNConfig,
            build="mmzoo.models.mlp.model:MLPBN",
            presets={
                "lecture": {"n_embd": 10, "n_hidden": 200},
                "deep": {"n_embd": 10, "n_layers": 5, "n_hidden": 100},  # part 3's 5-layer net
            },
            recipe=Recipe(steps=12_000, batch_size=512, lr=5e-3, eval_every=2000),
        )
    )
