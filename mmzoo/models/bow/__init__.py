"""Plugin: `bow`, makemore's causal bag of words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmzoo.hookspecs import hookimpl
from mmzoo.lengths import item_length_field
from mmzoo.registry import ModelSpec, Recipe


@dataclass(frozen=True)
class BoWConfig:
    n_embd: int = 64  # token and position embeddings
    n_hidden: int = 256  # the MLP after the average
    block_size: int = item_length_field(32)  # the position table's size: training sets it to the longest item + 1


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="bow",
            params=38_619,  # at the default config; tests/test_catalog.py checks it
            family="bow",
            summary="causal bag of words: each position averages the embeddings so far, then an MLP (makemore)",
            config=BoWConfig,
            build="mmzoo.models.bow.model:BoW",
            presets={"tiny": {"n_embd": 8, "n_hidden": 16}},  # for tests: trains and exports in seconds
            recipe=Recipe(steps=12_000, batch_size=128, lr=3e-3, warmup=200, weight_decay=0.05, eval_every=1000),
        )
    )
