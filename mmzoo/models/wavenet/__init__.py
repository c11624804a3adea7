"""Plugin: `wavenet`, makemore part 5's hierarchical (dilated) MLP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmzoo.hookspecs import hookimpl
from mmzoo.registry import ModelSpec, Recipe


@dataclass(frozen=True)
class WaveNetConfig:
    block_size: int = 8  # characters of context; a power of 2, one level per doubling
    n_embd: int = 24
    n_hidden: int = 192  # wider than the lecture's 128 (the `lecture` preset): 1.98 vs 2.00 val in 6 min
    norm: str = "batch"  # after each hidden Linear: batch, layer, group or none
    norm_groups: int = 4  # groups for norm=group; must divide n_hidden
    init_gain: float = 5 / 3  # Kaiming gain of the hidden Linears: std = gain / sqrt(fan_in)
    last_layer_scale: float = 0.1  # the head's weights x this at init: a first loss near -log(1/V)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="wavenet",
            params=163_683,  # at the default config; tests/test_catalog.py checks it
            family="wavenet",
            summary="hierarchical MLP: pairs of characters fused level by level (makemore part 5)",
            config=WaveNetConfig,
            build="mmzoo.models.wavenet.model:WaveNet",
            presets={
                "lecture": {"n_hidden": 128},  # part 5's 76,579 parameters
                "tiny": {"n_embd": 8, "n_hidden": 16},  # for tests: trains and exports in seconds
            },
            recipe=Recipe(steps=24_000, batch_size=128, lr=3e-3, weight_decay=0.03, eval_every=2000),
        )
    )
